// The "null switch": the wire ceiling of the ISO 8583 channel. The switch's own
// IsoServer (terminals/server.ts) on loopback, with everything behind it stubbed: keys
// come from the demo credentials file (no store), a sign-on gets a real session key
// (wrapped under the terminal's TMK as usual), and every 0200 is answered 00 with a
// canned receipt, never booked. So each request costs what the wire costs: framing,
// decoding, the MAC check, the request hash, encoding and MACing the answer with the
// session key. The same simulator, against it, gives the most the channel could carry
// on this machine if booking cost nothing.
//
//   node --import tsx bench/null-switch.ts --credentials <dataDir>/demo-credentials.json [--port 0]
//
// Prints "null switch: listening on port N" on stdout; runs until SIGTERM/SIGINT.
import { readFileSync } from 'node:fs';
import type { TerminalKey, TerminalKeys } from '../src/auth/terminal-keys.js';
import { nextWorkingDay, romeDate } from '../src/domain/calendar.js';
import type { Payments } from '../src/payments/service.js';
import { IsoServer } from '../terminals/server.js';
import { arg } from './lib/args.js';

const file = arg('credentials');
if (!file) throw new Error('--credentials <demo-credentials.json> is required');
const creds = (JSON.parse(readFileSync(file, 'utf8')) as { terminals: { terminalId: string; counterId: string; tmk: string }[] }).terminals;
const byId = new Map<string, TerminalKey>(creds.map((t) => [t.terminalId, { terminalId: t.terminalId, counterId: t.counterId, tmk: Buffer.from(t.tmk, 'hex') }]));
const keys = { get: async (id: string) => byId.get(id), onForget: () => undefined } as unknown as TerminalKeys;

const settlementDate = nextWorkingDay(romeDate(Date.now()));
const compactDate = settlementDate.replaceAll('-', '');
let n = 0;
let answered = 0;
const payments = {
  checkTerminalAllowed: async () => undefined,
  terminalSession: async () => undefined,
  // A canned approval: what the ISO handler reads from a booked payment's receipt.
  pay: async () => {
    n++;
    answered++;
    return {
      status: 201,
      body: { settlementDate, fee: 100, rrn: String(n).padStart(12, '0'), approvalCode: 'A00000', receiptNumber: `${compactDate}-${String(n).padStart(10, '0')}` },
    };
  },
} as unknown as Payments;

const server = new IsoServer(payments, keys, { host: '127.0.0.1', port: Number(arg('port') ?? 0), maxPendingPerConnection: 64 });
const port = await server.listen();
console.log(`null switch: listening on port ${port} (${byId.size} terminals)`);

const stop = () => {
  process.stderr.write(`null switch: ${answered} payments answered\n`);
  void server.close(1000).then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
