-- The reconciler's latency budget check (reconciler/sql/latency_*.sql, docs/reconciler.md
-- "Latency budgets"). Only the reconciler writes these tables.

-- Inference latencies of the spans that started in the latency window
-- (reconciler.latency_window_s before the last run, in whole minutes), per feature,
-- variant, minute and exponential bucket: bucket i holds durations in
-- (2^(i/16), 2^((i+1)/16)] ms. over_budget counts the spans slower than the budget of
-- the variant's tier (the policies' latency_budget_ms), so the verdict is exact whatever
-- the bucket width. Counts add up, so a run folds in its new spans; rows of minutes older
-- than the window are dropped.
CREATE TABLE latency_histograms (
    feature        VARCHAR NOT NULL,
    variant        VARCHAR NOT NULL,
    hardware_tier  VARCHAR NOT NULL,  -- 'unknown' when not sent
    minute         TIMESTAMPTZ NOT NULL,
    cold_start     BOOLEAN NOT NULL,  -- parallax.cold_start: kept apart from the budget
    bucket         INTEGER NOT NULL,
    spans          BIGINT NOT NULL,
    over_budget    BIGINT NOT NULL
);

-- Per feature and variant, as of the last run: warm p99 over the latency window against
-- the budget of its tier.
CREATE TABLE latency_budgets (
    feature        VARCHAR NOT NULL,
    variant        VARCHAR NOT NULL,
    hardware_tier  VARCHAR NOT NULL,
    window_start   TIMESTAMPTZ NOT NULL,
    spans          BIGINT NOT NULL,   -- warm spans in the window
    cold_starts    BIGINT NOT NULL,   -- cold starts in the window, left out of the p99
    over_budget    BIGINT NOT NULL,   -- warm spans slower than budget_ms
    p99_ms         DOUBLE,            -- nearest-rank warm p99, an upper bound at most 4.4% above it
    budget_ms      DOUBLE NOT NULL,
    verdict        VARCHAR NOT NULL   -- over budget | within budget | not enough data
);
