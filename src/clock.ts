// The switch's clock: every business date and timestamp (bookings, windows, terms,
// sign-on state, audit rows) comes from one injected clock, so tests run the switch
// on any day and at any hour they choose. Only wiring (main, the CLI) picks the wall.
// Token lifetimes are the exception: JWTs are issued and checked on the wall clock by
// jsonwebtoken, since they measure elapsed seconds, not business dates.

/** Milliseconds since the epoch (UTC), as Date.now. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();
