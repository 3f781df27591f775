// Control characters in ISO 8583 text (issue 12, finding 6 on the JSON side: a payer
// stored with NUL and ESC). Field 48's TLV values, like every `ans` field, are printable
// ASCII (terminal-protocol.md §1.2): a payer's fiscal code (CF), an identifier or a
// service code with a NUL, ESC, DEL or C1 byte is answered `30` FORMAT, MACed, and
// nothing is booked; the same message without it is.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTlv } from '../../terminals/iso8583/index.js';
import type { IsoTerminal } from '../../terminals/simulator/client.js';
import { paymentCount, setup, txnFields, type Ctx } from './support.js';

const CF = 'RSSMRA85T10A562S';

let ctx: Ctx;
let t: IsoTerminal;

beforeAll(async () => {
  ctx = await setup();
  t = await ctx.signedOn();
});
afterAll(async () => {
  await ctx?.close();
});

/** A MACed 0200 paying a notice with CF in field 48, then `byte` written over the character `at` of the tag's value. */
async function payWith(tag: 'CF' | 'ID' | 'SV', at: number, byte: number) {
  const n = await ctx.notices.take();
  const tlv = formatTlv([
    ['SV', n.service],
    ['ID', n.notice],
    ['CF', CF],
  ]);
  const sent = t.pack('0200', { ...txnFields(t, '500000', n.amount, n), 48: tlv });
  const wire = Buffer.from(sent.packed);
  const valueAt = wire.indexOf(Buffer.from(tlv, 'latin1')) + tlv.indexOf(tag) + 5;
  wire[valueAt + at] = byte;
  const response = await t.sendRaw(wire, sent.stan);
  return { n, response };
}

describe('ISO 8583: control characters in field 48', () => {
  it.each([
    ['NUL in the payer (CF)', 'CF', 15, 0x00],
    ['ESC in the payer (CF)', 'CF', 0, 0x1b],
    ['DEL in the identifier (ID)', 'ID', 3, 0x7f],
    ['a C1 control in the service (SV)', 'SV', 1, 0x85],
    ['a line feed in the identifier (ID)', 'ID', 17, 0x0a],
  ] as const)('%s → 30 FORMAT, MACed, nothing booked', async (_name, tag, at, byte) => {
    const { n, response } = await payWith(tag, at, byte);
    expect(response.code).toBe('30');
    expect(response.tlv.get('ER')).toBe('FORMAT');
    expect(response.macOk).toBe(true);
    expect(await paymentCount(ctx.db, n.optionId)).toBe(0);
  });

  it('the same payment with a clean payer is booked', async () => {
    const n = await ctx.notices.take();
    const sent = t.pack('0200', { ...txnFields(t, '500000', n.amount, n), 48: formatTlv([['SV', n.service], ['ID', n.notice], ['CF', CF]]) });
    const response = await t.sendRaw(sent.packed, sent.stan);
    expect(response.code, response.tlv.get('ER')).toBe('00');
    expect(await paymentCount(ctx.db, n.optionId)).toBe(1);
  });
});
