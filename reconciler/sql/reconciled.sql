-- The canonical answer of every recomputed group (docs/policies.md, "Resolution rules").
-- Needs rc_answers, rc_comparisons, rc_policy and rc_variant_rank.
CREATE OR REPLACE TEMP TABLE rc_reconciled AS
WITH agreeing AS (
    SELECT feature, input_fingerprint, variant, count(*) AS agreeing
    FROM (
        SELECT feature, input_fingerprint, variant_a AS variant
        FROM rc_comparisons WHERE NOT disagrees
        UNION ALL
        SELECT feature, input_fingerprint, variant_b FROM rc_comparisons WHERE NOT disagrees
    )
    GROUP BY ALL
),
group_agreed AS (
    SELECT feature, input_fingerprint, NOT bool_or(disagrees) AS agreed
    FROM rc_comparisons
    GROUP BY ALL
),
candidates AS (
    SELECT
        a.*,
        coalesce(v.agreeing, 0) AS agreeing,
        r.precision_rank,
        r.version_order,
        r.is_reference,
        CASE
            WHEN p.resolution <> 'reference' THEN p.resolution
            WHEN bool_or(r.is_reference) OVER grp THEN 'reference'
            ELSE coalesce(p.reference_fallback, 'none')
        END AS resolved_by,
        count(*) OVER grp AS variants,
        sum(a.answers) OVER grp AS answers_total,
        min(a.start_time) OVER grp AS first_seen,
        max(a.last_time) OVER grp AS last_seen
    FROM rc_answers a
    JOIN rc_variant_rank r ON r.feature = a.feature AND r.variant = a.variant
    JOIN rc_policy p ON p.feature = a.feature
    LEFT JOIN agreeing v
        ON v.feature = a.feature
        AND v.input_fingerprint = a.input_fingerprint
        AND v.variant = a.variant
    WINDOW grp AS (PARTITION BY a.feature, a.input_fingerprint)
),
chosen AS (
    SELECT *
    FROM candidates
    QUALIFY row_number() OVER (
        PARTITION BY feature, input_fingerprint
        ORDER BY
            CASE WHEN resolved_by = 'reference' THEN NOT is_reference END,
            CASE WHEN resolved_by = 'majority' THEN -agreeing END,
            CASE WHEN resolved_by = 'newest' THEN -version_order END,
            precision_rank,
            -version_order,
            variant
    ) = 1
)
SELECT
    c.feature,
    c.input_fingerprint,
    CASE WHEN c.resolved_by <> 'none' THEN c.variant END AS canonical_variant,
    c.resolved_by,
    CASE WHEN c.resolved_by <> 'none' THEN c.output_label END AS output_label,
    CASE WHEN c.resolved_by <> 'none' THEN c.output_score END AS output_score,
    CASE WHEN c.resolved_by <> 'none' THEN c.output_topk END AS output_topk,
    CASE WHEN c.resolved_by <> 'none' THEN c.output_digest END AS output_digest,
    c.variants,
    CASE WHEN c.resolved_by <> 'none' THEN 1 + c.agreeing ELSE 0 END AS agreeing_variants,
    coalesce(g.agreed, true) AS agreed,
    c.answers_total AS answers,
    c.first_seen,
    c.last_seen
FROM chosen c
LEFT JOIN group_agreed g
    ON g.feature = c.feature AND g.input_fingerprint = c.input_fingerprint;
