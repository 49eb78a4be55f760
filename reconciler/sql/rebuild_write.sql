-- A full rebuild's groups (rebuild_groups.sql, rebuild_slice.sql) replace the lake's,
-- and the histograms are the slices' counts added up.
DELETE FROM reconcile_repeats;

DELETE FROM comparisons;

DELETE FROM reconciled;

DELETE FROM output_histograms;

DELETE FROM variants;

INSERT INTO reconcile_repeats SELECT * FROM rc_rebuilt_repeats;

INSERT INTO comparisons SELECT * FROM rc_rebuilt_comparisons;

INSERT INTO reconciled SELECT * FROM rc_rebuilt_reconciled;

INSERT INTO variants SELECT DISTINCT * FROM rc_rebuilt_variants;

INSERT INTO output_histograms BY NAME
SELECT feature, variant, kind, bucket, sum(answers) AS answers
FROM rc_histogram_slices
GROUP BY ALL;

DROP TABLE rc_rebuilt_repeats;

DROP TABLE rc_rebuilt_comparisons;

DROP TABLE rc_rebuilt_reconciled;

DROP TABLE rc_rebuilt_variants;
