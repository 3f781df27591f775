// The network.changed event on the wire: a change through the admin API reaches a
// finance subscriber that asked for that type only, with its counts, and never an
// entity's or a terminal's subscription (its ids are all null: no one's business but
// the circuit's).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, post, startSwitch, terminalToken, terminalsOfDistinctCounters, userToken, type Switch } from './support.js';

let sw: Switch;
beforeAll(async () => {
  sw = await startSwitch();
});
afterAll(async () => {
  await sw?.close();
});

describe('network.changed', () => {
  it('reaches finance with ?type=network.changed, and no entity or terminal', async () => {
    const finance = connect(sw, { token: userToken(sw, 'finance'), query: { type: 'network.changed' } });
    const entity = connect(sw, { token: userToken(sw, 'ente-prato') });
    const [t] = terminalsOfDistinctCounters(sw, 1);
    const terminal = connect(sw, { token: terminalToken(sw, t!.terminalId), query: { scope: 'counter' } });
    for (const c of [finance, entity, terminal]) await c.live;

    const admin = userToken(sw, 'admin');
    const off = await post(sw, admin, '/v1/admin/services/CERTIFICATI/disable', {});
    expect(off.status, JSON.stringify(off.body)).toBe(200);
    const on = await post(sw, admin, '/v1/admin/services/CERTIFICATI/enable', {});
    expect(on.status, JSON.stringify(on.body)).toBe(200);

    await finance.until((ev) => ev.length >= 2, 'two network.changed events');
    await finance.barrier();
    expect(finance.events.map((e) => e.type)).toEqual(['network.changed', 'network.changed']);
    expect(finance.events[0]!.data).toMatchObject({ services: { updated: 1 } });
    for (const c of [entity, terminal]) {
      await c.barrier();
      expect(c.events.filter((e) => e.type === 'network.changed')).toEqual([]);
    }
    await Promise.all([finance, entity, terminal].map((c) => c.close()));
  });
});
