// Settlement's refusals are PaymentErrors with a code of the one table
// (src/payments/errors.ts): the one problem+json handler answers them, with the status
// of their code and a detail that names the window, entity, party or setting.
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { errorHandler } from '../../src/http/problem.js';
import { ERROR_CODES, PaymentError, type ErrorCode } from '../../src/payments/errors.js';
import { NothingToInvoiceError, OfficeCodeError } from '../../settlement/fatturapa.js';
import { SettlementError } from '../../settlement/figures.js';
import { InvalidIbanError } from '../../settlement/iban.js';
import { MonthError, monthBounds } from '../../settlement/rebilling.js';
import { WindowOpenError } from '../../settlement/run.js';
import { InvalidCreditorIdError, NothingToExportError } from '../../settlement/sepa.js';

const cases: [PaymentError, ErrorCode, number, RegExp][] = [
  [new WindowOpenError('2026-11-20'), 'WINDOW_OPEN', 409, /^the settlement window of 2026-11-20 is still open/],
  [new SettlementError('2026-11-20', ['movements sum to 1 cents, not 0']), 'SETTLEMENT_UNBALANCED', 409, /^settlement of 2026-11-20 refused: movements sum/],
  [new NothingToExportError('2026-11-20', 'direct debits'), 'NOTHING_TO_EXPORT', 404, /^the settlement of 2026-11-20 has no direct debits/],
  [new InvalidCreditorIdError('IT67ZZZA1B2C3D4E5F6G7H8'), 'INVALID_CREDITOR_ID', 409, /"IT67ZZZA1B2C3D4E5F6G7H8" is not valid.*TSERVE_SDD_CREDITOR_ID/],
  [new InvalidIbanError([{ party: 'counter C0042 Tabaccheria', iban: 'IT00X', problem: 'too short' }], 'pain.008'), 'INVALID_IBAN', 409, /^pain\.008 refused: invalid IBAN: counter C0042 Tabaccheria: "IT00X"/],
  [new NothingToInvoiceError('PISA', '2026-11', 0), 'NOTHING_TO_INVOICE', 404, /^no invoice for PISA in 2026-11/],
  [new OfficeCodeError('PISA', null), 'OFFICE_CODE_MISSING', 409, /entity PISA has no FatturaPA office code: set TSERVE_FATTURAPA_CODES=PISA=/],
  [new OfficeCodeError('PISA', 'abc'), 'OFFICE_CODE_INVALID', 409, /"abc" of entity PISA is not 6 uppercase letters or digits: fix it in TSERVE_FATTURAPA_CODES/],
  [new MonthError('2026-13'), 'FORMAT', 400, /^not a month \(YYYY-MM\): "2026-13"/],
];

describe("settlement's refusals", () => {
  it.each(cases.map(([err, code, status, detail]) => ({ name: err.name, err, code, status, detail })))('$name is $code ($status)', async ({ err, code, status, detail }) => {
    expect(err).toBeInstanceOf(PaymentError);
    expect(err.code).toBe(code);
    expect(ERROR_CODES[code].http).toBe(status);
    expect(err.detail).toMatch(detail);
    // The one handler turns it into a problem; nothing is mapped by hand.
    const app = express();
    app.get('/', () => {
      throw err;
    });
    app.use(errorHandler);
    const res = await request(app).get('/');
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toEqual({ type: `urn:tserve:error:${code}`, title: ERROR_CODES[code].title, status, code, detail: err.detail });
  });

  it('monthBounds refuses a month that is not one', () => {
    expect(() => monthBounds('2026-13')).toThrow(MonthError);
  });
});
