-- output_drift: every pair of variants of a feature, their score and label distributions
-- compared by PSI and Jensen-Shannon divergence (base 2, in [0, 1]). Empty buckets count
-- as 0.0001 of the distribution so that PSI stays finite. 'drifting' when either PSI is
-- at least 0.25 (the usual "significant shift"), judged once both variants have
-- $min_answers answers of that kind.
DELETE FROM output_drift;

INSERT INTO output_drift BY NAME
WITH totals AS (
    SELECT feature, variant, kind, sum(answers) AS total
    FROM output_histograms GROUP BY ALL
),
pairs AS (
    SELECT a.feature, a.kind, a.variant AS variant_a, b.variant AS variant_b,
        a.total AS total_a, b.total AS total_b
    FROM totals a
    JOIN totals b ON b.feature = a.feature AND b.kind = a.kind AND a.variant < b.variant
),
buckets AS (
    SELECT DISTINCT feature, kind, bucket FROM output_histograms
),
shares AS (
    SELECT
        p.feature, p.kind, p.variant_a, p.variant_b, p.total_a, p.total_b,
        greatest(coalesce(ha.answers, 0) / p.total_a, 0.0001) AS pa,
        greatest(coalesce(hb.answers, 0) / p.total_b, 0.0001) AS pb
    FROM pairs p
    JOIN buckets k ON k.feature = p.feature AND k.kind = p.kind
    LEFT JOIN output_histograms ha
        ON ha.feature = p.feature AND ha.variant = p.variant_a
        AND ha.kind = p.kind AND ha.bucket = k.bucket
    LEFT JOIN output_histograms hb
        ON hb.feature = p.feature AND hb.variant = p.variant_b
        AND hb.kind = p.kind AND hb.bucket = k.bucket
),
divergence AS (
    SELECT
        feature, kind, variant_a, variant_b,
        any_value(total_a) AS total_a,
        any_value(total_b) AS total_b,
        sum((pa - pb) * ln(pa / pb)) AS psi,
        sum(0.5 * pa * log2(pa / ((pa + pb) / 2)) + 0.5 * pb * log2(pb / ((pa + pb) / 2)))
            AS js
    FROM shares
    GROUP BY ALL
),
by_pair AS (
    SELECT
        feature, variant_a, variant_b,
        max(total_a) AS answers_a,
        max(total_b) AS answers_b,
        max(psi) FILTER (WHERE kind = 'score') AS score_psi,
        max(js) FILTER (WHERE kind = 'score') AS score_js,
        max(psi) FILTER (WHERE kind = 'label') AS label_psi,
        max(js) FILTER (WHERE kind = 'label') AS label_js,
        bool_or(least(total_a, total_b) >= $min_answers) AS enough,
        bool_or(least(total_a, total_b) >= $min_answers AND psi >= 0.25) AS shifted
    FROM divergence
    GROUP BY ALL
)
SELECT
    d.feature, d.variant_a, d.variant_b,
    coalesce(v.shared_inputs, 0) AS shared_inputs,
    d.answers_a, d.answers_b, d.score_psi, d.score_js, d.label_psi, d.label_js,
    CASE
        WHEN NOT d.enough THEN 'not enough data'
        WHEN d.shifted THEN 'drifting'
        ELSE 'stable'
    END AS verdict
FROM by_pair d
LEFT JOIN variant_pairs v
    ON v.feature = d.feature AND v.variant_a = d.variant_a AND v.variant_b = d.variant_b;
