-- Fold rc_new_latency (latency_new.sql) into latency_histograms, then drop the minutes
-- that have left the window (before $window_start): counts add up, so the histograms
-- hold exactly the spans of the window however many runs brought them in.
CREATE OR REPLACE TEMP TABLE rc_latency_changed AS
SELECT feature, variant, hardware_tier, minute, cold_start, bucket,
    sum(spans) AS spans, sum(over_budget) AS over_budget
FROM (
    SELECT h.* FROM latency_histograms h
    SEMI JOIN rc_new_latency n
        ON n.feature = h.feature AND n.variant = h.variant AND n.minute = h.minute
        AND n.cold_start = h.cold_start AND n.bucket = h.bucket
    UNION ALL BY NAME
    SELECT * FROM rc_new_latency
)
GROUP BY ALL;

DELETE FROM latency_histograms h USING rc_new_latency n
WHERE n.feature = h.feature AND n.variant = h.variant AND n.minute = h.minute
    AND n.cold_start = h.cold_start AND n.bucket = h.bucket;

INSERT INTO latency_histograms BY NAME SELECT * FROM rc_latency_changed;

DELETE FROM latency_histograms WHERE minute < $window_start;
