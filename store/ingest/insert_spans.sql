-- Staged Arrow columns (store.ingest.convert.STAGING_SCHEMA) -> the spans table.
-- Identifiers become lowercase hex, enums become words; ingested_at is the commit's time.
INSERT INTO spans BY NAME
SELECT
    lower(hex(trace_id)) AS trace_id,
    lower(hex(span_id)) AS span_id,
    CASE WHEN octet_length(parent_span_id) = 0 THEN NULL ELSE lower(hex(parent_span_id)) END
        AS parent_span_id,
    nullif(trace_state, '') AS trace_state,
    name,
    CASE kind
        WHEN 1 THEN 'internal' WHEN 2 THEN 'server' WHEN 3 THEN 'client'
        WHEN 4 THEN 'producer' WHEN 5 THEN 'consumer' ELSE 'unspecified'
    END AS kind,
    start_time,
    CASE WHEN epoch_ns(end_time) = 0 THEN NULL ELSE end_time END AS end_time,
    duration_ms,
    status_code,
    status_message,
    service_name,
    node_id,
    region,
    environment,
    feature,
    model_name,
    operation,
    model_version,
    quantization,
    quantization_as_sent,
    hardware_tier,
    hardware_tier_as_sent,
    accelerator,
    input_fingerprint,
    output_label,
    output_score,
    output_digest,
    output_topk,
    confidence,
    cold_start,
    attributes,
    resource_id,
    scope_name,
    scope_version,
    events,
    links,
    batch_seq,
    now() AS ingested_at
FROM staged_spans;
