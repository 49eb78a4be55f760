-- latency_budgets: each feature's variants in the latency window (latency_histograms)
-- against the budget of their tier (rc_policy, rc_tier_budget). The p99 is the
-- nearest-rank one: the rank-th fastest warm span, rank = ceil(0.99 n) = (99 n + 99) // 100.
-- It is over the budget exactly when more than n - rank warm spans are slower than the
-- budget (over_budget counts them exactly). p99_ms is the upper end of the bucket the
-- rank falls in, narrowed by that exact verdict: an upper bound at most one bucket
-- width (4.4%) above the p99. Judged once the window holds $min_spans warm spans.
DELETE FROM latency_budgets;

INSERT INTO latency_budgets BY NAME
WITH warm AS (
    SELECT feature, variant, bucket, sum(spans) AS spans
    FROM latency_histograms WHERE NOT cold_start
    GROUP BY ALL
),
cumulative AS (
    SELECT feature, variant, bucket,
        sum(spans) OVER (PARTITION BY feature, variant ORDER BY bucket) AS at_or_below,
        sum(spans) OVER (PARTITION BY feature, variant) AS total
    FROM warm
),
p99_bucket AS (
    SELECT feature, variant, min(bucket) AS bucket
    FROM cumulative WHERE at_or_below >= (99 * total + 99) // 100
    GROUP BY ALL
),
counted AS (
    SELECT feature, variant, any_value(hardware_tier) AS hardware_tier,
        coalesce(sum(spans) FILTER (WHERE NOT cold_start), 0) AS spans,
        coalesce(sum(spans) FILTER (WHERE cold_start), 0) AS cold_starts,
        coalesce(sum(over_budget) FILTER (WHERE NOT cold_start), 0) AS over_budget
    FROM latency_histograms
    GROUP BY ALL
),
judged AS (
    SELECT c.*,
        coalesce(b.budget_ms, p.latency_budget_ms) AS budget_ms,
        c.over_budget > c.spans - (99 * c.spans + 99) // 100 AS over,
        px_latency_bucket_end(q.bucket) AS bucket_end
    FROM counted c
    JOIN rc_policy p ON p.feature = c.feature
    LEFT JOIN rc_tier_budget b ON b.feature = c.feature AND b.hardware_tier = c.hardware_tier
    LEFT JOIN p99_bucket q ON q.feature = c.feature AND q.variant = c.variant
)
SELECT
    feature, variant, hardware_tier, CAST($window_start AS TIMESTAMPTZ) AS window_start,
    spans, cold_starts, over_budget,
    CASE WHEN over THEN bucket_end ELSE least(bucket_end, budget_ms) END AS p99_ms,
    budget_ms,
    CASE
        WHEN spans < $min_spans THEN 'not enough data'
        WHEN over THEN 'over budget'
        ELSE 'within budget'
    END AS verdict
FROM judged;
