-- Self-telemetry of the ingest service: one row per server per stats interval.
CREATE TABLE ingest_stats (
    server_id          VARCHAR NOT NULL,
    recorded_at        TIMESTAMPTZ NOT NULL,
    interval_s         DOUBLE NOT NULL,
    spans_accepted     BIGINT NOT NULL,
    spans_rejected     BIGINT NOT NULL,
    batches            BIGINT NOT NULL,
    duplicate_batches  BIGINT NOT NULL,
    requests_refused   BIGINT NOT NULL,  -- answered RESOURCE_EXHAUSTED (queue full)
    requests_invalid   BIGINT NOT NULL,  -- answered INVALID_ARGUMENT
    commits            BIGINT NOT NULL,
    commit_seconds     DOUBLE NOT NULL,  -- time spent committing in the interval
    queue_spans        BIGINT NOT NULL   -- accepted, not yet committed, at the end of the interval
);
