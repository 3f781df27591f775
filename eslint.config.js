import path from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'data/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Typed linting: every .ts file (vitest.config.ts included) is in tsconfig.json's
    // include, so the project service finds its program there.
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: path.dirname(fileURLToPath(import.meta.url)) },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
      'no-console': 'off',
      // A promise is awaited, handed on, given a .catch, or marked `void` with the reason it may go unwatched.
      '@typescript-eslint/no-floating-promises': 'error',
      // Full strength: Express 5 types its handlers as returning void | Promise<void>, so async handlers pass.
      '@typescript-eslint/no-misused-promises': 'error',
      // A switch over a union names every member, or has a default that handles the rest.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
    },
  },
  {
    // Plain JavaScript (bin/, the worker boot, bench what-ifs, this file) belongs to no
    // TypeScript program: parsed without types, so no typed rules there.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    // The console's front-end: ES modules the browser runs as they are (no bundler).
    files: ['src/console/public/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        ['window', 'document', 'location', 'fetch', 'WebSocket', 'URL', 'URLSearchParams', 'FormData', 'Node', 'HTMLElement', 'setTimeout', 'clearTimeout', 'Intl'].map((g) => [g, 'readonly']),
      ),
    },
  },
);
