-- The answers of the recomputed groups: every (feature, input fingerprint) in rc_touched,
-- or every group when /*touched*/ is empty (a full rebuild). /*slice*/ narrows the spans
-- read: one slice of fingerprint hashes in a full rebuild, or the spans the last run saw
-- (to subtract what it added). Result: the temp table rc_answers; comparisons.sql,
-- reconciled.sql, then replace_groups.sql or rebuild_slice.sql follow.
-- Needs rc_policy (policy_table.py).

-- Each variant's answer to each input: its first span (by start time, then span id); the
-- next distinct span is its repeat. One hash aggregation, no sort: the three first spans
-- are kept so that a copy of the first (an at-least-once exporter delivered it twice) is
-- skipped, and `answers` counts distinct spans.
CREATE OR REPLACE TEMP TABLE rc_answers AS
WITH normalized AS (
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
        {'node_id': s.node_id, 'start_time': s.start_time, 'trace_id': s.trace_id,
         'span_id': s.span_id, 'label': s.output_label, 'score': s.output_score,
         'topk': s.output_topk, 'digest': s.output_digest} AS answer
    FROM spans s /*touched*/
    WHERE s.feature IS NOT NULL AND s.input_fingerprint IS NOT NULL /*slice*/
),
per_variant AS (
    SELECT
        feature, input_fingerprint, variant,
        any_value(model_name) AS model_name,
        any_value(model_version) AS model_version,
        any_value(quantization) AS quantization,
        any_value(hardware_tier) AS hardware_tier,
        any_value(accelerator) AS accelerator,
        count(DISTINCT (answer.trace_id, answer.span_id)) AS answers,
        max(answer.start_time) AS last_time,
        arg_min(answer, (answer.start_time, answer.span_id, answer.trace_id), 3) AS firsts
    FROM normalized
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
    o.answers, o.a.node_id AS node_id, o.a.start_time AS start_time, o.last_time,
    o.a.trace_id AS trace_id, o.a.span_id AS span_id,
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
JOIN rc_policy p ON p.feature = o.feature;
