-- Issue 12: uploads imported, by the SHA-256 of their bytes, so that the same file sent
-- again is refused (409 DUPLICATE) before it is parsed. scope is the entity (or 'admin:'
-- and the entity an admin's CSV names). As in schema.sql.
CREATE TABLE position_imports (
  scope       text COLLATE "C" NOT NULL,
  sha256      text COLLATE "C" NOT NULL,
  positions   integer NOT NULL,
  imported_at bigint NOT NULL,
  PRIMARY KEY (scope, sha256)
);
