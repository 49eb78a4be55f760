-- Fold rc_new_traffic (traffic_new.sql) into traffic_hourly.
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
