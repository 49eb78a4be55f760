-- Canonical values (store.canonical): quantization and hardware_tier hold the convention's
-- word for what was sent; the spelling as sent is kept where it differed, NULL otherwise.
ALTER TABLE spans ADD COLUMN quantization_as_sent VARCHAR;   -- parallax.model.quantization as sent
ALTER TABLE spans ADD COLUMN hardware_tier_as_sent VARCHAR;  -- parallax.hardware.tier as sent

-- px_canonical_quantization(q), px_canonical_tier(t) and px_variant(model_name,
-- model_version, quantization, hardware_tier, accelerator), generated from
-- parallax.conventions when this migration runs.
{{canonical_macros}}

UPDATE spans
SET quantization_as_sent = quantization, quantization = px_canonical_quantization(quantization)
WHERE quantization IS DISTINCT FROM px_canonical_quantization(quantization);

UPDATE spans
SET hardware_tier_as_sent = hardware_tier, hardware_tier = px_canonical_tier(hardware_tier)
WHERE hardware_tier IS DISTINCT FROM px_canonical_tier(hardware_tier);

-- Whether a span is an inference: the one predicate behind `inferences`.
CREATE OR REPLACE MACRO px_is_inference(feature, model_name) AS
    feature IS NOT NULL OR model_name IS NOT NULL;

-- What analysts query: inference spans only, with their variant, each (trace_id, span_id)
-- once even when a third-party exporter delivered it more than once (at-least-once
-- without batch ids).
CREATE OR REPLACE VIEW inferences AS
SELECT
    * EXCLUDE (events, links),
    px_variant(model_name, model_version, quantization, hardware_tier, accelerator) AS variant
FROM spans
WHERE px_is_inference(feature, model_name)
QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY ingested_at) = 1;

-- `inferences` of the spans that started in [start_at, end_at): the window is applied
-- before the de-duplication, so a reader of a recent window scans only its files.
CREATE OR REPLACE MACRO inferences_between(start_at, end_at) AS TABLE
SELECT
    * EXCLUDE (events, links),
    px_variant(model_name, model_version, quantization, hardware_tier, accelerator) AS variant
FROM spans
WHERE start_time >= start_at AND start_time < end_at AND px_is_inference(feature, model_name)
QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY ingested_at) = 1;

-- Every variant the reconciler has seen answer a feature's input, with its parts (written
-- by the reconciler, like the tables of 0007_reconciler.sql).
CREATE TABLE variants (
    feature        VARCHAR NOT NULL,
    variant        VARCHAR NOT NULL,  -- px_variant of the parts
    model_name     VARCHAR,
    model_version  VARCHAR,
    quantization   VARCHAR NOT NULL,  -- 'unknown' when not sent
    hardware_tier  VARCHAR NOT NULL,  -- 'unknown' when not sent
    accelerator    VARCHAR NOT NULL   -- '' when not sent
);

INSERT INTO variants
SELECT DISTINCT
    feature,
    px_variant(model_name, model_version, quantization, hardware_tier, accelerator),
    model_name, model_version,
    coalesce(quantization, 'unknown'), coalesce(hardware_tier, 'unknown'),
    coalesce(accelerator, '')
FROM spans
WHERE feature IS NOT NULL AND input_fingerprint IS NOT NULL;
