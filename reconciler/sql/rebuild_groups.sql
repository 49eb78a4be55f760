-- A full rebuild: the temporary tables rebuild_slice.sql fills slice by slice (outside any
-- transaction) and rebuild_write.sql puts in place of the lake's tables in one.
CREATE OR REPLACE TEMP TABLE rc_rebuilt_repeats AS SELECT * FROM reconcile_repeats LIMIT 0;

CREATE OR REPLACE TEMP TABLE rc_rebuilt_comparisons AS SELECT * FROM comparisons LIMIT 0;

CREATE OR REPLACE TEMP TABLE rc_rebuilt_reconciled AS SELECT * FROM reconciled LIMIT 0;

CREATE OR REPLACE TEMP TABLE rc_rebuilt_variants AS SELECT * FROM variants LIMIT 0;

CREATE OR REPLACE TEMP TABLE rc_histogram_slices (
    feature VARCHAR, variant VARCHAR, kind VARCHAR, bucket VARCHAR, answers BIGINT
);
