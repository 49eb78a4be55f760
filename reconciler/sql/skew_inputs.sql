-- What skew needs before versions can be ordered (ranks.py orders rc_versions_in_use).
-- In use: seen in traffic since $since, or loaded on a node that reported since $since.
-- A node's inventory lists models, not features: a model serves the features its spans
-- carried.
CREATE OR REPLACE TEMP TABLE rc_inventory AS
WITH loaded AS (
    SELECT node_id, last_seen_at, unnest(models) AS m
    FROM rc_nodes  -- the nodes seen in the skew window, read with the run's spans
),
served AS (
    SELECT DISTINCT feature, model_name FROM traffic_hourly WHERE model_name IS NOT NULL
)
SELECT s.feature, l.node_id, l.m.model_name AS model_name, l.m.model_version AS model_version,
    l.last_seen_at
FROM loaded l
JOIN served s ON s.model_name = l.m.model_name
WHERE l.m.model_version IS NOT NULL AND coalesce(l.m.loaded, true);

CREATE OR REPLACE TEMP TABLE rc_versions_in_use AS
SELECT DISTINCT feature, model_version FROM traffic_hourly
WHERE hour >= date_trunc('hour', CAST($since AS TIMESTAMPTZ)) AND model_version IS NOT NULL
UNION
SELECT DISTINCT feature, model_version FROM rc_inventory;
