-- The reconciler's tables (reconciler/, docs/reconciler.md). A variant is the text
-- 'MODEL VERSION QUANTIZATION TIER [ACCELERATOR]'; a pair (variant_a, variant_b) is
-- stored once, variant_a < variant_b. Only the reconciler writes these tables.

-- One row per run: what it read (the spans committed in snapshots after from_snapshot
-- up to to_snapshot) and how long it took.
CREATE TABLE reconcile_runs (
    run_id            BIGINT NOT NULL,
    mode              VARCHAR NOT NULL,      -- full | incremental
    as_of             TIMESTAMPTZ NOT NULL,  -- "now" for skew and findings
    started_at        TIMESTAMPTZ NOT NULL,
    seconds           DOUBLE NOT NULL,
    from_snapshot     BIGINT NOT NULL,
    to_snapshot       BIGINT NOT NULL,       -- the watermark of the next run
    new_spans         BIGINT NOT NULL,
    groups_recomputed BIGINT NOT NULL,
    policies_source   VARCHAR NOT NULL
);

-- Answers that have a repeat: a variant's first span for an input (by start time) and
-- whether its second span (on the same or another node, within the feature's window)
-- disagreed with it. The noise floors are computed from these rows.
CREATE TABLE reconcile_repeats (
    feature           VARCHAR NOT NULL,
    input_fingerprint VARCHAR NOT NULL,
    variant           VARCHAR NOT NULL,
    model_name        VARCHAR,
    model_version     VARCHAR,
    quantization      VARCHAR,
    hardware_tier     VARCHAR,
    accelerator       VARCHAR,
    answers           BIGINT NOT NULL,
    node_id           VARCHAR,
    start_time        TIMESTAMPTZ NOT NULL,
    last_time         TIMESTAMPTZ NOT NULL,
    trace_id          VARCHAR,
    span_id           VARCHAR,
    output_label      VARCHAR,
    output_score      DOUBLE,
    output_topk       VARCHAR[],
    output_digest     VARCHAR,
    repeat_time       TIMESTAMPTZ,      -- the second span, when there is one
    repeat_compared   BOOLEAN NOT NULL, -- within the window, both carry the compared output
    repeat_disagrees  BOOLEAN,
    repeat_delta      DOUBLE
);

-- Every comparison of two variants' answers to one input (both within the window).
CREATE TABLE comparisons (
    feature           VARCHAR NOT NULL,
    input_fingerprint VARCHAR NOT NULL,
    variant_a         VARCHAR NOT NULL,
    variant_b         VARCHAR NOT NULL,
    disagrees         BOOLEAN NOT NULL,
    delta             DOUBLE,   -- score: |Δscore|; topk: 1 - overlap; label/digest: |Δscore| when both scored
    score_delta       DOUBLE,   -- |Δscore| when both answers carry a score
    topk_overlap      DOUBLE,   -- shared items / longer list, when both carry a top-k list
    output_a          VARCHAR,  -- the compared output as text (label, score, top-k list or digest)
    output_b          VARCHAR,
    node_a            VARCHAR,
    node_b            VARCHAR,
    time_a            TIMESTAMPTZ,
    time_b            TIMESTAMPTZ,
    trace_id_a        VARCHAR,
    trace_id_b        VARCHAR,
    span_id_a         VARCHAR,
    span_id_b         VARCHAR
);

CREATE VIEW divergences AS
SELECT * EXCLUDE (disagrees) FROM comparisons WHERE disagrees;

-- Per feature and pair of variants; rows with variant_a = variant_b are the noise floor
-- of that variant (its first answer against its repeat), verdict 'noise floor'.
CREATE TABLE variant_pairs (
    feature            VARCHAR NOT NULL,
    variant_a          VARCHAR NOT NULL,
    variant_b          VARCHAR NOT NULL,
    comparator         VARCHAR NOT NULL,
    shared_inputs      BIGINT NOT NULL,
    disagreements      BIGINT NOT NULL,
    disagreement_rate  DOUBLE,
    rate_low           DOUBLE,  -- 95% Wilson interval of the disagreement rate
    rate_high          DOUBLE,
    noise_floor        DOUBLE,  -- the larger self-disagreement rate of the two variants
    tolerance          DOUBLE,  -- the feature's tolerated disagreement rate
    mean_abs_delta     DOUBLE,  -- |Δscore| over shared inputs where both scored
    p95_abs_delta      DOUBLE,
    verdict            VARCHAR NOT NULL, -- within tolerance | diverging | not enough data | noise floor
    first_seen         TIMESTAMPTZ,
    last_seen          TIMESTAMPTZ
);

-- One row per (feature, input): the canonical answer chosen by the feature's resolution.
CREATE TABLE reconciled (
    feature           VARCHAR NOT NULL,
    input_fingerprint VARCHAR NOT NULL,
    canonical_variant VARCHAR,           -- NULL: the reference did not answer, no fallback
    resolved_by       VARCHAR NOT NULL,  -- reference | newest | highest_precision | majority | none
    output_label      VARCHAR,
    output_score      DOUBLE,
    output_topk       VARCHAR[],
    output_digest     VARCHAR,
    variants          BIGINT NOT NULL,   -- variants that answered
    agreeing_variants BIGINT NOT NULL,   -- of those, agreeing with the canonical answer
    agreed            BOOLEAN NOT NULL,  -- no two compared answers disagree
    answers           BIGINT NOT NULL,   -- spans
    first_seen        TIMESTAMPTZ NOT NULL,
    last_seen         TIMESTAMPTZ NOT NULL
);

-- Output distributions per variant (answers per score bucket or label), kept in step
-- with the answers of every input; output_drift compares them pairwise.
CREATE TABLE output_histograms (
    feature  VARCHAR NOT NULL,
    variant  VARCHAR NOT NULL,
    kind     VARCHAR NOT NULL,  -- score (bucket '00'..'19' of [0, 1]) | label
    bucket   VARCHAR NOT NULL,
    answers  BIGINT NOT NULL
);

CREATE TABLE output_drift (
    feature        VARCHAR NOT NULL,
    variant_a      VARCHAR NOT NULL,
    variant_b      VARCHAR NOT NULL,
    shared_inputs  BIGINT NOT NULL,
    answers_a      BIGINT NOT NULL,
    answers_b      BIGINT NOT NULL,
    score_psi      DOUBLE,
    score_js       DOUBLE,
    label_psi      DOUBLE,
    label_js       DOUBLE,
    verdict        VARCHAR NOT NULL  -- drifting | stable | not enough data
);

-- Spans per hour, feature, node and model version: skew's traffic, kept incrementally.
CREATE TABLE traffic_hourly (
    feature        VARCHAR NOT NULL,
    node_id        VARCHAR,
    model_name     VARCHAR,
    model_version  VARCHAR,
    hour           TIMESTAMPTZ NOT NULL,
    spans          BIGINT NOT NULL,
    first_start    TIMESTAMPTZ NOT NULL,
    last_start     TIMESTAMPTZ NOT NULL
);

-- Per feature and version in use (skew window): share of traffic and of nodes.
CREATE TABLE version_share (
    feature         VARCHAR NOT NULL,
    model_version   VARCHAR NOT NULL,
    version_rank    INTEGER NOT NULL,  -- 0 for the newest version
    first_seen      TIMESTAMPTZ,       -- first span of this version (any time)
    traffic_spans   BIGINT NOT NULL,
    traffic_share   DOUBLE NOT NULL,
    nodes           BIGINT NOT NULL,
    node_share      DOUBLE NOT NULL
);

-- Per feature and node: the version it runs, how far behind the newest, and whether that
-- breaks the feature's tolerance (the forced-upgrade candidates).
CREATE TABLE skew (
    feature              VARCHAR NOT NULL,
    node_id              VARCHAR NOT NULL,
    model_version        VARCHAR NOT NULL,
    newest_version       VARCHAR NOT NULL,
    versions_behind      INTEGER NOT NULL,
    days_behind          DOUBLE,          -- since a newer version first appeared
    source               VARCHAR NOT NULL, -- inventory (heartbeat) | traffic
    last_seen            TIMESTAMPTZ,
    max_versions_behind  INTEGER NOT NULL,
    max_days_behind      DOUBLE NOT NULL,
    violation            BOOLEAN NOT NULL,
    reason               VARCHAR          -- why it violates, NULL when it does not
);

-- What a human should look at. Kept across runs (and across --full): first_seen and
-- last_seen are the runs that observed the condition; status resolved once it stops.
CREATE TABLE findings (
    finding_id   VARCHAR NOT NULL,      -- stable: kind, feature, subject
    kind         VARCHAR NOT NULL,      -- diverging pair | skew violation | output drift
    severity     VARCHAR NOT NULL,      -- critical | warning | info
    feature      VARCHAR NOT NULL,
    subject      VARCHAR NOT NULL,      -- 'A vs B' or the node id
    detail       VARCHAR NOT NULL,
    first_seen   TIMESTAMPTZ NOT NULL,
    last_seen    TIMESTAMPTZ NOT NULL,
    status       VARCHAR NOT NULL,      -- open | resolved
    resolved_at  TIMESTAMPTZ
);
