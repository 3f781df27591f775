// The terminal simulator against a real switch started in-process (ISO 8583 and HTTP on
// ephemeral ports, a temporary data directory): the single-shot payment with its receipt,
// a decline, a reversal, and a short closed-loop load run that must end with no 96, no
// retransmission mismatch and the ledger's invariants intact. No timing assertions.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import type { RunningServer } from '../../src/server.js';

process.env.TSERVE_LOG_LEVEL = 'silent';

const NOTICE = '301202400000000164';
const POSITIONS = 3000;

let dir: string;
let config: Config;
let server: RunningServer | null = null;
let credentialsFile: string;

beforeAll(async () => {
  // Imported here, after TSERVE_LOG_LEVEL is set, so the logger starts silent.
  const { loadConfig } = await import('../../src/config.js');
  const { startServer } = await import('../../src/server.js');
  dir = mkdtempSync(path.join(os.tmpdir(), 'tserve-sim-'));
  config = loadConfig({
    TSERVE_DATA_DIR: dir,
    TSERVE_HTTP_PORT: '0',
    TSERVE_HTTP_HOST: '127.0.0.1',
    TSERVE_ISO_PORT: '0',
    TSERVE_ISO_HOST: '127.0.0.1',
    TSERVE_SEED_POSITIONS: String(POSITIONS),
    TSERVE_LOG_LEVEL: 'silent',
    TSERVE_RATE_LIMIT_PER_MINUTE: '1000000',
    TSERVE_AUTH_RATE_LIMIT_PER_MINUTE: '1000000',
  });
  const log = console.log;
  console.log = () => undefined; // the "demo network seeded" line
  try {
    server = await startServer(config);
  } finally {
    console.log = log;
  }
  credentialsFile = path.join(dir, 'demo-credentials.json');
});

afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function target() {
  return { host: '127.0.0.1', port: server!.isoPort, credentialsFile, seed: config.seed, timeoutMs: 15_000 };
}

describe('single shot', () => {
  let hint = '';

  it('inquires, pays and prints the receipt with the RRN and the total', async () => {
    const { terminalPay } = await import('../../terminals/simulator/single.js');
    const lines: string[] = [];
    const code = await terminalPay({ ...target(), terminalId: 'T0001', service: 'TARI', identifier: NOTICE, out: (l) => lines.push(l) });
    const out = lines.join('\n');
    expect(code, out).toBe(0);
    expect(out).toContain('Comune di Prato');
    expect(out).toContain('EUR 123,45');
    const rrn = /^ {2}RRN +(\S+)$/m.exec(out)?.[1];
    expect(rrn, out).toMatch(/^\w{12}$/);
    // Once in the outcome, once on the receipt.
    expect(out.split(rrn!).length - 1).toBeGreaterThanOrEqual(2);
    expect(out).toContain('TOTALE');
    expect(out).toMatch(/RICEVUTA DI PAGAMENTO/);
    for (const line of out.slice(out.indexOf('T-SERVE PRATO')).split('\n')) expect([...line].length).toBeLessThanOrEqual(40);
    hint = /tserve terminal reverse (.+)$/m.exec(out)?.[1] ?? '';
    expect(hint).toMatch(/--stan \d{6} --f7 \d{10} --amount 12345/);
  });

  it('declines the same notice a second time with 80 and exits 1', async () => {
    const { terminalPay } = await import('../../terminals/simulator/single.js');
    const lines: string[] = [];
    const code = await terminalPay({ ...target(), terminalId: 'T0002', service: 'TARI', identifier: NOTICE, out: (l) => lines.push(l) });
    expect(code).toBe(1);
    expect(lines.join('\n')).toMatch(/80 notice already paid \(NOTICE_ALREADY_PAID\)/);
  });

  it('reverses the payment with the printed STAN and field 7', async () => {
    const { terminalReverse } = await import('../../terminals/simulator/single.js');
    const m = /--stan (\d{6}) --f7 (\d{10}) --amount (\d+)/.exec(hint)!;
    const lines: string[] = [];
    const code = await terminalReverse({ ...target(), terminalId: 'T0001', stan: m[1]!, f7: m[2]!, amount: Number(m[3]), out: (l) => lines.push(l) });
    expect(code, lines.join('\n')).toBe(0);
  });

  it('inquiry only: a fixed-amount service', async () => {
    const { terminalInquiry } = await import('../../terminals/simulator/single.js');
    const lines: string[] = [];
    const code = await terminalInquiry({ ...target(), terminalId: 'T0003', service: 'CERTIFICATI', identifier: 'RSSMRA80A01G999U', out: (l) => lines.push(l) });
    const out = lines.join('\n');
    // A made-up code: valid or not, the answer is printed and the exit code follows it.
    expect(out).toContain('0100 inquiry');
    expect([0, 1]).toContain(code);
  });
});

describe('load', () => {
  it('20 terminals, closed loop, a few seconds: no 96, no retransmission mismatch, ledger intact', async () => {
    const { runLoad, formatSummary } = await import('../../terminals/simulator/load.js');
    const summary = await runLoad({
      ...target(),
      terminals: 20,
      rate: 0,
      durationSeconds: 5,
      drainSeconds: 10,
      seed: config.seed,
      positions: POSITIONS,
      progress: 'off',
      log: () => undefined,
    });
    const text = formatSummary(summary);
    expect(summary.connections, text).toBe(20);
    expect(summary.count96, text).toBe(0);
    expect(summary.retransmissions.mismatches, text).toBe(0);
    expect(summary.errors.timeouts, text).toBe(0);
    expect(summary.errors.connectionClosed, text).toBe(0);
    expect(summary.errors.badMac, text).toBe(0);
    expect(summary.byCode['00'] ?? 0, text).toBeGreaterThan(0);
    expect(summary.byOperation.payment.answered, text).toBeGreaterThan(0);
    expect(summary.ok, text).toBe(true);
    expect(text).toMatch(/latency: p50 .* p99 .* p99\.9 /);

    await server!.close();
    server = null;
    const { openRuntime } = await import('../../src/bootstrap.js');
    const rt = await openRuntime(config);
    try {
      const report = await rt.store.checkInvariants();
      expect(report.violations).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.checked.payments ?? 0).toBeGreaterThan(0);
    } finally {
      await rt.store.close();
    }
  });
});
