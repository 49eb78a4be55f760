-- The spans committed after $from_snapshot, per hour, feature, node and version;
-- traffic_merge.sql folds them into traffic_hourly. Counts add up, first and last times
-- combine, so each span is counted once by the run that first sees it
-- (spans are delivered once by the collector; a copy from an at-least-once exporter
-- counts as the delivery it is, in rebuilds too).
CREATE OR REPLACE TEMP TABLE rc_new_traffic AS
SELECT
    feature, node_id, model_name, model_version,
    date_trunc('hour', start_time) AS hour,
    count(*) AS spans,
    min(start_time) AS first_start,
    max(start_time) AS last_start
FROM spans
WHERE feature IS NOT NULL AND snapshot_id > $from_snapshot
GROUP BY ALL;

