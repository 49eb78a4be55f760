-- A full rebuild's histograms: the slices' counts added up.
INSERT INTO output_histograms BY NAME
SELECT feature, variant, kind, bucket, sum(answers) AS answers
FROM rc_histogram_slices
GROUP BY ALL;
