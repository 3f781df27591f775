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
  // pagoPA: the payment path end to end, its outbox's claims and answers on PostgreSQL too.
  // The crash test (the same takeover at start) and the rest of test/pagopa run on SQLite
  // only: CI time (test/pagopa/crash.test.ts passes on PostgreSQL by hand: TSERVE_TEST_STORE=postgres).
  'test/pagopa/pay.test.ts',
];

/**
 * Tests that measure the switch under load ("no 96" for a minute): they run alone, after
 * the rest (`npm test`'s second step sets TSERVE_TEST_ALONE=1), so that another file's
 * CPU on the same two cores does not turn their queueing into refusals.
 */
const ALONE = ['test/e2e/load.test.ts'];
const alone = process.env.TSERVE_TEST_ALONE === '1';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Both cores: vitest's default in run mode is one worker fewer than the CPUs, which
    // on a 2-CPU machine runs the files one at a time with a core idle (CI took 29 min).
    maxWorkers: alone ? 1 : 2,
    setupFiles: ['test/helpers/setup.ts'],
    // Set before any module is imported, so the logger is created silent.
    env: { TSERVE_LOG_LEVEL: 'silent' },
    projects: [
      { extends: true, test: { name: 'sqlite', include: alone ? ALONE : ['test/**/*.test.ts'], exclude: ['test/postgres/**', ...(alone ? [] : ALONE)] } },
      {
        extends: true,
        test: { name: 'postgres', include: alone ? ALONE : BEHAVIOUR, exclude: alone ? [] : ALONE, env: { TSERVE_LOG_LEVEL: 'silent', TSERVE_TEST_STORE: 'postgres' } },
      },
    ],
  },
});
