-- Issue 15: pagoPA payments, their transfer lists and the outcome outbox (docs/pagopa.md).
-- As in schema.sql.
CREATE TABLE IF NOT EXISTS pagopa_payments (
  payment_id           bigint PRIMARY KEY REFERENCES payments (id),
  creditor_fiscal_code text COLLATE "C" NOT NULL,
  creditor_name        text COLLATE "C" NOT NULL,
  notice_number        text COLLATE "C" NOT NULL,
  iuv                  text COLLATE "C" NOT NULL,
  payment_token        text COLLATE "C" NOT NULL UNIQUE,
  idempotency_key      text COLLATE "C" NOT NULL,
  activated_at         bigint NOT NULL,
  token_expires_at     bigint NOT NULL,
  outcome              text COLLATE "C" NOT NULL DEFAULT 'pending' CHECK (outcome IN ('pending', 'sent', 'refund_due')),
  outcome_at           bigint,
  outcome_fault        text COLLATE "C",
  attempts             integer NOT NULL DEFAULT 0,
  claimed_until        bigint
);
CREATE INDEX IF NOT EXISTS pagopa_payments_pending ON pagopa_payments (token_expires_at) WHERE outcome = 'pending';
CREATE INDEX IF NOT EXISTS pagopa_payments_notice ON pagopa_payments (notice_number);

CREATE TABLE IF NOT EXISTS pagopa_transfers (
  payment_id   bigint NOT NULL REFERENCES pagopa_payments (payment_id),
  idx          smallint NOT NULL CHECK (idx BETWEEN 1 AND 5),
  amount_cents bigint NOT NULL CHECK (amount_cents > 0),
  fiscal_code  text COLLATE "C" NOT NULL,
  iban         text COLLATE "C" NOT NULL,
  remittance   text COLLATE "C" NOT NULL,
  PRIMARY KEY (payment_id, idx)
);
