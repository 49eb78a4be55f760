-- The latencies of the spans committed after $from_snapshot that started in the latency
-- window (from $window_start), per feature, variant, minute, cold start or warm, and
-- exponential bucket (px_latency_bucket); latency_merge.sql folds them into
-- latency_histograms. over_budget counts the spans slower than the budget of their
-- tier (rc_policy, rc_tier_budget from the policies), which makes the verdict exact
-- whatever the bucket width. Like traffic_hourly, a span counts once per delivery.
CREATE OR REPLACE TEMP TABLE rc_new_latency AS
WITH timed AS (
    SELECT
        feature,
        px_variant(model_name, model_version, quantization, hardware_tier, accelerator)
            AS variant,
        coalesce(hardware_tier, 'unknown') AS hardware_tier,
        date_trunc('minute', start_time) AS minute,
        coalesce(cold_start, false) AS cold_start,
        duration_ms
    FROM spans
    WHERE feature IS NOT NULL AND duration_ms IS NOT NULL
        AND snapshot_id > $from_snapshot AND start_time >= $window_start
)
SELECT
    t.feature, t.variant, t.hardware_tier, t.minute, t.cold_start,
    px_latency_bucket(t.duration_ms) AS bucket,
    count(*) AS spans,
    count(*) FILTER (WHERE t.duration_ms > coalesce(b.budget_ms, p.latency_budget_ms))
        AS over_budget
FROM timed t
JOIN rc_policy p ON p.feature = t.feature
LEFT JOIN rc_tier_budget b ON b.feature = t.feature AND b.hardware_tier = t.hardware_tier
GROUP BY ALL;
