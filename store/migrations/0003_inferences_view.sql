-- What analysts query: inference spans only, each (trace_id, span_id) once even when a
-- third-party exporter delivered it more than once (at-least-once without batch ids).
CREATE VIEW inferences AS
SELECT * EXCLUDE (events, links)
FROM spans
WHERE feature IS NOT NULL OR model_name IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY ingested_at) = 1;
