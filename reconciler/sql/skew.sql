-- version_share and skew as of $as_of (needs rc_inventory, rc_version_rank, rc_policy).
-- A node's version of a feature: the newest version of the feature's models it reports
-- loaded, or, when it reports none, the version of its latest span since $since.
CREATE OR REPLACE TEMP TABLE rc_node_version AS
WITH by_inventory AS (
    SELECT i.feature, i.node_id,
        arg_min(i.model_version, v.version_rank) AS model_version,
        max(i.last_seen_at) AS last_seen,
        'inventory' AS source
    FROM rc_inventory i
    JOIN rc_version_rank v ON v.feature = i.feature AND v.model_version = i.model_version
    GROUP BY ALL
),
by_traffic AS (
    SELECT feature, node_id,
        arg_max(model_version, last_start) AS model_version,
        max(last_start) AS last_seen,
        'traffic' AS source
    FROM traffic_hourly
    WHERE hour >= date_trunc('hour', CAST($since AS TIMESTAMPTZ))
        AND node_id IS NOT NULL AND model_version IS NOT NULL
    GROUP BY ALL
)
SELECT * FROM by_inventory
UNION ALL
SELECT t.* FROM by_traffic t
ANTI JOIN by_inventory i ON i.feature = t.feature AND i.node_id = t.node_id;

CREATE OR REPLACE TEMP TABLE rc_version_first_seen AS
SELECT feature, model_version, min(first_start) AS first_seen
FROM traffic_hourly WHERE model_version IS NOT NULL
GROUP BY ALL;

DELETE FROM version_share;

INSERT INTO version_share BY NAME
WITH traffic AS (
    SELECT feature, model_version, sum(spans) AS spans
    FROM traffic_hourly
    WHERE hour >= date_trunc('hour', CAST($since AS TIMESTAMPTZ)) AND model_version IS NOT NULL
    GROUP BY ALL
),
node_counts AS (
    SELECT feature, model_version, count(*) AS nodes FROM rc_node_version GROUP BY ALL
)
SELECT
    v.feature, v.model_version, v.version_rank, f.first_seen,
    coalesce(t.spans, 0) AS traffic_spans,
    coalesce(t.spans / sum(t.spans) OVER (PARTITION BY v.feature), 0) AS traffic_share,
    coalesce(n.nodes, 0) AS nodes,
    coalesce(n.nodes / sum(n.nodes) OVER (PARTITION BY v.feature), 0) AS node_share
FROM rc_version_rank v
LEFT JOIN traffic t ON t.feature = v.feature AND t.model_version = v.model_version
LEFT JOIN node_counts n ON n.feature = v.feature AND n.model_version = v.model_version
LEFT JOIN rc_version_first_seen f ON f.feature = v.feature AND f.model_version = v.model_version;

DELETE FROM skew;

INSERT INTO skew BY NAME
WITH placed AS (
    SELECT
        n.*,
        v.version_rank AS versions_behind,
        newest.model_version AS newest_version,
        (SELECT min(f.first_seen)
         FROM rc_version_rank newer
         JOIN rc_version_first_seen f
            ON f.feature = newer.feature AND f.model_version = newer.model_version
         WHERE newer.feature = n.feature AND newer.version_rank < v.version_rank
        ) AS newer_since,
        p.max_versions_behind,
        p.max_days_behind
    FROM rc_node_version n
    JOIN rc_version_rank v ON v.feature = n.feature AND v.model_version = n.model_version
    JOIN rc_version_rank newest ON newest.feature = n.feature AND newest.version_rank = 0
    JOIN rc_policy p ON p.feature = n.feature
),
measured AS (
    SELECT *,
        CASE WHEN versions_behind > 0 THEN
            greatest(epoch(CAST($as_of AS TIMESTAMPTZ)) - epoch(newer_since), 0) / 86400
        END AS days_behind
    FROM placed
)
SELECT
    feature, node_id, model_version, newest_version, versions_behind, days_behind, source,
    last_seen, max_versions_behind, max_days_behind,
    versions_behind > max_versions_behind OR coalesce(days_behind > max_days_behind, false)
        AS violation,
    nullif(concat_ws('; ',
        CASE WHEN versions_behind > max_versions_behind THEN
            printf('%d versions behind %s (tolerates %d)',
                   versions_behind, newest_version, max_versions_behind) END,
        CASE WHEN days_behind > max_days_behind THEN
            printf('%.1f days behind (tolerates %g)', days_behind, max_days_behind) END
    ), '') AS reason
FROM measured;
