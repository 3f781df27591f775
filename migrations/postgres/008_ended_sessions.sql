-- Issue 14: console sessions ended by logout, kept until the session's absolute cap
-- (`until`, epoch ms), pruned past it at each logout. As in schema.sql.
CREATE TABLE ended_sessions (
  session_id text COLLATE "C" PRIMARY KEY,
  until      bigint NOT NULL
);
CREATE INDEX ended_sessions_until ON ended_sessions (until);
