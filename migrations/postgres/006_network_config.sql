-- Issue 13: the network is configured without code (src/network). An entity carries its
-- invoicing identity: its partita IVA (the owner's issues the circuit-fee invoices) and
-- its FatturaPA CodiceDestinatario; both null when none (the settings
-- TSERVE_OWNER_VAT_NUMBER and TSERVE_FATTURAPA_CODES stand in). As in schema.sql.
ALTER TABLE entities ADD COLUMN vat_number text COLLATE "C" CHECK (vat_number IS NULL OR length(vat_number) = 11);
ALTER TABLE entities ADD COLUMN office_code text COLLATE "C" CHECK (office_code IS NULL OR length(office_code) = 6);
