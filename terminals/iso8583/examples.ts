// Worked examples of the terminal protocol (terminal-protocol.md §1), built with the
// real encoder and keys: every request/response pair a terminal exchanges — sign-on
// with its wrapped session key, echo, inquiry, payment, reversal, reversal advice,
// reconciliation — and a format error. EXAMPLES.md is this module's output, and a test
// keeps the two equal byte for byte. Everything is fixed (keys, IV, times, STANs), so
// the output never changes unless the protocol does.
//
//   node --import tsx terminals/iso8583/examples.ts --write   regenerate EXAMPLES.md
//   node --import tsx terminals/iso8583/examples.ts --check   exit 1 if EXAMPLES.md is stale
//   node --import tsx terminals/iso8583/examples.ts           print to stdout
//
// The responses are built here as the switch builds them (terminals/server.ts: echo
// 3, 4, 7, 11, 41, 42, 49, 70; add 39 and the handler's fields); a server test checks
// that the switch's real answers carry the same fields and tags.
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { computeMac, deriveSignonKey, deriveWrapKey, terminalIdAad, wrapSessionKey } from '../keys.js';
import { decode, macField, macInput, message, partialHeader, responseMti, withMac, type IsoMessage } from './codec.js';
import { IsoError } from './errors.js';
import { frame } from './framing.js';
import { FIELDS, PREFIX_DIGITS, fromWire, toWire, type FieldSpec } from './spec.js';
import { formatTlv, parseTlv, tagFromWire } from './tlv.js';

const bytes = (from: number, count: number): Buffer => Buffer.from(Array.from({ length: count }, (_, i) => from + i));
const hex = (b: Buffer): string => b.toString('hex').toUpperCase();

/** Example keys: never use them for anything but checking an implementation. */
export const EXAMPLE_TMK = bytes(0x00, 32);
export const EXAMPLE_SESSION_KEY = bytes(0x20, 32);
export const EXAMPLE_WRAP_IV = bytes(0x40, 12);
/** Field 41 exactly as sent: the terminal id `T0001`, space-padded to 8 characters. */
export const EXAMPLE_TERMINAL_ID = 'T0001   ';
/** Field 42: the counter `SPORTELLO0001`, space-padded to 15 characters. */
export const EXAMPLE_COUNTER_ID = 'SPORTELLO0001  ';

export type KeyName = 'K_signon' | 'session key';

/** One message as it goes on the wire. `msg` is its decoding (undefined for a malformed one). */
export interface Example {
  mti: string;
  /** Short heading, e.g. `0800 sign-on request`. */
  label: string;
  from: 'terminal' | 'switch';
  note: string;
  key: { name: KeyName; value: Buffer };
  msg: IsoMessage | undefined;
  /** For a malformed message: the fields it carries, as the well-formed message would have them. */
  meant?: IsoMessage;
  packed: Buffer;
}

/** A request and the switch's response to it. */
export interface Exchange {
  title: string;
  intro: string;
  request: Example;
  response: Example;
}

// The field values below are written out as the bytes they are, not built with toWire:
// this page shows vendors the wire, and `meaning` reads every value back through the
// typed layer (fromWire), so the two are checked against each other.
const TARI = { notice: '301202400000000164', amount: '000000012345', fee: 'D00000150' };

/** Every exchange, in the order a terminal's day would have them. Deterministic. */
export function exchanges(): Exchange[] {
  const kSignon = { name: 'K_signon' as const, value: deriveSignonKey(EXAMPLE_TMK) };
  const session = { name: 'session key' as const, value: EXAMPLE_SESSION_KEY };
  const kWrap = deriveWrapKey(EXAMPLE_TMK);
  const f41 = EXAMPLE_TERMINAL_ID;
  const f42 = EXAMPLE_COUNTER_ID;

  const build = (mti: string, label: string, from: Example['from'], note: string, key: Example['key'], fields: Record<number, string>): Example => {
    const packed = withMac(message(mti, fields), key.value);
    return { mti, label, from, note, key, msg: decode(packed), packed };
  };
  /** The switch's answer: the request's echoed fields, then 39 and the handler's fields. */
  const answer = (req: Example, label: string, note: string, key: Example['key'], fields: Record<number, string>): Example => {
    const echoed: Record<number, string> = {};
    for (const n of [3, 4, 7, 11, 41, 42, 49, 70]) {
      const v = req.msg!.fields.get(n);
      if (v !== undefined) echoed[n] = v;
    }
    return build(responseMti(req.mti), label, 'switch', note, key, { ...echoed, ...fields });
  };

  const out: Exchange[] = [];

  // 1. Sign-on.
  const signOn = build('0800', '0800 sign-on request', 'terminal', 'Fields 7, 11, 41, 70 = `001`; field 70 is above 64, so there is a secondary bitmap and the MAC goes in 128, under K_signon.', kSignon, {
    7: '0317083000',
    11: '000001',
    41: f41,
    70: '001',
  });
  const sk = wrapSessionKey(kWrap, f41, EXAMPLE_SESSION_KEY, EXAMPLE_WRAP_IV);
  out.push({
    title: 'Sign-on: 0800/001 → 0810',
    intro:
      'The terminal signs on with a MAC under K_signon; the switch answers under K_signon too, with a new session key in 48 `SK`. From then on every message of the terminal, both ways, is MACed with that session key.',
    request: signOn,
    response: answer(
      signOn,
      '0810 sign-on response',
      'Echoes 7, 11, 41, 70; adds 39 = `00` and 48 `SK`: the session key wrapped under K_wrap (see *Unwrapping SK* below). MAC in 128, under K_signon.',
      kSignon,
      { 39: '00', 48: formatTlv([['SK', sk]]) },
    ),
  });

  // 2. Echo.
  const echo = build('0800', '0800 echo request', 'terminal', 'Field 70 = `301`. After sign-on an echo is MACed with the session key (before it, with K_signon).', session, {
    7: '0317084500',
    11: '000002',
    41: f41,
    70: '301',
  });
  out.push({
    title: 'Echo: 0800/301 → 0810',
    intro: 'Keeps an idle connection alive (the switch closes a connection after 5 minutes without a message).',
    request: echo,
    response: answer(echo, '0810 echo response', 'Echoes 7, 11, 41, 70; adds 39 = `00`. MAC in 128, under the session key.', session, { 39: '00' }),
  });

  // 3. Inquiry.
  const inquiry = build('0100', '0100 inquiry request', 'terminal', 'What is due on TARI notice 301202400000000164. Field 4 may be zeros. No field above 64: no secondary bitmap, MAC in 64.', session, {
    3: '300000',
    4: '000000000000',
    7: '0317093500',
    11: '000003',
    12: '103500',
    13: '0317',
    41: f41,
    42: f42,
    48: formatTlv([
      ['SV', 'TARI'],
      ['ID', TARI.notice],
    ]),
    49: '978',
  });
  out.push({
    title: 'Payment inquiry: 0100 → 0110',
    intro: 'Nothing is booked. The answer gives the amount due (without the fee) in 4, the fee in 28, and what the notice is in 48.',
    request: inquiry,
    response: answer(inquiry, '0110 inquiry response', 'Field 4 = the amount due, 28 = the fee; 48 `EN`, `DS`, `DD`, `AD`.', session, {
      4: TARI.amount,
      28: TARI.fee,
      39: '00',
      48: formatTlv([
        ['EN', 'Comune di Esempio'],
        ['DS', 'TARI 2024 - rata unica'],
        ['DD', '20260331'],
        ['AD', '12345'],
      ]),
    }),
  });

  // 4. Payment.
  const payment = build('0200', '0200 payment request', 'terminal', '€123.45 of TARI plus the €1.50 fee the terminal showed (28, optional). MAC in 64.', session, {
    3: '500000',
    4: TARI.amount,
    7: '0317093512',
    11: '000004',
    12: '103512',
    13: '0317',
    28: TARI.fee,
    41: f41,
    42: f42,
    48: formatTlv([
      ['SV', 'TARI'],
      ['ID', TARI.notice],
    ]),
    49: '978',
  });
  out.push({
    title: 'Bill payment: 0200 → 0210',
    intro:
      'Booked before the 0210 goes out. A retransmission (same 11 and 7, same content) gets the same 0210 again, with the same 37 and 38, and books nothing.',
    request: payment,
    response: answer(payment, '0210 payment response', 'Adds 15 (the business day it settles in), 28 (the fee applied), 37 (RRN), 38 (approval code), 39 and 48 `RN` (receipt number).', session, {
      15: '0317',
      28: TARI.fee,
      37: '000000000042',
      38: 'K7Q2ZD',
      39: '00',
      48: formatTlv([['RN', '20260317-0000000042']]),
    }),
  });

  // 5. Reversal.
  const reversal = build('0400', '0400 reversal request', 'terminal', 'Field 90 names the original: MTI `0200`, its STAN `000004`, its field 7 `0317093512`, then 22 zeros. Field 90 is above 64: MAC in 128.', session, {
    3: '500000',
    4: TARI.amount,
    7: '0317094010',
    11: '000005',
    41: f41,
    42: f42,
    49: '978',
    90: '0200' + '000004' + '0317093512' + '0'.repeat(22),
  });
  out.push({
    title: 'Reversal: 0400 → 0410',
    intro: 'Cancels the payment above (same terminal, same amount), until its settlement window closes.',
    request: reversal,
    response: answer(
      reversal,
      '0410 reversal response',
      'Echoes 3, 4, 7, 11, 41, 42, 49 (not 90); adds 39. With no field above 64 left, the MAC goes in 64.',
      session,
      { 39: '00' },
    ),
  });

  // 6. Reversal advice.
  const advice = build(
    '0420',
    '0420 reversal advice',
    'terminal',
    'The terminal sent a 0200 for €80.00 (STAN `000006`, field 7 `0317100000`) and got no answer in time: it reverses it. A repeat of the advice is MTI `0421`, same fields.',
    session,
    {
      3: '500000',
      4: '000000008000',
      7: '0317100130',
      11: '000007',
      41: f41,
      42: f42,
      49: '978',
      90: '0200' + '000006' + '0317100000' + '0'.repeat(22),
    },
  );
  out.push({
    title: 'Reversal advice: 0420 → 0430',
    intro:
      'Here the 0200 never reached the switch: the advice is answered `00` and remembered, and if that 0200 arrives later it is declined with `12` / `ALREADY_REVERSED`. Had it been booked, it would be reversed as by a 0400.',
    request: advice,
    response: answer(advice, '0430 reversal advice response', 'Echoes 3, 4, 7, 11, 41, 42, 49; adds 39. MAC in 64.', session, { 39: '00' }),
  });

  // 7. Reconciliation.
  const totals = '0000000001' + '0000000000012345' + '0000000001' + '0000000000012345';
  const recon = build(
    '0500',
    '0500 reconciliation request',
    'terminal',
    'The terminal\'s totals for the business day in 13: one payment of €123.45 (74, 86), one reversal of €123.45 (75, 87). MAC in 128.',
    session,
    {
      7: '0317170000',
      11: '000008',
      13: '0317',
      41: f41,
      42: f42,
      74: '0000000001',
      75: '0000000001',
      86: '0000000000012345',
      87: '0000000000012345',
    },
  );
  out.push({
    title: 'Reconciliation: 0500 → 0510',
    intro: 'In balance: `00`. Out of balance it would be `95` / `OUT_OF_BALANCE`. Either way 48 `ST` gives the switch\'s totals.',
    request: recon,
    response: answer(
      recon,
      '0510 reconciliation response',
      'Echoes 7, 11, 41, 42; adds 39 and 48 `ST` = payments (10 digits) + their amount (16) + reversals (10) + their amount (16). MAC in 64.',
      session,
      { 39: '00', 48: formatTlv([['ST', totals]]) },
    ),
  });

  // 8. A format error: the bitmap in lowercase hex.
  const good = withMac(
    message('0200', {
      ...Object.fromEntries(payment.msg!.fields),
      7: '0317110000',
      11: '000009',
      12: '120000',
    }),
    session.value,
  ).toString('latin1');
  const lowered = Buffer.from(good.slice(0, 4) + good.slice(4, 20).toLowerCase() + good.slice(20, -16), 'latin1');
  const malformed = Buffer.concat([lowered, Buffer.from(computeMac(session.value, lowered), 'latin1')]);
  const bad: Example = {
    mti: '0200',
    label: '0200 with a lowercase bitmap',
    from: 'terminal',
    note: `A 0200 whose primary bitmap is written \`${malformed.toString('latin1', 4, 20)}\` instead of \`${good.slice(4, 20)}\`. Its MAC is right for these bytes, but the message does not parse: bitmaps (and the MAC) are 16 *uppercase* hex characters.`,
    key: session,
    msg: undefined,
    meant: decode(Buffer.from(good.slice(0, 20) + malformed.toString('latin1', 20), 'latin1')),
    packed: malformed,
  };
  const h = partialHeader(malformed);
  out.push({
    title: 'A format error: 0200 → 0210 with 39 = 30',
    intro:
      'A frame that does not parse gets `30` / `FORMAT` when its MTI, field 11 and field 41 can be read (and the terminal is known); otherwise the connection is closed. It is never processed. The answer carries only 11 and 41, the fields the switch could read.',
    request: bad,
    response: build('0210', '0210 format error response', 'switch', 'Fields 11 and 41 as the terminal sent them; 39 = `30`; 48 `ER` = `FORMAT`. MAC in 64, under the session key.', session, {
      11: h.stan!,
      39: '30',
      41: h.terminalId!,
      48: formatTlv([['ER', 'FORMAT']]),
    }),
  });
  return out;
}

// ---------------------------------------------------------------------------------
// Rendering

/** Classic hex dump: offset, 16 bytes in hex, ASCII with `.` for the non-printable. */
export function hexDump(buf: Buffer): string {
  const lines: string[] = [];
  for (let off = 0; off < buf.length; off += 16) {
    const row = buf.subarray(off, off + 16);
    const h = [...row].map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b <= 0x7e ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${off.toString(16).toUpperCase().padStart(4, '0')}  ${h.padEnd(47)}  |${ascii}|`);
  }
  return lines.join('\n');
}

const visible = (s: string): string => s.replace(/ /g, '␠');
const code = (s: string): string => `\`${visible(s)}\``;
const euro = (cents: number): string => `€${(cents / 100).toFixed(2)}`;
const two = (n: number): string => String(n).padStart(2, '0');

function formatOf(spec: FieldSpec): string {
  if (spec.prefix === 'FIXED') return `${spec.format} ${spec.length}`;
  return `${spec.prefix} ${spec.format} ..${spec.length}`;
}

const RESPONSE_CODES: Record<string, string> = { '00': 'approved', '30': 'format error' };
const NETWORK_CODES: Record<string, string> = { '001': 'sign-on', '002': 'sign-off', '301': 'echo' };

/** A field 48 element's value, for the table. */
function tlvMeaning(tag: string, v: string): string {
  if (tag === 'SK') return 'the wrapped session key (see *Unwrapping SK*)';
  if (tag === 'ST') {
    // The four parts are written as fields 74, 86, 75 and 87 are.
    const t = tagFromWire('ST', v);
    const [n, a, rn, ra] = [toWire(74, t.count), toWire(86, t.amountCents), toWire(75, t.reversalCount), toWire(87, t.reversalAmountCents)];
    return `${code(n)} ${code(a)} ${code(rn)} ${code(ra)}: ${t.count} payments, ${euro(t.amountCents)}; ${t.reversalCount} reversals, ${euro(t.reversalAmountCents)}`;
  }
  return code(v);
}

/** What a field's value means, for the table. */
function meaning(n: number, value: string): string {
  switch (n) {
    case 3:
      return value === '300000' ? 'payment inquiry' : value === '500000' ? 'bill payment' : '';
    case 4:
      return euro(fromWire(4, value));
    case 7: {
      const t = fromWire(7, value);
      return `${two(t.month)}-${two(t.day)} ${two(t.hour)}:${two(t.minute)}:${two(t.second)} UTC`;
    }
    case 12: {
      const t = fromWire(12, value);
      return `${two(t.hour)}:${two(t.minute)}:${two(t.second)} Europe/Rome`;
    }
    case 13:
    case 15: {
      const d = fromWire(n, value);
      return `${two(d.month)}-${two(d.day)}`;
    }
    case 28:
      return `fee ${euro(fromWire(28, value))}`;
    case 39:
      return RESPONSE_CODES[value] ?? '';
    case 41:
      return `terminal ${code(value.trimEnd())}, space-padded to 8`;
    case 42:
      return `counter ${code(value.trimEnd())}, space-padded to 15`;
    case 48:
      return [...parseTlv(value)].map(([tag, v]) => `${tag} ${String(v.length).padStart(3, '0')} ${tlvMeaning(tag, v)}`).join('<br>');
    case 49:
      return 'EUR';
    case 70:
      return NETWORK_CODES[value] ?? '';
    case 74:
    case 75:
      return String(fromWire(n, value));
    case 86:
    case 87:
      return euro(fromWire(n, value));
    case 90: {
      const o = fromWire(90, value);
      return `MTI ${code(o.mti)}, STAN ${code(o.stan)}, field 7 ${code(toWire(7, o.transmission))}, 22 zeros`;
    }
    case 64:
    case 128:
      return 'MAC';
    default:
      return '';
  }
}

function renderFields(ex: Example): string[] {
  const out = ['| field | name | format | on the wire | meaning |', '|---|---|---|---|---|', `| MTI | | n 4 | ${code(ex.mti)} | |`];
  const wire = ex.packed.toString('latin1');
  const secondary = /^[0-9A-Fa-f]/.test(wire[4] ?? '') && (parseInt(wire[4]!, 16) & 8) !== 0;
  out.push(`| bitmap | primary | 16 hex | ${code(wire.slice(4, 20))} | |`);
  if (secondary) out.push(`| bitmap | secondary | 16 hex | ${code(wire.slice(20, 36))} | |`);
  const msg = ex.msg ?? ex.meant;
  if (!msg) return out;
  for (const [n, value] of msg.fields) {
    const spec = FIELDS[n]!;
    const digits = PREFIX_DIGITS[spec.prefix];
    const onWire = (digits > 0 ? String(value.length).padStart(digits, '0') : '') + value;
    out.push(`| ${n} | ${spec.name} | ${formatOf(spec)} | ${code(onWire)} | ${meaning(n, value)} |`);
  }
  return out;
}

function renderMessage(ex: Example): string[] {
  const wire = ex.packed.toString('latin1');
  const out: string[] = [`### ${ex.label}`, '', `*${ex.from === 'terminal' ? 'Terminal → switch' : 'Switch → terminal'}.* ${ex.note}`, ''];
  out.push(...renderFields(ex), '');
  const m = macInput(ex.packed);
  const hmac = createHmac('sha256', ex.key.value).update(m).digest();
  const field = macField((ex.msg ?? ex.meant)!);
  out.push(
    `MAC: HMAC-SHA256(${ex.key.name}, message bytes 0–${m.length - 1}) = \`${hex(hmac)}\`;`,
    `its first 8 bytes, ${code(computeMac(ex.key.value, m))}, are field ${field}. Message length ${ex.packed.length} bytes (␠ marks a space).`,
  );
  if (!ex.msg) {
    try {
      decode(ex.packed);
    } catch (err) {
      if (err instanceof IsoError) out.push(`The switch's decoder: *${err.message}*.`);
    }
  }
  out.push('', 'ASCII (the message, without the 2-byte length):', '', '```', wire, '```', '', 'Frame in hex (2-byte big-endian length, then the message):', '', '```', hexDump(frame(ex.packed)), '```', '');
  return out;
}

function renderUnwrap(response: Example): string[] {
  const sk = parseTlv(response.msg!.fields.get(48)!).get('SK')!;
  const raw = Buffer.from(sk, 'hex');
  const aad = terminalIdAad(response.msg!.fields.get(41)!);
  return [
    '#### Unwrapping SK',
    '',
    '`SK` is 120 hex characters: IV (12 bytes) ‖ AES-256-GCM ciphertext (32) ‖ tag (16), under',
    'K_wrap, with additional data = field 41 exactly as sent, space-padded to 8 characters.',
    '',
    '| part | hex |',
    '|---|---|',
    `| IV | \`${hex(raw.subarray(0, 12))}\` |`,
    `| ciphertext | \`${hex(raw.subarray(12, 44))}\` |`,
    `| tag | \`${hex(raw.subarray(44))}\` |`,
    `| additional data (${code(aad.toString('latin1'))}) | \`${hex(aad)}\` |`,
    `| K_wrap | \`${hex(deriveWrapKey(EXAMPLE_TMK))}\` |`,
    `| plaintext = the session key | \`${hex(EXAMPLE_SESSION_KEY)}\` |`,
    '',
  ];
}

export const REGENERATE = 'node --import tsx terminals/iso8583/examples.ts --write';

export function renderExamples(): string {
  const kSignon = deriveSignonKey(EXAMPLE_TMK);
  const out: string[] = [
    '# ISO 8583 worked examples',
    '',
    '<!-- Generated by terminals/iso8583/examples.ts from the real encoder; do not edit by hand.',
    `     Regenerate: ${REGENERATE} -->`,
    '',
    'Every message of the terminal protocol (terminal-protocol.md §1, see',
    '`docs/terminal-protocol.md`) as it goes on the wire, for checking a terminal',
    'implementation byte by byte: each request and its response, field by field, in',
    'ASCII and in hex, with its MAC.',
    '',
    '## Keys and conventions',
    '',
    'The keys are examples only. With them every MAC below can be recomputed and the',
    'session key in the 0810 unwrapped:',
    '',
    '| key | value (hex) |',
    '|---|---|',
    `| TMK (terminal master key, 32 bytes) | \`${hex(EXAMPLE_TMK)}\` |`,
    `| K_signon = HMAC-SHA256(TMK, "tserve-signon-mac") | \`${hex(kSignon)}\` |`,
    `| K_wrap = HMAC-SHA256(TMK, "tserve-key-wrap") | \`${hex(deriveWrapKey(EXAMPLE_TMK))}\` |`,
    `| session key (random in real life) | \`${hex(EXAMPLE_SESSION_KEY)}\` |`,
    `| IV of the key wrap (random in real life) | \`${hex(EXAMPLE_WRAP_IV)}\` |`,
    '',
    `- The terminal id is \`T0001\` on counter \`SPORTELLO0001\`. Field 41 carries the id`,
    '  space-padded to 8 characters (`T0001␠␠␠`); those 8 characters, exactly as sent, are',
    '  the additional data of the key wrap. Field 42 is the counter, space-padded to 15.',
    '- MAC = the first 8 bytes of HMAC-SHA256(key, M) as 16 uppercase hex characters, where',
    '  M is the message without the 2-byte length and without its last 16 bytes (the MAC',
    '  itself). The MAC is the last field: 128 when the secondary bitmap is there, else 64.',
    '  The sign-on and its 0810 use K_signon; everything after it, both ways, the session key.',
    '- Bitmaps and the MAC are uppercase hex; a lowercase one is a format error (`30`).',
    '- The day is Tuesday 17 March 2026: field 7 is UTC, fields 12 and 13 are Europe/Rome',
    '  (UTC+1 on that day).',
    '',
    '## Contents',
    '',
  ];
  const all = exchanges();
  all.forEach((x, i) => out.push(`${i + 1}. ${x.title}`));
  out.push('');
  all.forEach((x, i) => {
    out.push(`## ${i + 1}. ${x.title}`, '', x.intro, '');
    out.push(...renderMessage(x.request));
    out.push(...renderMessage(x.response));
    if (x.response.msg?.fields.has(48) && parseTlv(x.response.msg.fields.get(48)!).has('SK')) out.push(...renderUnwrap(x.response));
  });
  while (out[out.length - 1] === '') out.pop();
  return out.join('\n') + '\n';
}

export const EXAMPLES_FILE = fileURLToPath(new URL('./EXAMPLES.md', import.meta.url));

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const text = renderExamples();
  if (process.argv.includes('--write')) {
    writeFileSync(EXAMPLES_FILE, text);
    console.log(`wrote ${EXAMPLES_FILE}`);
  } else if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(EXAMPLES_FILE, 'utf8');
    } catch {
      // missing: stale
    }
    if (current !== text) {
      console.error(`${EXAMPLES_FILE} is out of date; regenerate it with: ${REGENERATE}`);
      process.exitCode = 1;
    }
  } else {
    process.stdout.write(text);
  }
}
