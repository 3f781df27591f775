// The day report of a window read in slices (the SQLite store groups 10,000 payment ids at
// a time): merging the slices' groups gives the groups of the whole, however it was cut.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mergeDayGroups, type DayGroup } from '../../src/store/console-reads.js';

const payment = fc.record({
  serviceCode: fc.constantFrom('TARI', 'IMU', 'MULTE'),
  entityId: fc.constantFrom('PRATO', 'PISA'),
  channel: fc.constantFrom('json' as const, 'iso8583' as const),
  counterKind: fc.constantFrom('tabaccaio', 'agenzia'),
  utcHour: fc.integer({ min: 490_000, max: 490_003 }),
  reversed: fc.boolean(),
  amountCents: fc.integer({ min: 1, max: 10_000_000 }),
  feeCents: fc.integer({ min: 0, max: 500 }),
});
type P = typeof payment extends fc.Arbitrary<infer T> ? T : never;

/** GROUP BY in JS, as the SQL does: one group per key, summed. */
function groupAll(ps: P[]): DayGroup[] {
  return mergeDayGroups(ps.map((p) => ({ ...p, count: 1 })));
}
const sorted = (gs: DayGroup[]) =>
  [...gs].sort((a, b) => JSON.stringify([a.serviceCode, a.entityId, a.channel, a.counterKind, a.utcHour, a.reversed]).localeCompare(JSON.stringify([b.serviceCode, b.entityId, b.channel, b.counterKind, b.utcHour, b.reversed])));

describe('mergeDayGroups', () => {
  it('slices grouped apart and merged equal the whole grouped at once', () => {
    fc.assert(
      fc.property(fc.array(payment, { maxLength: 200 }), fc.integer({ min: 1, max: 50 }), (ps, slice) => {
        const parts: DayGroup[] = [];
        for (let i = 0; i < ps.length; i += slice) parts.push(...groupAll(ps.slice(i, i + slice)));
        const merged = mergeDayGroups(parts);
        expect(sorted(merged)).toEqual(sorted(groupAll(ps)));
        expect(merged.reduce((a, g) => a + g.count, 0)).toBe(ps.length);
        expect(merged.reduce((a, g) => a + g.amountCents, 0)).toBe(ps.reduce((a, p) => a + p.amountCents, 0));
      }),
    );
  });

  it('does not change the groups it is given', () => {
    const g: DayGroup = { serviceCode: 'TARI', entityId: 'PRATO', channel: 'json', counterKind: 'tabaccaio', utcHour: 1, reversed: false, count: 1, amountCents: 100, feeCents: 10 };
    mergeDayGroups([g, { ...g }]);
    expect(g.count).toBe(1);
  });
});
