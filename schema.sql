-- tserve schema (SQLite dialect; the PostgreSQL store will mirror it).
--
-- Conventions
--   * Money is INTEGER cents everywhere. No REAL column ever holds an amount.
--   * Instants are INTEGER milliseconds since the Unix epoch (UTC); calendar dates
--     are TEXT 'YYYY-MM-DD' in Europe/Rome.
--   * Rows that record what happened (payments, ledger_entries, events, audit_log)
--     are append-only; state that changes (balances, statuses) lives in its own column
--     and is only ever changed inside the same transaction as the rows that explain it.

PRAGMA foreign_keys = ON;

-- Schema version, so that a later release can migrate an existing data directory.
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- Public bodies whose services run on the circuit. Exactly one row has
-- is_circuit_owner = 1 (the Comune di Prato): it earns the royalty and circuit fees.
CREATE TABLE IF NOT EXISTS entities (
  id               TEXT PRIMARY KEY,                 -- short code, e.g. 'PRATO'
  name             TEXT NOT NULL,
  fiscal_code      TEXT NOT NULL UNIQUE,             -- 11 digits, check digit valid
  iban             TEXT NOT NULL,                    -- payout account, validated
  is_circuit_owner INTEGER NOT NULL DEFAULT 0 CHECK (is_circuit_owner IN (0, 1)),
  segregation_code TEXT CHECK (segregation_code IS NULL OR length(segregation_code) = 2),
  vat_number       TEXT CHECK (vat_number IS NULL OR length(vat_number) = 11),   -- partita IVA (the owner's issues the invoices)
  office_code      TEXT CHECK (office_code IS NULL OR length(office_code) = 6),  -- FatturaPA CodiceDestinatario (IPA)
  pagopa           INTEGER NOT NULL DEFAULT 0 CHECK (pagopa IN (0, 1))         -- its debt positions live in pagoPA (docs/pagopa.md)
);
CREATE UNIQUE INDEX IF NOT EXISTS entities_one_owner ON entities (is_circuit_owner) WHERE is_circuit_owner = 1;

-- Circuit fee owed by an entity to the circuit owner for each payment of its services,
-- versioned by effective date. mode 'netted' deducts it from the payout at settlement,
-- 'rebilled' invoices it monthly. The owner itself has no row (it owes itself nothing).
CREATE TABLE IF NOT EXISTS circuit_fees (
  entity_id      TEXT NOT NULL REFERENCES entities (id),
  effective_from TEXT NOT NULL,                      -- YYYY-MM-DD, Europe/Rome
  fee_cents      INTEGER NOT NULL CHECK (fee_cents >= 0),
  mode           TEXT NOT NULL CHECK (mode IN ('netted', 'rebilled')),
  PRIMARY KEY (entity_id, effective_from)
);

-- The service catalogue (domain.md §7). amount_kind: L looked up from a debt position,
-- F fixed tariff, C computed by rule, S self-assessed within [min_cents, max_cents].
-- identifier_kind says how a terminal names what is paid (notice, plate, ...).
-- rule names a per-service amount rule of src/domain (e.g. 'multa', 'bollo').
CREATE TABLE IF NOT EXISTS services (
  code            TEXT PRIMARY KEY,                  -- e.g. 'TARI', 'MULTA', 'BOLLO'
  name            TEXT NOT NULL,
  entity_id       TEXT NOT NULL REFERENCES entities (id),
  amount_kind     TEXT NOT NULL CHECK (amount_kind IN ('L', 'F', 'C', 'S')),
  identifier_kind TEXT NOT NULL,
  rule            TEXT,
  fixed_cents     INTEGER CHECK (fixed_cents IS NULL OR fixed_cents > 0),
  min_cents       INTEGER CHECK (min_cents IS NULL OR min_cents > 0),
  max_cents       INTEGER CHECK (max_cents IS NULL OR max_cents >= min_cents),
  enabled         INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  CHECK (amount_kind <> 'F' OR fixed_cents IS NOT NULL),
  CHECK (amount_kind <> 'S' OR (min_cents IS NOT NULL AND max_cents IS NOT NULL))
);

-- Citizen fee and its split for (service, counter kind), versioned by effective date.
-- A payment uses the version in force at booking and stores the split it got
-- (payments.fee_*), so a new version never changes history.
-- fee_rule is JSON: {"type":"fixed","cents":150} | {"type":"percent","rate":"0.015",
-- "minCents":100,"maxCents":220} | {"type":"tiers","tiers":[{"upToCents":5000,"cents":100},...]}.
-- commission_rate is a decimal string: the counter's share of (fee - royalty).
CREATE TABLE IF NOT EXISTS fee_schedules (
  service_code    TEXT NOT NULL REFERENCES services (code),
  counter_kind    TEXT NOT NULL CHECK (counter_kind IN ('tabaccaio', 'agenzia', 'supermercato')),
  effective_from  TEXT NOT NULL,
  fee_rule        TEXT NOT NULL,
  commission_rate TEXT NOT NULL,
  royalty_cents   INTEGER NOT NULL CHECK (royalty_cents >= 0),
  PRIMARY KEY (service_code, counter_kind, effective_from)
);

-- Counters (sportelli). credit_limit_cents bounds the cash collected and not yet
-- settled: the balance of the counter's cash account less settled_cents (the cash of
-- its approved settlement windows, collected by direct debit) may never exceed it.
CREATE TABLE IF NOT EXISTS counters (
  id                 TEXT PRIMARY KEY,               -- e.g. 'C0001' (ISO field 42)
  kind               TEXT NOT NULL CHECK (kind IN ('tabaccaio', 'agenzia', 'supermercato')),
  name               TEXT NOT NULL,
  address            TEXT NOT NULL,
  town               TEXT NOT NULL,
  iban               TEXT NOT NULL,
  mandate_ref        TEXT NOT NULL,                  -- SEPA direct-debit mandate
  credit_limit_cents INTEGER NOT NULL CHECK (credit_limit_cents >= 0),
  settled_cents      INTEGER NOT NULL DEFAULT 0,
  status             TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended'))
);

-- Terminals. tmk_enc is the 32-byte terminal master key under the switch's
-- key-encryption key (AES-256-GCM, iv||ct||tag, base64); secret_hash is the scrypt
-- hash of the terminal's JSON API secret, apart from the TMK ('' = none issued yet).
-- Neither is ever logged. signon_at/signon_stan: the last accepted sign-on (field 7 as
-- epoch ms, field 11), against which a replayed 0800 is refused.
CREATE TABLE IF NOT EXISTS terminals (
  id          TEXT PRIMARY KEY,                      -- ISO field 41, 8 characters
  counter_id  TEXT NOT NULL REFERENCES counters (id),
  status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocked')),
  tmk_enc     TEXT NOT NULL,
  secret_hash TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  signon_at   INTEGER,
  signon_stan INTEGER
);
CREATE INDEX IF NOT EXISTS terminals_counter ON terminals (counter_id);

-- Debt positions (domain.md §6): what a debtor owes an entity for a service.
-- status follows DRAFT → PUBLISHED → VALID → PARTIALLY_PAID → PAID, or INVALID
-- (cancelled) / EXPIRED. It is derived from its options and is only changed in the
-- transaction that changes an option. Payable: VALID and PARTIALLY_PAID.
CREATE TABLE IF NOT EXISTS debt_positions (
  id           INTEGER PRIMARY KEY,
  entity_id    TEXT NOT NULL REFERENCES entities (id),
  service_code TEXT NOT NULL REFERENCES services (code),
  external_ref TEXT NOT NULL,                        -- the entity's own id, unique per entity
  debtor_cf    TEXT NOT NULL,                        -- fiscal code of the debtor
  debtor_name  TEXT,
  description  TEXT NOT NULL,
  status       TEXT NOT NULL CHECK (status IN ('DRAFT', 'PUBLISHED', 'VALID', 'PARTIALLY_PAID', 'PAID', 'INVALID', 'EXPIRED')),
  valid_until  TEXT,                                 -- after this date the position is EXPIRED
  created_at   INTEGER NOT NULL,
  UNIQUE (entity_id, external_ref)
);

-- Payment options of a position: the single payment and/or instalments, each with its
-- own notice number (unique across the circuit, check digits valid). lookup_key lets
-- services identified by something else than a notice find the option (plate + vehicle
-- type for bollo, user code for lampade votive, fine number + plate for multe).
-- rule_params is JSON for amount rules (multe: min/max/costs/notifiedOn; bollo: dueDate).
-- An option is paid at most once: paid_payment_id is set by exactly one booking, and
-- cleared only by that payment's reversal.
CREATE TABLE IF NOT EXISTS payment_options (
  id              INTEGER PRIMARY KEY,
  position_id     INTEGER NOT NULL REFERENCES debt_positions (id),
  notice_number   TEXT NOT NULL UNIQUE CHECK (length(notice_number) = 18),
  lookup_key      TEXT,
  kind            TEXT NOT NULL CHECK (kind IN ('single', 'instalment')),
  instalment_no   INTEGER,
  amount_cents    INTEGER NOT NULL CHECK (amount_cents > 0),
  due_date        TEXT NOT NULL,
  description     TEXT NOT NULL,
  rule_params     TEXT,
  paid_payment_id INTEGER REFERENCES payments (id)
);
CREATE INDEX IF NOT EXISTS payment_options_position ON payment_options (position_id);
CREATE INDEX IF NOT EXISTS payment_options_lookup ON payment_options (lookup_key) WHERE lookup_key IS NOT NULL;

-- Uploads imported, by the SHA-256 of their bytes: the same file sent again is refused
-- (409 DUPLICATE) before it is parsed. scope is the entity (or 'admin:' and the entity
-- an admin's CSV names).
CREATE TABLE IF NOT EXISTS position_imports (
  scope       TEXT NOT NULL,
  sha256      TEXT NOT NULL,
  positions   INTEGER NOT NULL,
  imported_at INTEGER NOT NULL,
  PRIMARY KEY (scope, sha256)
) WITHOUT ROWID;

-- Payments: one row per booked payment, with the fee split it was booked with.
-- Invariants: amount_cents > 0; fee_cents = fee_commission + fee_operator + fee_royalty;
-- the payment's ledger entries sum to zero; settlement_date is decided at booking and
-- never changes; reversed_at is set at most once, by the booking of its reversal.
CREATE TABLE IF NOT EXISTS payments (
  id                  INTEGER PRIMARY KEY,           -- internal; also the RRN's number
  public_id           TEXT NOT NULL UNIQUE,          -- paymentId on the JSON API (UUID)
  channel             TEXT NOT NULL CHECK (channel IN ('json', 'iso8583')),
  terminal_id         TEXT NOT NULL REFERENCES terminals (id),
  counter_id          TEXT NOT NULL REFERENCES counters (id),
  counter_kind        TEXT NOT NULL,
  entity_id           TEXT NOT NULL REFERENCES entities (id),
  service_code        TEXT NOT NULL REFERENCES services (code),
  identifier          TEXT NOT NULL,
  option_id           INTEGER REFERENCES payment_options (id),
  payer_cf            TEXT,
  amount_cents        INTEGER NOT NULL CHECK (amount_cents > 0),
  fee_cents           INTEGER NOT NULL CHECK (fee_cents >= 0),
  fee_commission      INTEGER NOT NULL CHECK (fee_commission >= 0),
  fee_operator        INTEGER NOT NULL CHECK (fee_operator >= 0),
  fee_royalty         INTEGER NOT NULL CHECK (fee_royalty >= 0),
  circuit_fee_cents   INTEGER NOT NULL CHECK (circuit_fee_cents >= 0),
  circuit_fee_mode    TEXT CHECK (circuit_fee_mode IN ('netted', 'rebilled')),
  stan                TEXT,                          -- ISO field 11 when booked over ISO 8583
  rrn                 TEXT NOT NULL,                 -- 12 characters: the id, zero-padded, so unique across the network
  approval_code       TEXT NOT NULL,
  receipt_number      TEXT NOT NULL,                 -- window date + id: unique by construction
  description         TEXT NOT NULL,
  booked_at           INTEGER NOT NULL,
  settlement_date     TEXT NOT NULL,
  reversed_at         INTEGER,
  reversal_settlement_date TEXT,                     -- the window the reversal or adjustment counts in
  reversal_kind       TEXT CHECK (reversal_kind IN ('reversal', 'adjustment')),
  CHECK (fee_cents = fee_commission + fee_operator + fee_royalty)
);
-- A window's payments in id order (every index ends with the rowid).
CREATE INDEX IF NOT EXISTS payments_window ON payments (settlement_date);
CREATE INDEX IF NOT EXISTS payments_counter ON payments (counter_id, settlement_date);
CREATE INDEX IF NOT EXISTS payments_reversed ON payments (terminal_id, reversed_at) WHERE reversed_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS payments_option ON payments (option_id) WHERE option_id IS NOT NULL;
-- A notice (option) is paid at most once: by constraint, beside booking's own check.
CREATE UNIQUE INDEX IF NOT EXISTS payments_option_paid_once ON payments (option_id) WHERE option_id IS NOT NULL AND reversed_at IS NULL;
CREATE INDEX IF NOT EXISTS payments_reversal_window ON payments (reversal_settlement_date) WHERE reversal_settlement_date IS NOT NULL;
-- The console's search by identifier (notice number, plate...); by RRN and receipt number
-- it needs none: both are the payment's id by construction (src/store/console-reads.ts).
-- Added by issue 14: made on an existing file at its next open (PostgreSQL 007).
CREATE INDEX IF NOT EXISTS payments_identifier ON payments (identifier);

-- Ledger accounts. kind says whose money it is; owner_id names the counter or entity.
--   counter_cash        cash a counter collected and owes the circuit (debit balance)
--   counter_commission  commission the counter earned (credit balance)
--   entity_payable      what the circuit owes an entity (credit balance)
--   entity_circuit_fees circuit fees an entity owes and will be invoiced (rebilled)
--   operator_fees       the network operator's fees
--   owner_royalty       the circuit owner's 10-cent royalties
--   owner_circuit_fees  the circuit fees the owner earns from other entities
CREATE TABLE IF NOT EXISTS ledger_accounts (
  id       INTEGER PRIMARY KEY,
  kind     TEXT NOT NULL,
  owner_id TEXT NOT NULL DEFAULT '',
  UNIQUE (kind, owner_id)
);

-- Ledger entries: signed cents, debit positive and credit negative.
-- Invariant: the entries of each payment (and of each reversal) sum to zero.
CREATE TABLE IF NOT EXISTS ledger_entries (
  id           INTEGER PRIMARY KEY,
  payment_id   INTEGER NOT NULL REFERENCES payments (id),
  account_id   INTEGER NOT NULL REFERENCES ledger_accounts (id),
  amount_cents INTEGER NOT NULL CHECK (amount_cents <> 0),
  is_reversal  INTEGER NOT NULL DEFAULT 0 CHECK (is_reversal IN (0, 1)),
  booked_at    INTEGER NOT NULL,
  settlement_date TEXT NOT NULL                      -- the window the entry belongs to
);
CREATE INDEX IF NOT EXISTS ledger_entries_payment ON ledger_entries (payment_id);

-- A window's movement per account: the sum of the account's entries with that
-- settlement_date, kept in the same transaction as the entries (once per batch and
-- account). Settlement checks its figures against these rows instead of summing
-- millions of entries. Invariant (checked by `tserve check`): amount_cents equals the
-- sum of the matching ledger_entries.
CREATE TABLE IF NOT EXISTS window_movements (
  settlement_date TEXT NOT NULL,
  account_id      INTEGER NOT NULL REFERENCES ledger_accounts (id),
  amount_cents    INTEGER NOT NULL,
  PRIMARY KEY (settlement_date, account_id)
) WITHOUT ROWID;

-- A window's totals per kind (booking, reversal, adjustment), entity, service and
-- counter: what settlement sums, kept by booking in the same transaction (once per
-- batch and group), so a night's settlement reads a few thousand rows instead of
-- scanning millions of payments. Invariant (checked by `tserve check`): each row equals
-- the GROUP BY of the payments it stands for.
CREATE TABLE IF NOT EXISTS window_totals (
  settlement_date TEXT NOT NULL,
  kind            TEXT NOT NULL CHECK (kind IN ('booking', 'reversal', 'adjustment')),
  entity_id       TEXT NOT NULL,
  service_code    TEXT NOT NULL,
  counter_id      TEXT NOT NULL,
  n               INTEGER NOT NULL,
  amount_cents    INTEGER NOT NULL,
  fee_cents       INTEGER NOT NULL,
  commission      INTEGER NOT NULL,
  operator        INTEGER NOT NULL,
  royalty         INTEGER NOT NULL,
  netted          INTEGER NOT NULL,
  rebilled        INTEGER NOT NULL,
  PRIMARY KEY (settlement_date, kind, entity_id, service_code, counter_id)
) WITHOUT ROWID;

-- Balances: balance_cents = sum of the account's entries, kept in the same
-- transaction as the entries. Invariant: all balances sum to zero at every commit.
CREATE TABLE IF NOT EXISTS ledger_balances (
  account_id    INTEGER PRIMARY KEY REFERENCES ledger_accounts (id),
  balance_cents INTEGER NOT NULL DEFAULT 0
);

-- A checkpoint of the balances, as sums of entries: account_id's entries with an id up
-- to meta 'ledger_checkpoint' sum to balance_cents. At start each balance is compared
-- with its checkpoint plus the entries after it (src/store/sqlite/balance-check.ts);
-- the checkpointer moves it forward while booking goes on.
CREATE TABLE IF NOT EXISTS ledger_checkpoints (
  account_id    INTEGER PRIMARY KEY,
  balance_cents INTEGER NOT NULL
);

-- The event log the WebSocket stream replays. seq is strictly increasing and written
-- in the same transaction as what it reports, so a client resuming after seq N sees
-- every later event, in commit order, exactly once.
CREATE TABLE IF NOT EXISTS events (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  type         TEXT NOT NULL,
  at           INTEGER NOT NULL,
  terminal_id  TEXT,
  counter_id   TEXT,
  entity_id    TEXT,
  service_code TEXT,
  payload      TEXT NOT NULL                         -- JSON, amounts in cents
);
CREATE INDEX IF NOT EXISTS events_at ON events (at);

-- Idempotency records: (terminal, key) → the first answer. A retry with the same
-- request hash gets the stored answer; a different hash is a conflict. Written in the
-- same transaction as the booking it answers, so an answer exists iff it was committed.
CREATE TABLE IF NOT EXISTS idempotency_records (
  terminal_id   TEXT NOT NULL,
  key           TEXT NOT NULL,                       -- Idempotency-Key, or 'iso:<f7>:<f11>'
  request_hash  TEXT NOT NULL,
  status        INTEGER NOT NULL,
  response      TEXT NOT NULL,                       -- JSON body as first answered
  payment_id    INTEGER REFERENCES payments (id),
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (terminal_id, key)
) WITHOUT ROWID;

-- Reversal advices (ISO 8583 0420/0421) whose original 0200 never arrived. The key is
-- the original's idempotency key ('iso:<f7>:<f11>'); if that 0200 arrives later it is
-- declined (ALREADY_REVERSED) instead of booked.
CREATE TABLE IF NOT EXISTS reversal_advices (
  terminal_id TEXT NOT NULL,
  key         TEXT NOT NULL,
  at          INTEGER NOT NULL,
  PRIMARY KEY (terminal_id, key)
) WITHOUT ROWID;

-- Settlement windows (domain.md §3): one per business day. A window is closed by the
-- nightly run (no booking or reversal enters it afterwards), settled into a draft,
-- approved by finance, then exported. figures is the whole settlement as JSON,
-- computed from the payments and checked against the ledger; an approved or
-- exported window never changes (refunds after approval are adjustments booked in a
-- later window).
CREATE TABLE IF NOT EXISTS settlement_windows (
  date         TEXT PRIMARY KEY,                     -- YYYY-MM-DD business day
  status       TEXT NOT NULL CHECK (status IN ('closed', 'draft', 'approved', 'exported')),
  closed_at    INTEGER NOT NULL,
  computed_at  INTEGER,
  figures      TEXT,                                 -- JSON, amounts in cents
  figures_hash TEXT,                                 -- sha256 of figures
  approved_at  INTEGER,
  approved_by  TEXT,
  exported_at  INTEGER,
  CHECK (status = 'closed' OR figures IS NOT NULL),
  CHECK (status NOT IN ('approved', 'exported') OR approved_by IS NOT NULL)
);

-- Users of the admin, entity and finance APIs. password_hash is scrypt; an entity
-- user has entity_id set and sees only that entity's data.
CREATE TABLE IF NOT EXISTS users (
  username      TEXT PRIMARY KEY,
  role          TEXT NOT NULL CHECK (role IN ('entity', 'finance', 'admin')),
  entity_id     TEXT REFERENCES entities (id),
  password_hash TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)), -- no login, tokens refused, streams closed
  CHECK ((role = 'entity') = (entity_id IS NOT NULL))
);

-- Audit log of administrative actions (who did what to which object). Append-only
-- and hash-chained (src/store/audit-chain.ts): hash = SHA-256 over prev_hash and the
-- row's content, so `tserve audit verify` detects an edited or removed row.
CREATE TABLE IF NOT EXISTS audit_log (
  id        INTEGER PRIMARY KEY,
  at        INTEGER NOT NULL,
  actor     TEXT NOT NULL,
  action    TEXT NOT NULL,
  target    TEXT NOT NULL,
  detail    TEXT,                                    -- JSON, never secrets
  prev_hash TEXT,                                    -- hash of the row before ('0' x 64 for the first)
  hash      TEXT
);
-- The chain's head: the last row's id and hash (catches rows removed at the end).
CREATE TABLE IF NOT EXISTS audit_chain (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  last_id   INTEGER NOT NULL,
  last_hash TEXT NOT NULL
);
-- Defence in depth: rows are never changed or removed (a row is chained once, when it
-- has no hash yet: rows of a file written before the chain). verify still catches an
-- edit made with these triggers dropped.
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log WHEN OLD.hash IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_chain_no_delete BEFORE DELETE ON audit_chain
BEGIN SELECT RAISE(ABORT, 'audit_chain is kept'); END;

-- Consecutive failed logins per account ('user:<name>', 'terminal:<id>'), known or
-- not: past a threshold the account is locked for a time that doubles with each
-- failure (src/auth/login-throttle.ts). A success or an admin's unlock removes the row.
CREATE TABLE IF NOT EXISTS login_failures (
  account         TEXT PRIMARY KEY,
  failures        INTEGER NOT NULL,
  last_failure_at INTEGER NOT NULL
);

-- Console sessions ended by logout (issue 14): a session is a signed cookie the switch
-- does not store, so a copy taken before logout would hold until its idle end; its id is
-- kept here until `until`, the session's absolute cap (login + TSERVE_CONSOLE_MAX_HOURS),
-- past which the cookie is refused anyway. Rows past it are pruned at each logout.
CREATE TABLE IF NOT EXISTS ended_sessions (
  session_id TEXT PRIMARY KEY,
  until      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ended_sessions_until ON ended_sessions (until);

-- pagoPA payments (issue 15, docs/pagopa.md): a payment booked on an activation of
-- pagoPA's node. One row per such payment, written in the booking's own transaction;
-- it is also the outcome's outbox: `outcome` 'pending' until sendPaymentOutcome OK is
-- answered ('sent'), or 'refund_due' when the node took no receipt for money the counter
-- took (answered PPT_PAGAMENTO_DUPLICATO, the token expired, or it no longer knows it).
-- A sender claims pending rows for `claimed_until` (another instance's crash frees them
-- at that time); a restart takes every pending row again.
CREATE TABLE IF NOT EXISTS pagopa_payments (
  payment_id           INTEGER PRIMARY KEY REFERENCES payments (id),
  creditor_fiscal_code TEXT NOT NULL,
  creditor_name        TEXT NOT NULL,
  notice_number        TEXT NOT NULL,
  iuv                  TEXT NOT NULL,
  payment_token        TEXT NOT NULL UNIQUE,
  idempotency_key      TEXT NOT NULL,
  activated_at         INTEGER NOT NULL,
  token_expires_at     INTEGER NOT NULL,
  outcome              TEXT NOT NULL DEFAULT 'pending' CHECK (outcome IN ('pending', 'sent', 'refund_due')),
  outcome_at           INTEGER,
  outcome_fault        TEXT,
  attempts             INTEGER NOT NULL DEFAULT 0,
  claimed_until        INTEGER
);
CREATE INDEX IF NOT EXISTS pagopa_payments_pending ON pagopa_payments (token_expires_at) WHERE outcome = 'pending';
CREATE INDEX IF NOT EXISTS pagopa_payments_notice ON pagopa_payments (notice_number);

-- The activation's transfer list (1..5): settlement pays each amount to its IBAN.
CREATE TABLE IF NOT EXISTS pagopa_transfers (
  payment_id   INTEGER NOT NULL REFERENCES pagopa_payments (payment_id),
  idx          INTEGER NOT NULL CHECK (idx BETWEEN 1 AND 5),
  amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
  fiscal_code  TEXT NOT NULL,
  iban         TEXT NOT NULL,
  remittance   TEXT NOT NULL,
  PRIMARY KEY (payment_id, idx)
) WITHOUT ROWID;

-- pagoPA reporting flows (docs/pagopa.md "Settlement and reporting flows"): one per SEPA
-- credit transfer of an approved window to a creditor's IBAN, its id in the transfer's
-- remittance information; built at approval, sent to the node until it accepts it.
-- state: 'pending' (not accepted yet: sent again by the nightly job), 'accepted',
-- 'refused' (the node said why, in last_fault: the same content would be refused again).
CREATE TABLE IF NOT EXISTS pagopa_flows (
  flow_id              TEXT PRIMARY KEY,
  settlement_date      TEXT NOT NULL,
  creditor_fiscal_code TEXT NOT NULL,
  creditor_name        TEXT NOT NULL,
  iban                 TEXT NOT NULL,
  total_cents          INTEGER NOT NULL CHECK (total_cents > 0),
  count                INTEGER NOT NULL CHECK (count > 0),
  flow_date_time       TEXT NOT NULL,
  xml                  TEXT NOT NULL,
  created_at           INTEGER NOT NULL,
  state                TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'accepted', 'refused')),
  attempts             INTEGER NOT NULL DEFAULT 0,
  last_fault           TEXT,
  sent_at              INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pagopa_flows_date ON pagopa_flows (settlement_date);
CREATE INDEX IF NOT EXISTS pagopa_flows_pending ON pagopa_flows (settlement_date) WHERE state = 'pending';
