// Loaded before every test file (vitest setupFiles): the file's PostgreSQL databases go
// when it ends; and what the switch logged at level error during a test that failed is
// printed with the failure (tests run with the log silenced, so a 500's cause would
// otherwise be lost; CI shows only the output).
import { afterAll, afterEach, beforeEach } from 'vitest';
import { logger } from '../../src/log.js';
import { dropTestDatabases } from './store.js';

afterAll(dropTestDatabases, 120_000);

const logged: string[] = [];
const KEEP = 50;
const logError = logger.error.bind(logger);
logger.error = ((...args: unknown[]) => {
  logged.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
  if (logged.length > KEEP) logged.shift();
  return (logError as (...a: unknown[]) => unknown)(...args);
}) as typeof logger.error;

// Kept from the end of one test to the end of the next (a file's beforeAll is included
// with its first test); the failure callbacks run after the afterEach hooks.
beforeEach((ctx) => {
  ctx.onTestFailed(() => {
    if (logged.length > 0) console.error(`the switch logged at level error before this failure:\n  ${logged.join('\n  ')}`);
    logged.length = 0;
  });
});
afterEach((ctx) => {
  if (ctx.task.result?.state !== 'fail') logged.length = 0;
});
