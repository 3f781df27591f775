// The group-commit writer against a fake batch runner that records every batch.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { GroupCommitWriter, WriterOverloadedError, type BatchRunner } from '../../src/ledger/writer.js';

type Cmd = { id: number; fail?: boolean };

/** Answers `id * 10` per command; throws (failing the whole batch) if any command asks to fail. */
class FakeRunner implements BatchRunner<Cmd, number> {
  readonly calls: number[][] = [];

  runBatch(commands: Cmd[]): number[] {
    this.calls.push(commands.map((c) => c.id));
    if (commands.some((c) => c.fail)) throw new Error(`batch of ${commands.map((c) => c.id).join(',')} failed`);
    return commands.map((c) => c.id * 10);
  }

  get sizes(): number[] {
    return this.calls.map((c) => c.length);
  }
}

const cmds = (ids: number[]): Cmd[] => ids.map((id) => ({ id }));

describe('GroupCommitWriter', () => {
  it('puts the commands submitted in one tick into one batch, answered in order to each caller', async () => {
    const runner = new FakeRunner();
    const writer = new GroupCommitWriter(runner);
    const answers = cmds([1, 2, 3, 4, 5]).map((c) => writer.submit(c));
    expect(writer.queueDepth).toBe(5);
    // Nothing runs before the tick ends: the commit is never synchronous with submit.
    expect(runner.calls).toEqual([]);
    expect(await Promise.all(answers)).toEqual([10, 20, 30, 40, 50]);
    expect(runner.calls).toEqual([[1, 2, 3, 4, 5]]);
    expect(writer.stats).toEqual({ batches: 1, commands: 5, largestBatch: 5, refused: 0 });
    expect(writer.queueDepth).toBe(0);
  });

  it('gives each caller its own result even when callers await out of order', async () => {
    const runner = new FakeRunner();
    const writer = new GroupCommitWriter(runner);
    const a = writer.submit({ id: 7 });
    const b = writer.submit({ id: 3 });
    const c = writer.submit({ id: 9 });
    expect(await c).toBe(90);
    expect(await a).toBe(70);
    expect(await b).toBe(30);
    expect(runner.sizes).toEqual([3]);
  });

  it('commands of a later tick go into a later batch', async () => {
    const runner = new FakeRunner();
    const writer = new GroupCommitWriter(runner);
    const first = cmds([1, 2]).map((c) => writer.submit(c));
    await Promise.all(first);
    const second = cmds([3, 4, 5]).map((c) => writer.submit(c));
    expect(await Promise.all(second)).toEqual([30, 40, 50]);
    expect(runner.calls).toEqual([
      [1, 2],
      [3, 4, 5],
    ]);
  });

  it('a runner that throws rejects only that batch; later batches still work', async () => {
    const runner = new FakeRunner();
    const writer = new GroupCommitWriter(runner);
    const bad = [writer.submit({ id: 1 }), writer.submit({ id: 2, fail: true }), writer.submit({ id: 3 })];
    const settled = await Promise.allSettled(bad);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const s of settled) expect((s as PromiseRejectedResult).reason).toEqual(new Error('batch of 1,2,3 failed'));
    // A failed batch is not counted as committed.
    expect(writer.stats.batches).toBe(0);

    const good = cmds([4, 5]).map((c) => writer.submit(c));
    expect(await Promise.all(good)).toEqual([40, 50]);
    expect(runner.calls).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
    expect(writer.stats).toEqual({ batches: 1, commands: 2, largestBatch: 2, refused: 0 });
  });

  it('respects maxBatch, and a failing batch does not fail its neighbours in the queue', async () => {
    const runner = new FakeRunner();
    const writer = new GroupCommitWriter(runner, 3);
    const ids = [1, 2, 3, 4, 5, 6, 7, 8];
    const answers = ids.map((id) => writer.submit({ id, fail: id === 5 }));
    const settled = await Promise.allSettled(answers);
    expect(runner.calls).toEqual([
      [1, 2, 3],
      [4, 5, 6],
      [7, 8],
    ]);
    expect(Math.max(...runner.sizes)).toBeLessThanOrEqual(3);
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : 'rejected'))).toEqual([
      10, 20, 30, 'rejected', 'rejected', 'rejected', 70, 80,
    ]);
    expect(writer.stats).toEqual({ batches: 2, commands: 5, largestBatch: 3, refused: 0 });
  });

  it('a long queue is cut into maxBatch batches, each command answered once', async () => {
    const runner = new FakeRunner();
    const writer = new GroupCommitWriter(runner, 100);
    const ids = Array.from({ length: 1050 }, (_, i) => i + 1);
    const answers = await Promise.all(ids.map((id) => writer.submit({ id })));
    expect(answers).toEqual(ids.map((id) => id * 10));
    expect(runner.sizes).toEqual([...Array.from({ length: 10 }, () => 100), 50]);
    expect(runner.calls.flat()).toEqual(ids);
  });

  it('close() commits what is queued, then refuses new commands', async () => {
    const runner = new FakeRunner();
    const writer = new GroupCommitWriter(runner, 2);
    const answers = cmds([1, 2, 3, 4, 5]).map((c) => writer.submit(c));
    let closed = false;
    const closing = writer.close().then(() => {
      closed = true;
    });
    // A command that arrives while the queue drains is still accepted and committed.
    await nextTurn();
    expect(closed).toBe(false);
    const late = writer.submit({ id: 6 });
    await closing;
    expect(await Promise.all(answers)).toEqual([10, 20, 30, 40, 50]);
    expect(await late).toBe(60);
    expect(runner.calls.flat()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(writer.queueDepth).toBe(0);

    await expect(writer.submit({ id: 7 })).rejects.toThrow('writer closed');
    await nextTurn();
    await nextTurn();
    expect(runner.calls.flat()).not.toContain(7);
  });

  it('close() on an idle writer resolves at once and refuses new commands', async () => {
    const runner = new FakeRunner();
    const writer = new GroupCommitWriter(runner);
    await writer.close();
    await expect(writer.submit({ id: 1 })).rejects.toThrow('writer closed');
    expect(runner.calls).toEqual([]);
  });

  it('with a runner that answers later (another thread), one batch is in flight and what arrives meanwhile forms the next', async () => {
    const seen: number[][] = [];
    let release: (() => void) | null = null;
    const writer = new GroupCommitWriter<Cmd, number>({
      runBatch: (commands) => {
        seen.push(commands.map((c) => c.id));
        return new Promise<number[]>((resolve) => (release = () => resolve(commands.map((c) => c.id * 10))));
      },
    });
    const first = cmds([1, 2]).map((c) => writer.submit(c));
    await nextTurn();
    const second = cmds([3, 4, 5]).map((c) => writer.submit(c));
    await nextTurn();
    expect(seen).toEqual([[1, 2]]); // the second group waits for the first commit
    release!();
    expect(await Promise.all(first)).toEqual([10, 20]);
    await nextTurn();
    expect(seen).toEqual([[1, 2], [3, 4, 5]]);
    release!();
    expect(await Promise.all(second)).toEqual([30, 40, 50]);
    await writer.close();
  });

  it('past maxQueue waiting commands, a new one is refused at once; the queued ones still commit', async () => {
    const runner = new FakeRunner();
    const writer = new GroupCommitWriter(runner, 10, 3);
    const queued = cmds([1, 2, 3]).map((c) => writer.submit(c));
    await expect(writer.submit({ id: 4 })).rejects.toThrow(WriterOverloadedError);
    expect(await Promise.all(queued)).toEqual([10, 20, 30]);
    expect(writer.stats.refused).toBe(1);
    expect(await writer.submit({ id: 5 })).toBe(50);
    await writer.close();
  });

  it('a command that waited longer than maxWaitMs when its batch starts is refused, not booked; the others commit', async () => {
    const seen: number[][] = [];
    let release: (() => void) | null = null;
    const writer = new GroupCommitWriter<Cmd, number>(
      {
        runBatch: (commands) => {
          seen.push(commands.map((c) => c.id));
          return new Promise<number[]>((resolve) => (release = () => resolve(commands.map((c) => c.id * 10))));
        },
      },
      100,
      100,
      20,
    );
    const first = writer.submit({ id: 1 });
    await nextTurn();
    const late = writer.submit({ id: 2 }); // waits behind the first batch...
    await new Promise((r) => setTimeout(r, 40)); // ...longer than maxWaitMs
    release!();
    expect(await first).toBe(10);
    await expect(late).rejects.toThrow(WriterOverloadedError);
    expect(seen).toEqual([[1]]); // the late command never reached the runner
    expect(writer.stats.refused).toBe(1);
    await writer.close();
  });
});
