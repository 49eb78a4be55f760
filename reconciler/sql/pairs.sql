-- variant_pairs of the features in rc_features_touched, from their comparisons and their
-- variants' repeats. A pair diverges when the lower end of its 95% Wilson interval is above
-- both the feature's tolerated rate and the pair's noise floor (the larger disagreement
-- of either variant with itself, known once it has min_shared_inputs compared repeats).
CREATE OR REPLACE TEMP TABLE rc_noise AS
SELECT
    a.feature,
    a.variant,
    count(*) FILTER (WHERE a.repeat_compared) AS shared_inputs,
    count(*) FILTER (WHERE a.repeat_disagrees) AS disagreements,
    avg(a.repeat_delta) AS mean_abs_delta,
    quantile_cont(a.repeat_delta, 0.95) AS p95_abs_delta,
    min(a.start_time) FILTER (WHERE a.repeat_compared) AS first_seen,
    max(a.repeat_time) FILTER (WHERE a.repeat_compared) AS last_seen
FROM reconcile_repeats a
JOIN rc_features_touched f ON f.feature = a.feature
GROUP BY ALL
HAVING count(*) FILTER (WHERE a.repeat_compared) > 0;

CREATE OR REPLACE TEMP TABLE rc_noise_floor AS
SELECT n.feature, n.variant, n.disagreements / n.shared_inputs AS rate
FROM rc_noise n
JOIN rc_policy p ON p.feature = n.feature
WHERE n.shared_inputs >= p.min_shared_inputs;

DELETE FROM variant_pairs WHERE feature IN (SELECT feature FROM rc_features_touched);

INSERT INTO variant_pairs BY NAME
WITH cross_pairs AS (
    SELECT
        c.feature, c.variant_a, c.variant_b,
        count(*) AS shared_inputs,
        count(*) FILTER (WHERE c.disagrees) AS disagreements,
        avg(c.score_delta) AS mean_abs_delta,
        quantile_cont(c.score_delta, 0.95) AS p95_abs_delta,
        min(least(c.time_a, c.time_b)) AS first_seen,
        max(greatest(c.time_a, c.time_b)) AS last_seen
    FROM comparisons c
    JOIN rc_features_touched f ON f.feature = c.feature
    GROUP BY ALL
),
judged AS (
    SELECT
        x.*,
        x.disagreements / x.shared_inputs AS disagreement_rate,
        px_wilson_low(x.disagreements, x.shared_inputs) AS rate_low,
        px_wilson_high(x.disagreements, x.shared_inputs) AS rate_high,
        greatest(na.rate, nb.rate) AS noise_floor,
        p.rate_tolerance AS tolerance,
        p.min_shared_inputs,
        p.comparator
    FROM cross_pairs x
    JOIN rc_policy p ON p.feature = x.feature
    LEFT JOIN rc_noise_floor na ON na.feature = x.feature AND na.variant = x.variant_a
    LEFT JOIN rc_noise_floor nb ON nb.feature = x.feature AND nb.variant = x.variant_b
)
SELECT
    * EXCLUDE (min_shared_inputs),
    CASE
        WHEN shared_inputs < min_shared_inputs THEN 'not enough data'
        WHEN rate_low > greatest(tolerance, coalesce(noise_floor, 0)) THEN 'diverging'
        ELSE 'within tolerance'
    END AS verdict
FROM judged
UNION ALL BY NAME
SELECT
    n.feature,
    n.variant AS variant_a,
    n.variant AS variant_b,
    p.comparator,
    n.shared_inputs,
    n.disagreements,
    n.disagreements / n.shared_inputs AS disagreement_rate,
    px_wilson_low(n.disagreements, n.shared_inputs) AS rate_low,
    px_wilson_high(n.disagreements, n.shared_inputs) AS rate_high,
    f.rate AS noise_floor,
    p.rate_tolerance AS tolerance,
    n.mean_abs_delta,
    n.p95_abs_delta,
    CASE WHEN f.rate IS NULL THEN 'not enough data' ELSE 'noise floor' END AS verdict,
    n.first_seen,
    n.last_seen
FROM rc_noise n
JOIN rc_policy p ON p.feature = n.feature
LEFT JOIN rc_noise_floor f ON f.feature = n.feature AND f.variant = n.variant;
