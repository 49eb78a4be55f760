-- What ingest cut from accepted spans (docs/wire-contract.md), per stats interval.
ALTER TABLE ingest_stats ADD COLUMN repeated_keys BIGINT;      -- earlier values of a repeated key
ALTER TABLE ingest_stats ADD COLUMN attributes_dropped BIGINT; -- past server.max_attributes_per_span
ALTER TABLE ingest_stats ADD COLUMN values_truncated BIGINT;   -- cut to server.max_attribute_value_bytes
