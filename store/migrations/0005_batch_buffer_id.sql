-- A batch is identified by (node, collector buffer, sequence): a collector whose buffer
-- is wiped starts numbering again under a new buffer id. NULL for senders without one.
ALTER TABLE ingested_batches ADD COLUMN buffer_id VARCHAR;
