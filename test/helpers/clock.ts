// The clock every test switch runs on unless a test picks another: never the wall's
// date, so the suite passes on any day and at any hour (faketime runs prove it).
import type { Clock } from '../../src/clock.js';
import { romeDate, romeInstant } from '../../src/domain/calendar.js';
import { DEFAULT_TODAY } from '../../fixtures/generator.js';

/** The demo seed's day, a Monday and a working day. */
export const TEST_DAY = DEFAULT_TODAY;
/** 10:00 in Rome on TEST_DAY: far from midnight, from cutoffs and from DST changes. */
export const TEST_START = romeInstant(TEST_DAY, '10:00');

/** A clock that starts at `start` and runs at the wall's pace, so bookings keep their order. */
export function runningClock(start: number = TEST_START): Clock {
  const t0 = performance.now();
  return () => start + Math.floor(performance.now() - t0);
}

/** The default clock of test switches (harness, ISO and stream servers). */
export const testClock: Clock = runningClock();

/** The Rome date of the test clock. */
export const testToday = (): string => romeDate(testClock());
