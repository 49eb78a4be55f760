-- Fold the spans committed after $from_snapshot into traffic_hourly. Counts add up, first
-- and last times combine, so each span is counted once by the run that first sees it
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

CREATE OR REPLACE TEMP TABLE rc_traffic_changed AS
SELECT feature, node_id, model_name, model_version, hour,
    sum(spans) AS spans, min(first_start) AS first_start, max(last_start) AS last_start
FROM (
    SELECT t.* FROM traffic_hourly t
    SEMI JOIN rc_new_traffic n
        ON n.feature = t.feature AND n.hour = t.hour
        AND n.node_id IS NOT DISTINCT FROM t.node_id
        AND n.model_name IS NOT DISTINCT FROM t.model_name
        AND n.model_version IS NOT DISTINCT FROM t.model_version
    UNION ALL BY NAME
    SELECT * FROM rc_new_traffic
)
GROUP BY ALL;

DELETE FROM traffic_hourly t USING rc_new_traffic n
WHERE n.feature = t.feature AND n.hour = t.hour
    AND n.node_id IS NOT DISTINCT FROM t.node_id
    AND n.model_name IS NOT DISTINCT FROM t.model_name
    AND n.model_version IS NOT DISTINCT FROM t.model_version;

INSERT INTO traffic_hourly BY NAME SELECT * FROM rc_traffic_changed;
