-- Swap the recomputed groups (rc_touched) into the lake's tables.
DELETE FROM reconcile_repeats a USING rc_touched t
WHERE a.feature = t.feature AND a.input_fingerprint = t.input_fingerprint;

DELETE FROM comparisons c USING rc_touched t
WHERE c.feature = t.feature AND c.input_fingerprint = t.input_fingerprint;

DELETE FROM reconciled r USING rc_touched t
WHERE r.feature = t.feature AND r.input_fingerprint = t.input_fingerprint;

INSERT INTO reconcile_repeats BY NAME
SELECT * EXCLUDE (repeat_overlap, multi_input) FROM rc_answers WHERE repeat_time IS NOT NULL;

INSERT INTO comparisons BY NAME SELECT * FROM rc_comparisons;

INSERT INTO reconciled BY NAME SELECT * FROM rc_reconciled;

INSERT INTO variants BY NAME
SELECT DISTINCT feature, variant, model_name, model_version, quantization, hardware_tier,
    accelerator
FROM rc_answers a
WHERE NOT EXISTS (SELECT 1 FROM variants v WHERE v.feature = a.feature AND v.variant = a.variant);
