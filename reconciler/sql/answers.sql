-- The answers of the groups in slice $slice of rc_answer_rows (answer_rows.sql): one row
-- per (feature, input fingerprint, variant). Result: the temp table rc_answers;
-- comparisons.sql, reconciled.sql, then replace_groups.sql or rebuild_slice.sql follow.
-- Needs rc_policy (policy_table.py). `multi_input` tells the later steps whether the
-- input has more than one span (answer_rows.sql says why).

-- Each variant's answer to each input: its first span (by start time, then span id); the
-- next distinct span is its repeat. For variants with several spans, one hash
-- aggregation, no sort: the three first spans are kept so that a copy of the first (an
-- at-least-once exporter delivered it twice) is skipped, and `answers` counts distinct
-- spans.
CREATE OR REPLACE TEMP TABLE rc_answers AS
WITH per_variant AS (
    SELECT
        feature, input_fingerprint, variant,
        any_value(model_name) AS model_name,
        any_value(model_version) AS model_version,
        any_value(quantization) AS quantization,
        any_value(hardware_tier) AS hardware_tier,
        any_value(accelerator) AS accelerator,
        true AS multi_input,
        count(DISTINCT (trace_id, span_id)) AS answers,
        max(start_time) AS last_time,
        arg_min({'node_id': node_id, 'start_time': start_time, 'trace_id': trace_id,
                 'span_id': span_id, 'label': output_label, 'score': output_score,
                 'topk': output_topk, 'digest': output_digest},
                (start_time, span_id, trace_id), 3) AS firsts
    FROM rc_answer_rows
    WHERE slice = $slice AND variant_key IN (SELECT variant_key FROM rc_multi_answers)
    GROUP BY feature, input_fingerprint, variant
),
picked AS (
    SELECT
        * EXCLUDE (firsts),
        firsts[1] AS a,
        list_filter(firsts[2:], x -> x.span_id <> firsts[1].span_id
                                     OR x.trace_id <> firsts[1].trace_id)[1] AS r
    FROM per_variant
)
SELECT
    o.feature, o.input_fingerprint, o.variant,
    o.model_name, o.model_version, o.quantization, o.hardware_tier, o.accelerator,
    o.multi_input, o.answers, o.a.node_id AS node_id, o.a.start_time AS start_time,
    o.last_time, o.a.trace_id AS trace_id, o.a.span_id AS span_id,
    o.a.label AS output_label, o.a.score AS output_score, o.a.topk AS output_topk,
    o.a.digest AS output_digest,
    o.r.start_time AS repeat_time,
    coalesce(
        epoch(o.r.start_time) - epoch(o.a.start_time) <= p.window_s
        AND px_comparable(p.comparator, o.a.label, o.r.label, o.a.score, o.r.score,
                          o.a.topk, o.r.topk, o.a.digest, o.r.digest),
        false) AS repeat_compared,
    CASE WHEN repeat_compared AND p.comparator = 'topk'
        THEN px_topk_overlap(o.a.topk, o.r.topk) END AS repeat_overlap,
    CASE WHEN repeat_compared THEN
        px_disagrees(p.comparator, p.tolerance, p.topk_min_overlap, o.a.label, o.r.label,
                     o.a.score, o.r.score, repeat_overlap, o.a.digest, o.r.digest)
    END AS repeat_disagrees,
    CASE WHEN repeat_compared THEN
        px_delta(p.comparator, o.a.score, o.r.score, repeat_overlap)
    END AS repeat_delta
FROM picked o
JOIN rc_policy p ON p.feature = o.feature
UNION ALL BY NAME
-- A variant with one span: that span is its answer, without a repeat.
SELECT
    feature, input_fingerprint, variant,
    model_name, model_version, quantization, hardware_tier, accelerator,
    input_key IN (SELECT input_key FROM rc_multi_inputs) AS multi_input,
    CAST(1 AS BIGINT) AS answers, node_id, start_time,
    start_time AS last_time, trace_id, span_id,
    output_label, output_score, output_topk, output_digest,
    CAST(NULL AS TIMESTAMPTZ) AS repeat_time,
    false AS repeat_compared,
    CAST(NULL AS DOUBLE) AS repeat_overlap,
    CAST(NULL AS BOOLEAN) AS repeat_disagrees,
    CAST(NULL AS DOUBLE) AS repeat_delta
FROM rc_answer_rows
WHERE slice = $slice AND variant_key NOT IN (SELECT variant_key FROM rc_multi_answers);
