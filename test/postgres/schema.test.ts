// The PostgreSQL schema states the ledger's invariants itself, whoever writes the rows;
// migrations applied by instances starting together run once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, migrations } from '../../src/store/postgres/migrate.js';
import { openPool, type Pool } from '../../src/store/postgres/pool.js';
import { createTestDatabase, TEST_STORE } from '../helpers/store.js';

let pool: Pool;
let others: Pool[] = [];

beforeAll(async () => {
  if (TEST_STORE !== 'postgres') return;
  const url = await createTestDatabase();
  pool = openPool(url, 4);
  others = [openPool(url, 2), openPool(url, 2), openPool(url, 2)];
});

afterAll(async () => {
  await Promise.all([pool, ...others].filter(Boolean).map((p) => p.end()));
});

/** A minimal catalogue and network, and one notice, written straight into the tables. */
async function fixture(): Promise<void> {
  await pool.query(`INSERT INTO entities (id, name, fiscal_code, iban, is_circuit_owner) VALUES ('PRATO', 'Comune di Prato', '00337360978', 'IT60X0542811101000000123456', 1)`);
  await pool.query(`INSERT INTO services (code, name, entity_id, amount_kind, identifier_kind) VALUES ('TARI', 'TARI', 'PRATO', 'L', 'notice')`);
  await pool.query(`INSERT INTO counters (id, kind, name, address, town, iban, mandate_ref, credit_limit_cents) VALUES ('C0001', 'tabaccaio', 'Bar', 'Via 1', 'Prato', 'IT60X0542811101000000123456', 'M1', 100000)`);
  await pool.query(`INSERT INTO terminals (id, counter_id, tmk_enc, secret_hash, created_at) VALUES ('T0001', 'C0001', 'x', 'y', 0)`);
  await pool.query(`INSERT INTO debt_positions (id, entity_id, service_code, external_ref, debtor_cf, description, status, created_at) VALUES (1, 'PRATO', 'TARI', 'R1', 'RSSMRA85T10A562S', 'TARI', 'VALID', 0)`);
  await pool.query(`INSERT INTO payment_options (id, position_id, notice_number, kind, amount_cents, due_date, description) VALUES (1, 1, '301202400000000164', 'single', 12345, '2026-05-31', 'TARI')`);
  await pool.query(`INSERT INTO ledger_accounts (id, kind, owner_id) VALUES (1, 'counter_cash', 'C0001'), (2, 'entity_payable', 'PRATO')`);
}

function payment(id: number, optionId: number | null): string {
  return `INSERT INTO payments (id, public_id, channel, terminal_id, counter_id, counter_kind, entity_id, service_code, identifier, option_id, amount_cents,
    fee_cents, fee_commission, fee_operator, fee_royalty, circuit_fee_cents, rrn, approval_code, receipt_number, description, booked_at, settlement_date)
    VALUES (${id}, 'p${id}', 'json', 'T0001', 'C0001', 'tabaccaio', 'PRATO', 'TARI', 'x', ${optionId ?? 'NULL'}, 12345, 0, 0, 0, 0, 0, '${String(id).padStart(12, '0')}', 'A', 'r${id}', 'd', 0, '2026-11-23')`;
}

const entry = (paymentId: number, account: number, cents: number, reversal = 0) =>
  `INSERT INTO ledger_entries (payment_id, account_id, amount_cents, is_reversal, booked_at, settlement_date) VALUES (${paymentId}, ${account}, ${cents}, ${reversal}, 0, '2026-11-23')`;

async function inTx(statements: string[]): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    for (const s of statements) await c.query(s);
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}

describe.skipIf(TEST_STORE !== 'postgres')('PostgreSQL schema', () => {
  it('instances migrating at once apply each migration once', async () => {
    const applied = await Promise.all([pool, ...others].map((p) => migrate(p)));
    const all = applied.flat().sort((x, y) => x - y);
    expect(all).toEqual(migrations().map((m) => m.version));
    const rows = await pool.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.rows.map((r) => r.version)).toEqual(migrations().map((m) => m.version));
    expect(await migrate(pool)).toEqual([]);
    await fixture();
  });

  it("a payment whose entries do not sum to zero is refused at COMMIT, and nothing of it stays", async () => {
    await expect(inTx([payment(1, 1), entry(1, 1, 12345), entry(1, 2, -12300)])).rejects.toThrow(/ledger invariant: payment 1 booking entries: 2 rows summing to 45/);
    await expect(inTx([payment(1, 1)])).rejects.toThrow(/0 rows summing to 0/);
    expect((await pool.query('SELECT 1 FROM payments')).rowCount).toBe(0);
    await inTx([payment(1, 1), entry(1, 1, 12345), entry(1, 2, -12345)]);
    expect((await pool.query('SELECT 1 FROM payments')).rowCount).toBe(1);
  });

  it('a reversal whose entries do not sum to zero is refused at COMMIT', async () => {
    const reverse = "UPDATE payments SET reversed_at = 1, reversal_settlement_date = '2026-11-23', reversal_kind = 'reversal' WHERE id = 1";
    await expect(inTx([entry(1, 1, -12345, 1), reverse])).rejects.toThrow(/payment 1 reversal entries: 1 rows summing to -12345/);
    await inTx([entry(1, 1, -12345, 1), entry(1, 2, 12345, 1), reverse]);
    // The notice is free again: a second live payment of it is fine now...
    await inTx([payment(2, 1), entry(2, 1, 12345), entry(2, 2, -12345)]);
  });

  it('a notice is paid at most once (a partial unique index), whatever the writer', async () => {
    await expect(inTx([payment(3, 1), entry(3, 1, 12345), entry(3, 2, -12345)])).rejects.toThrow(/payments_option_paid_once/);
  });

  it('closed lists and money columns are checked', async () => {
    await expect(pool.query("UPDATE counters SET status = 'closed' WHERE id = 'C0001'")).rejects.toThrow(/check constraint/);
    await expect(pool.query('UPDATE counters SET credit_limit_cents = -1')).rejects.toThrow(/check constraint/);
    await expect(pool.query("UPDATE payments SET fee_cents = 5 WHERE id = 2")).rejects.toThrow(/check constraint/); // fee = commission + operator + royalty
    await expect(pool.query("INSERT INTO ledger_accounts (kind, owner_id) VALUES ('petty_cash', '')")).rejects.toThrow(/check constraint/);
    await expect(pool.query("UPDATE payments SET amount_cents = '12.5' WHERE id = 2")).rejects.toThrow(/invalid input syntax for type bigint/); // integer cents only
  });
});
