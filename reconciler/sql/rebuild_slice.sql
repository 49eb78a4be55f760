-- A full rebuild, one slice of the inputs (a range of fingerprint hashes) at a time, so
-- that memory stays bounded whatever the size of the lake: keep the recomputed groups.
INSERT INTO rc_rebuilt_repeats BY NAME
SELECT * EXCLUDE (repeat_overlap, multi_input) FROM rc_answers WHERE repeat_time IS NOT NULL;

INSERT INTO rc_rebuilt_comparisons BY NAME SELECT * FROM rc_comparisons;

INSERT INTO rc_rebuilt_reconciled BY NAME SELECT * FROM rc_reconciled;

INSERT INTO rc_rebuilt_variants BY NAME
SELECT DISTINCT feature, variant, model_name, model_version, quantization, hardware_tier,
    accelerator
FROM rc_answers;

INSERT INTO rc_histogram_slices BY NAME
SELECT feature, variant, 'score' AS kind, px_score_bucket(output_score) AS bucket,
    count(*) AS answers
FROM rc_answers WHERE output_score IS NOT NULL GROUP BY ALL
UNION ALL
SELECT feature, variant, 'label', output_label, count(*)
FROM rc_answers WHERE output_label IS NOT NULL GROUP BY ALL;
