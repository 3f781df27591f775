-- A user can be disabled (issue 12): no login, its tokens refused by the API and the
-- stream, its open streams closed on every instance (the user.disabled event).
ALTER TABLE users ADD COLUMN disabled integer NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
