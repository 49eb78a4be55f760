-- Every pair of variants that answered the same input within the window, when both
-- answers carry what the comparator compares. Inputs with one span have no pair.
CREATE OR REPLACE TEMP TABLE rc_comparisons AS
WITH paired AS (
    SELECT
        a.feature,
        a.input_fingerprint,
        a.variant AS variant_a,
        b.variant AS variant_b,
        p.comparator,
        p.tolerance,
        p.topk_min_overlap,
        a.output_label AS label_a, b.output_label AS label_b,
        a.output_score AS score_a, b.output_score AS score_b,
        a.output_topk AS topk_a, b.output_topk AS topk_b,
        a.output_digest AS digest_a, b.output_digest AS digest_b,
        px_topk_overlap(a.output_topk, b.output_topk) AS topk_overlap,
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
    WHERE a.multi_input AND b.multi_input
        AND abs(epoch(b.start_time) - epoch(a.start_time)) <= p.window_s
        AND px_comparable(p.comparator, a.output_label, b.output_label, a.output_score,
                          b.output_score, a.output_topk, b.output_topk, a.output_digest,
                          b.output_digest)
)
SELECT
    feature,
    input_fingerprint,
    variant_a,
    variant_b,
    px_disagrees(comparator, tolerance, topk_min_overlap, label_a, label_b, score_a, score_b,
                 topk_overlap, digest_a, digest_b) AS disagrees,
    px_delta(comparator, score_a, score_b, topk_overlap) AS delta,
    abs(score_a - score_b) AS score_delta,
    topk_overlap,
    px_output(comparator, label_a, score_a, topk_a, digest_a) AS output_a,
    px_output(comparator, label_b, score_b, topk_b, digest_b) AS output_b,
    node_a, node_b, time_a, time_b, trace_id_a, trace_id_b, span_id_a, span_id_b
FROM paired;
