-- Recompute reconciliation groups: every (feature, input fingerprint) in rc_touched, or
-- every group when /*touched*/ is empty (a full rebuild). Results go to temp tables
-- rc_answers, rc_comparisons and rc_reconciled; replace.sql swaps them into the lake.
-- Needs rc_policy (policies.py) and, before rc_reconciled, rc_variant_rank (ranks.py).

-- The spans of those groups, each delivered span once (an at-least-once exporter may
-- deliver a span twice; a span is never compared with its own copy).
CREATE OR REPLACE TEMP TABLE rc_group_spans AS
SELECT
    s.feature,
    s.input_fingerprint,
    px_variant(s.model_name, s.model_version, px_quantization(s.quantization),
               px_tier(s.hardware_tier), s.accelerator) AS variant,
    s.model_name,
    s.model_version,
    px_quantization(s.quantization) AS quantization,
    px_tier(s.hardware_tier) AS hardware_tier,
    coalesce(s.accelerator, '') AS accelerator,
    s.node_id,
    s.start_time,
    s.trace_id,
    s.span_id,
    s.output_label,
    s.output_score,
    s.output_topk,
    s.output_digest
FROM spans s /*touched*/
WHERE s.feature IS NOT NULL AND s.input_fingerprint IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY s.trace_id, s.span_id ORDER BY s.ingested_at) = 1;

-- Each variant's answer to each input: its first span; the second one is its repeat.
CREATE OR REPLACE TEMP TABLE rc_answers AS
WITH ordered AS (
    SELECT
        g.*,
        count(*) OVER everything AS answers,
        max(g.start_time) OVER everything AS last_time,
        lead(g.start_time) OVER by_time AS r_time,
        lead(g.output_label) OVER by_time AS r_label,
        lead(g.output_score) OVER by_time AS r_score,
        lead(g.output_topk) OVER by_time AS r_topk,
        lead(g.output_digest) OVER by_time AS r_digest,
        row_number() OVER by_time AS nth
    FROM rc_group_spans g
    WINDOW
        everything AS (PARTITION BY g.feature, g.input_fingerprint, g.variant),
        by_time AS (PARTITION BY g.feature, g.input_fingerprint, g.variant
                    ORDER BY g.start_time, g.span_id)
)
SELECT
    o.feature, o.input_fingerprint, o.variant,
    o.model_name, o.model_version, o.quantization, o.hardware_tier, o.accelerator,
    o.answers, o.node_id, o.start_time, o.last_time, o.trace_id, o.span_id,
    o.output_label, o.output_score, o.output_topk, o.output_digest,
    o.r_time AS repeat_time,
    coalesce(
        epoch(o.r_time) - epoch(o.start_time) <= p.window_s
        AND px_comparable(p.comparator, o.output_label, o.r_label, o.output_score, o.r_score,
                          o.output_topk, o.r_topk, o.output_digest, o.r_digest),
        false) AS repeat_compared,
    CASE WHEN repeat_compared THEN
        px_disagrees(p.comparator, p.tolerance, p.topk_min_overlap,
                     o.output_label, o.r_label, o.output_score, o.r_score,
                     o.output_topk, o.r_topk, o.output_digest, o.r_digest)
    END AS repeat_disagrees,
    CASE WHEN repeat_compared THEN
        px_delta(p.comparator, o.output_score, o.r_score, o.output_topk, o.r_topk)
    END AS repeat_delta
FROM ordered o
JOIN rc_policy p ON p.feature = o.feature
WHERE o.nth = 1;

-- Every pair of variants that answered the same input within the window, when both
-- answers carry what the comparator compares.
CREATE OR REPLACE TEMP TABLE rc_comparisons AS
SELECT
    a.feature,
    a.input_fingerprint,
    a.variant AS variant_a,
    b.variant AS variant_b,
    px_disagrees(p.comparator, p.tolerance, p.topk_min_overlap,
                 a.output_label, b.output_label, a.output_score, b.output_score,
                 a.output_topk, b.output_topk, a.output_digest, b.output_digest) AS disagrees,
    px_delta(p.comparator, a.output_score, b.output_score, a.output_topk, b.output_topk) AS delta,
    abs(a.output_score - b.output_score) AS score_delta,
    px_topk_overlap(a.output_topk, b.output_topk) AS topk_overlap,
    px_output(p.comparator, a.output_label, a.output_score, a.output_topk, a.output_digest)
        AS output_a,
    px_output(p.comparator, b.output_label, b.output_score, b.output_topk, b.output_digest)
        AS output_b,
    a.node_id AS node_a,
    b.node_id AS node_b,
    a.start_time AS time_a,
    b.start_time AS time_b,
    a.trace_id AS trace_id_a,
    b.trace_id AS trace_id_b,
    a.span_id AS span_id_a,
    b.span_id AS span_id_b
FROM rc_answers a
JOIN rc_answers b
    ON b.feature = a.feature
    AND b.input_fingerprint = a.input_fingerprint
    AND a.variant < b.variant
JOIN rc_policy p ON p.feature = a.feature
WHERE abs(epoch(b.start_time) - epoch(a.start_time)) <= p.window_s
    AND px_comparable(p.comparator, a.output_label, b.output_label, a.output_score,
                      b.output_score, a.output_topk, b.output_topk, a.output_digest,
                      b.output_digest);
