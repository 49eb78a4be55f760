-- A full rebuild: empty the group tables; rebuild_slice.sql then fills them slice by slice
-- and rebuild_histograms.sql adds up the slices' histograms.
DELETE FROM reconcile_repeats;

DELETE FROM comparisons;

DELETE FROM reconciled;

DELETE FROM output_histograms;

CREATE OR REPLACE TEMP TABLE rc_histogram_slices (
    feature VARCHAR, variant VARCHAR, kind VARCHAR, bucket VARCHAR, answers BIGINT
);
