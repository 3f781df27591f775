// The nightly settlement runs in one instance at a time: two stores on one database,
// the same job started on both at once, run by one; the other skips it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgStore } from '../../src/store/postgres/store.js';
import { createTestDatabase, TEST_STORE } from '../helpers/store.js';

let one: PgStore;
let two: PgStore;

beforeAll(async () => {
  if (TEST_STORE !== 'postgres') return;
  const url = await createTestDatabase();
  one = await PgStore.open(url);
  two = await PgStore.open(url);
});

afterAll(async () => {
  await one?.close();
  await two?.close();
});

describe.skipIf(TEST_STORE !== 'postgres')('jobs run by one instance', () => {
  it('the same job on two instances at once runs once; once done, it can run again', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let running!: () => void;
    const inside = new Promise<void>((r) => (running = r));
    let runs = 0;
    const first = one.exclusively('settlement', async () => {
      runs++;
      running();
      await held;
      return 'one';
    });
    await inside; // the first holds the lock now
    const second = await two.exclusively('settlement', async () => {
      runs++;
      return 'two';
    });
    expect(second).toEqual({ ran: false });
    release();
    expect(await first).toEqual({ ran: true, value: 'one' });
    expect(runs).toBe(1);
    expect(await two.exclusively('settlement', async () => 'two')).toEqual({ ran: true, value: 'two' });
    // Another job is not held up by this one.
    expect(await one.exclusively('other', async () => 1)).toEqual({ ran: true, value: 1 });
  });

  it('a job that throws releases the lock', async () => {
    await expect(one.exclusively('settlement', async () => Promise.reject(new Error('disk full')))).rejects.toThrow('disk full');
    expect(await two.exclusively('settlement', async () => 'ok')).toEqual({ ran: true, value: 'ok' });
  });
});
