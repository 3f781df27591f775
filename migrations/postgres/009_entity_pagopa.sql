-- Issue 15: an entity whose debt positions live in pagoPA (its notices are verified and
-- paid through the node, docs/pagopa.md); every existing entity keeps its local path.
-- As in schema.sql.
ALTER TABLE entities ADD COLUMN pagopa smallint NOT NULL DEFAULT 0 CHECK (pagopa IN (0, 1));
