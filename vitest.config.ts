import { defineConfig } from 'vitest/config';

/** The behaviour suites: they run against both stores. */
const BEHAVIOUR = [
  'test/http/**/*.test.ts',
  'test/iso8583-server/**/*.test.ts',
  'test/stream/**/*.test.ts',
  'test/settlement/**/*.test.ts',
  'test/e2e/**/*.test.ts',
  'test/ledger/**/*.test.ts',
  'test/postgres/**/*.test.ts',
  'test/ops/**/*.test.ts',
  'test/network/**/*.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Both cores: vitest's default in run mode is one worker fewer than the CPUs, which
    // on a 2-CPU machine runs the files one at a time with a core idle (CI took 29 min).
    maxWorkers: 2,
    setupFiles: ['test/helpers/setup.ts'],
    // Set before any module is imported, so the logger is created silent.
    env: { TSERVE_LOG_LEVEL: 'silent' },
    projects: [
      { extends: true, test: { name: 'sqlite', include: ['test/**/*.test.ts'], exclude: ['test/postgres/**'] } },
      { extends: true, test: { name: 'postgres', include: BEHAVIOUR, env: { TSERVE_LOG_LEVEL: 'silent', TSERVE_TEST_STORE: 'postgres' } } },
    ],
  },
});
