-- The canonical answer of every recomputed group (docs/policies.md, "Resolution rules").
-- Needs rc_answers, rc_comparisons, rc_policy and rc_variant_rank (ranks.py).
--
-- Each rule is an order of the group's variants; the first is canonical. One aggregation
-- per group keeps the first variant by the feature's rule and the first by its fallback
-- (used by `reference` when the reference variant did not answer); the canonical answer
-- is then joined back (carrying whole answers through the aggregation costs twice as much).
-- Only `majority` depends on the group (its votes); the rest of every rule's order is
-- fixed per variant, so it is ranked once in rc_variant_order and the aggregation
-- compares integers (px_vote_key), not the whole struct key (4x faster).
-- An input with one span (most inputs) takes a short path to the same row: its one answer
-- is canonical unless the rule is `reference`, the variant is not the reference and
-- there is no fallback.
CREATE OR REPLACE TEMP TABLE rc_variant_order AS
SELECT
    r.feature,
    r.variant,
    r.is_reference,
    row_number() OVER (
        PARTITION BY r.feature
        ORDER BY px_resolution_key(p.resolution, r.is_reference, 0, r.version_order,
                                   r.precision_rank, r.variant)
    ) AS rule_rank,
    row_number() OVER (
        PARTITION BY r.feature
        ORDER BY px_resolution_key(coalesce(p.reference_fallback, 'highest_precision'), false,
                                   0, r.version_order, r.precision_rank, r.variant)
    ) AS fallback_rank
FROM rc_variant_rank r
JOIN rc_policy p ON p.feature = r.feature;

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
        a.feature,
        a.input_fingerprint,
        a.answers,
        a.start_time,
        a.last_time,
        r.is_reference,
        p.resolution,
        p.reference_fallback,
        a.variant,
        px_vote_key(p.resolution, coalesce(v.agreeing, 0), r.rule_rank) AS by_rule,
        px_vote_key(coalesce(p.reference_fallback, 'highest_precision'),
                    coalesce(v.agreeing, 0), r.fallback_rank) AS by_fallback
    FROM rc_answers a
    JOIN rc_variant_order r ON r.feature = a.feature AND r.variant = a.variant
    JOIN rc_policy p ON p.feature = a.feature
    LEFT JOIN agreeing v
        ON v.feature = a.feature
        AND v.input_fingerprint = a.input_fingerprint
        AND v.variant = a.variant
    WHERE a.multi_input
),
per_group AS (
    SELECT
        feature,
        input_fingerprint,
        CASE
            WHEN any_value(resolution) <> 'reference' THEN any_value(resolution)
            WHEN bool_or(is_reference) THEN 'reference'
            ELSE coalesce(any_value(reference_fallback), 'none')
        END AS resolved_by,
        arg_min(variant, by_rule) AS first_by_rule,
        arg_min(variant, by_fallback) AS first_by_fallback,
        count(*) AS variants,
        sum(answers) AS answers,
        min(start_time) AS first_seen,
        max(last_time) AS last_seen
    FROM candidates
    GROUP BY feature, input_fingerprint
),
chosen AS (
    SELECT
        *,
        CASE
            WHEN resolved_by = 'none' THEN NULL
            WHEN resolved_by = 'reference' OR resolved_by = any_resolution THEN first_by_rule
            ELSE first_by_fallback
        END AS canonical_variant
    FROM (
        SELECT g.*, p.resolution AS any_resolution
        FROM per_group g JOIN rc_policy p ON p.feature = g.feature
    )
)
SELECT
    c.feature,
    c.input_fingerprint,
    c.canonical_variant,
    c.resolved_by,
    a.output_label,
    a.output_score,
    a.output_topk,
    a.output_digest,
    c.variants,
    CASE WHEN c.canonical_variant IS NULL THEN 0 ELSE 1 + coalesce(v.agreeing, 0) END
        AS agreeing_variants,
    coalesce(g.agreed, true) AS agreed,
    c.answers,
    c.first_seen,
    c.last_seen
FROM chosen c
LEFT JOIN (SELECT * FROM rc_answers WHERE multi_input) a
    ON a.feature = c.feature
    AND a.input_fingerprint = c.input_fingerprint
    AND a.variant = c.canonical_variant
LEFT JOIN agreeing v
    ON v.feature = c.feature
    AND v.input_fingerprint = c.input_fingerprint
    AND v.variant = c.canonical_variant
LEFT JOIN group_agreed g
    ON g.feature = c.feature AND g.input_fingerprint = c.input_fingerprint
UNION ALL BY NAME
SELECT
    feature,
    input_fingerprint,
    CASE WHEN resolved_by <> 'none' THEN variant END AS canonical_variant,
    resolved_by,
    CASE WHEN resolved_by <> 'none' THEN output_label END AS output_label,
    CASE WHEN resolved_by <> 'none' THEN output_score END AS output_score,
    CASE WHEN resolved_by <> 'none' THEN output_topk END AS output_topk,
    CASE WHEN resolved_by <> 'none' THEN output_digest END AS output_digest,
    1 AS variants,
    CASE WHEN resolved_by <> 'none' THEN 1 ELSE 0 END AS agreeing_variants,
    true AS agreed,
    answers,
    start_time AS first_seen,
    last_time AS last_seen
FROM (
    SELECT
        a.*,
        CASE
            WHEN p.resolution <> 'reference' THEN p.resolution
            WHEN r.is_reference THEN 'reference'
            ELSE coalesce(p.reference_fallback, 'none')
        END AS resolved_by
    FROM rc_answers a
    JOIN rc_variant_order r ON r.feature = a.feature AND r.variant = a.variant
    JOIN rc_policy p ON p.feature = a.feature
    WHERE NOT a.multi_input
);
