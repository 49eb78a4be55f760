-- Calls refused at the door (store.trust), per stats interval.
ALTER TABLE ingest_stats ADD COLUMN requests_unauthenticated BIGINT;  -- no, unknown or revoked credential
ALTER TABLE ingest_stats ADD COLUMN requests_denied BIGINT;           -- another node's identity
