-- How the recomputed groups change the output histograms: minus the answers they had
-- (rc_old_answers: the same groups computed from the spans the last run saw), plus the
-- answers they have now (rc_answers). Recomputing an unchanged group changes nothing, so
-- the histograms stay exact however often a group is recomputed.
CREATE OR REPLACE TEMP TABLE rc_histogram_delta AS
WITH signed AS (
    SELECT feature, variant, output_score, output_label, -1 AS sign FROM rc_old_answers
    UNION ALL
    SELECT feature, variant, output_score, output_label, 1 FROM rc_answers
)
SELECT feature, variant, kind, bucket, sum(sign) AS answers
FROM (
    SELECT feature, variant, 'score' AS kind, px_score_bucket(output_score) AS bucket, sign
    FROM signed WHERE output_score IS NOT NULL
    UNION ALL
    SELECT feature, variant, 'label', output_label, sign
    FROM signed WHERE output_label IS NOT NULL
)
GROUP BY ALL
HAVING sum(sign) <> 0;

CREATE OR REPLACE TEMP TABLE rc_histograms_changed AS
SELECT feature, variant, kind, bucket, sum(answers) AS answers
FROM (
    SELECT h.feature, h.variant, h.kind, h.bucket, h.answers
    FROM output_histograms h
    SEMI JOIN rc_histogram_delta d
        ON d.feature = h.feature AND d.variant = h.variant
        AND d.kind = h.kind AND d.bucket = h.bucket
    UNION ALL
    SELECT feature, variant, kind, bucket, answers FROM rc_histogram_delta
)
GROUP BY ALL
HAVING sum(answers) <> 0;

DELETE FROM output_histograms h USING rc_histogram_delta d
WHERE d.feature = h.feature AND d.variant = h.variant AND d.kind = h.kind
    AND d.bucket = h.bucket;

INSERT INTO output_histograms BY NAME SELECT * FROM rc_histograms_changed;
