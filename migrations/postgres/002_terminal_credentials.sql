-- Terminal credentials (issue 12, terminal-protocol.md §1.5 and §2).
--
-- secret_hash now holds the hash of the terminal's JSON API secret, issued apart from
-- the TMK. Until now it held a hash of the TMK in hex, so the TMK opened
-- POST /v1/auth/token: those hashes are erased (''). Such a terminal has no API secret,
-- and its token requests are refused with a detail saying so, until an admin issues one
-- (POST /v1/admin/terminals/{id}/api-secret or `tserve credentials rotate-secret`).
UPDATE terminals SET secret_hash = '';

-- The last accepted sign-on (field 7 as epoch ms, field 11): a 0800/001 not later than
-- it is a replay, answered 63 (compare-and-set per terminal, across instances).
ALTER TABLE terminals ADD COLUMN IF NOT EXISTS signon_at bigint, ADD COLUMN IF NOT EXISTS signon_stan integer;
