-- The spans the answers are made of, read once per run with what every later step needs:
-- the variant spelled once per span (the lake's px_variant), the output, and the slice of the inputs it belongs
-- to ($slices: a full rebuild handles the inputs in slices by fingerprint hash; 1 in an
-- incremental run). /*touched*/ narrows them to the re-opened (feature, input
-- fingerprint) groups, /*slice*/ to the spans the last run saw, /*as_seen*/ reads the lake
-- as of the last run's snapshot (after retention deleted spans it saw: reconciler/expiry.py).
-- Result: rc_answer_rows,
-- which answers.sql reads one slice at a time, and the keys of the inputs and of the
-- (input, variant) answers made of more than one span.
--
-- Those keys route the common cases past the expensive steps: most variants answer an
-- input with one span (the answer is that span: nothing to aggregate), and most inputs
-- get one span in all (nothing to compare; the answer is canonical). The keys are 64-bit
-- hashes: a collision can only make a single span look like several, which sends it
-- down the general path, whose result is the same; never the other way round.
CREATE OR REPLACE TEMP TABLE rc_answer_rows AS
SELECT
    px_variant(model_name, model_version, quantization, hardware_tier, accelerator)
        AS variant,
    hash(feature, input_fingerprint) AS input_key,
    hash(feature, input_fingerprint, variant) AS variant_key,
    CAST(input_key % $slices AS INTEGER) AS slice,
    *
FROM (
    SELECT
        s.feature,
        s.input_fingerprint,
        s.model_name,
        s.model_version,
        coalesce(s.quantization, 'unknown') AS quantization,  -- canonical in the lake
        coalesce(s.hardware_tier, 'unknown') AS hardware_tier,
        coalesce(s.accelerator, '') AS accelerator,
        s.node_id,
        s.start_time,
        s.trace_id,
        s.span_id,
        s.output_label,
        s.output_score,
        s.output_topk,
        s.output_digest
    FROM spans s /*as_seen*/ /*touched*/
    WHERE s.feature IS NOT NULL AND s.input_fingerprint IS NOT NULL /*slice*/
);

CREATE OR REPLACE TEMP TABLE rc_multi_inputs AS
SELECT input_key FROM rc_answer_rows GROUP BY input_key HAVING count(*) > 1;

CREATE OR REPLACE TEMP TABLE rc_multi_answers AS
SELECT variant_key FROM rc_answer_rows GROUP BY variant_key HAVING count(*) > 1;
