-- Spans are written one file per UTC day of start_time (DuckLake partitioning; files
-- written before this migration keep their layout), so retention (store.retention)
-- deletes whole files and a reader of a time window skips the other days' files.
ALTER TABLE spans SET PARTITIONED BY (year(start_time), month(start_time), day(start_time));

-- What retention deleted: one row per table and pass that deleted rows, committed with
-- the deletion. The reconciler reads it to learn that spans it had seen are gone.
CREATE TABLE retention_log (
    table_name    VARCHAR NOT NULL,     -- spans | node_heartbeats | ingested_batches | ingest_stats
    cutoff        TIMESTAMPTZ NOT NULL, -- rows older than this (by the table's clock column) went
    rows_deleted  BIGINT NOT NULL,
    deleted_at    TIMESTAMPTZ NOT NULL
);
