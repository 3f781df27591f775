import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Set before any module is imported, so the logger is created silent.
    env: { TSERVE_LOG_LEVEL: 'silent' },
  },
});
