-- Issue 14: the console searches payments by identifier (notice number, plate...). By RRN
-- and receipt number it needs no index: both are the payment's id by construction
-- (src/ledger/book.ts), found by the primary key and checked against the column. As in schema.sql.
CREATE INDEX payments_identifier ON payments (identifier);
