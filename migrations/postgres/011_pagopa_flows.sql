-- Issue 15: pagoPA reporting flows, one per SEPA credit transfer of an approved window to
-- a creditor's IBAN (docs/pagopa.md "Settlement and reporting flows"). As in schema.sql.
CREATE TABLE IF NOT EXISTS pagopa_flows (
  flow_id              text COLLATE "C" PRIMARY KEY,
  settlement_date      text COLLATE "C" NOT NULL,
  creditor_fiscal_code text COLLATE "C" NOT NULL,
  creditor_name        text NOT NULL,
  iban                 text COLLATE "C" NOT NULL,
  total_cents          bigint NOT NULL CHECK (total_cents > 0),
  count                integer NOT NULL CHECK (count > 0),
  flow_date_time       text COLLATE "C" NOT NULL,
  xml                  text NOT NULL,
  created_at           bigint NOT NULL,
  state                text COLLATE "C" NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'accepted', 'refused')),
  attempts             integer NOT NULL DEFAULT 0,
  last_fault           text,
  sent_at              bigint
);
CREATE INDEX IF NOT EXISTS pagopa_flows_date ON pagopa_flows (settlement_date);
CREATE INDEX IF NOT EXISTS pagopa_flows_pending ON pagopa_flows (settlement_date) WHERE state = 'pending';
