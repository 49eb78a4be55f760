-- One row per span as received over OTLP. Inference attributes from the semantic
-- conventions are promoted to columns; every other attribute stays in `attributes`.
CREATE TABLE spans (
    trace_id            VARCHAR NOT NULL,  -- 32 lowercase hex digits
    span_id             VARCHAR NOT NULL,  -- 16 lowercase hex digits
    parent_span_id      VARCHAR,
    trace_state         VARCHAR,
    name                VARCHAR NOT NULL,
    kind                VARCHAR,           -- internal, server, client, producer, consumer, unspecified
    start_time          TIMESTAMPTZ NOT NULL,
    end_time            TIMESTAMPTZ,
    duration_ms         DOUBLE,
    status_code         VARCHAR,           -- unset, ok, error
    status_message      VARCHAR,
    service_name        VARCHAR,           -- service.name
    node_id             VARCHAR,           -- batch node id, else host.id
    region              VARCHAR,           -- cloud.region
    environment         VARCHAR,           -- deployment.environment.name
    feature             VARCHAR,           -- parallax.feature
    model_name          VARCHAR,           -- gen_ai.request.model
    operation           VARCHAR,           -- gen_ai.operation.name
    model_version       VARCHAR,           -- parallax.model.version
    quantization        VARCHAR,           -- parallax.model.quantization
    hardware_tier       VARCHAR,           -- parallax.hardware.tier
    accelerator         VARCHAR,           -- parallax.hardware.accelerator
    input_fingerprint   VARCHAR,           -- parallax.input.fingerprint
    output_label        VARCHAR,           -- parallax.output.label
    output_score        DOUBLE,            -- parallax.output.score
    output_digest       VARCHAR,           -- parallax.output.digest
    output_topk         VARCHAR[],         -- parallax.output.topk
    confidence          DOUBLE,            -- parallax.confidence
    cold_start          BOOLEAN,           -- parallax.cold_start
    attributes          MAP(VARCHAR, VARCHAR),
    resource_attributes MAP(VARCHAR, VARCHAR),
    scope_name          VARCHAR,
    scope_version       VARCHAR,
    events              STRUCT("time" TIMESTAMPTZ, name VARCHAR, attributes MAP(VARCHAR, VARCHAR))[],
    links               STRUCT(trace_id VARCHAR, span_id VARCHAR, attributes MAP(VARCHAR, VARCHAR))[],
    batch_seq           BIGINT,            -- collector batch sequence, NULL from other exporters
    ingested_at         TIMESTAMPTZ NOT NULL
);

-- Batches from our collector that are committed: the ledger behind effectively-once delivery.
CREATE TABLE ingested_batches (
    node_id        VARCHAR NOT NULL,
    batch_seq      BIGINT NOT NULL,
    span_count     INTEGER NOT NULL,
    rejected_count INTEGER NOT NULL,
    committed_at   TIMESTAMPTZ NOT NULL
);
