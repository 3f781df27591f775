-- Issue 12: the audit log becomes hash-chained and append-only, and failed logins are
-- counted per account (login throttling).
--
-- Each audit row carries prev_hash (the row before's hash; '0' x 64 for the first) and
-- hash = SHA-256 over the canonical encoding of src/store/audit-chain.ts (the same
-- function in SQL below: change one, change both). The chain is extended by a BEFORE
-- INSERT trigger under the lock of audit_chain's one row (the head), held to COMMIT: rows
-- of concurrent transactions on several instances are chained one after another, and
-- every INSERT INTO audit_log, whoever writes it, is chained. Rows already there are
-- chained here, in id order.

ALTER TABLE audit_log ADD COLUMN prev_hash text COLLATE "C", ADD COLUMN hash text COLLATE "C";

CREATE TABLE audit_chain (
  id        smallint PRIMARY KEY CHECK (id = 1),
  last_id   bigint NOT NULL,
  last_hash text COLLATE "C" NOT NULL
);

CREATE FUNCTION audit_row_hash(prev text, id bigint, at bigint, actor text, action text, target text, detail text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT encode(sha256(convert_to(concat_ws(E'\n',
    'tserve-audit-1', prev, id::text, at::text,
    octet_length(actor)::text || ':' || actor,
    octet_length(action)::text || ':' || action,
    octet_length(target)::text || ':' || target,
    CASE WHEN detail IS NULL THEN '-' ELSE octet_length(detail)::text || ':' || detail END), 'UTF8')), 'hex')
$$;

DO $$
DECLARE
  r record;
  h text := repeat('0', 64);
  last bigint := 0;
BEGIN
  FOR r IN SELECT id, at, actor, action, target, detail FROM audit_log ORDER BY id LOOP
    UPDATE audit_log SET prev_hash = h, hash = audit_row_hash(h, r.id, r.at, r.actor, r.action, r.target, r.detail)
      WHERE id = r.id RETURNING hash INTO h;
    last := r.id;
  END LOOP;
  INSERT INTO audit_chain (id, last_id, last_hash) VALUES (1, last, h);
END $$;

ALTER TABLE audit_log ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL;

-- Chains a new row: after the head, numbered head + 1 (no sequence: ids follow the chain
-- without gaps, whatever order instances wait for the lock in); an explicit id above the
-- head's, as `tserve copy` gives, is kept.
ALTER TABLE audit_log ALTER COLUMN id DROP DEFAULT;
CREATE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  head audit_chain%ROWTYPE;
BEGIN
  SELECT * INTO head FROM audit_chain WHERE id = 1 FOR UPDATE;
  IF NEW.id IS NULL OR NEW.id <= head.last_id THEN
    NEW.id := head.last_id + 1;
  END IF;
  NEW.prev_hash := head.last_hash;
  NEW.hash := audit_row_hash(NEW.prev_hash, NEW.id, NEW.at, NEW.actor, NEW.action, NEW.target, NEW.detail);
  UPDATE audit_chain SET last_id = NEW.id, last_hash = NEW.hash WHERE id = 1;
  RETURN NEW;
END $$;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_chain();

-- Defence in depth: no row is changed or removed (verify still catches an edit made
-- with these triggers dropped).
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_chain_no_delete BEFORE DELETE OR TRUNCATE ON audit_chain FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Consecutive failed logins per account ('user:<name>', 'terminal:<id>'); see schema.sql.
CREATE TABLE login_failures (
  account         text COLLATE "C" PRIMARY KEY,
  failures        integer NOT NULL,
  last_failure_at bigint NOT NULL
);
