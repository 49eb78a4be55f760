"""Saved example queries of the SQL page, word for word from docs/analysts.md (a test checks)."""

EXAMPLES = {
    "Traffic per variant in the last hour": """\
SELECT feature, model_name, model_version, quantization, hardware_tier, count(*) AS inferences
FROM inferences WHERE start_time > now() - INTERVAL 1 HOUR
GROUP BY ALL ORDER BY inferences DESC;""",
    "Edge latency by tier against a 30 ms budget": """\
SELECT hardware_tier,
       quantile_cont(duration_ms, 0.50) AS p50_ms,
       quantile_cont(duration_ms, 0.99) AS p99_ms,
       avg((duration_ms > 30)::INT) AS share_over_budget
FROM inferences WHERE NOT coalesce(cold_start, false) GROUP BY 1;""",
    "Inputs answered differently by two versions": """\
SELECT input_fingerprint, list(DISTINCT model_version || ':' || output_label) AS answers
FROM inferences WHERE feature = 'fraud-scoring'
GROUP BY 1 HAVING count(DISTINCT output_label) > 1 LIMIT 20;""",
    "Nodes silent for more than a minute, with their backlog": """\
SELECT node_id, hardware_tier, last_seen_at, pending_batches, oldest_pending_age_s, dropped_spans
FROM nodes WHERE last_seen_at < now() - INTERVAL 1 MINUTE ORDER BY last_seen_at;""",
    "Ingest health": """\
SELECT recorded_at, spans_accepted / interval_s AS spans_per_s, spans_rejected, queue_spans
FROM ingest_stats ORDER BY recorded_at DESC LIMIT 20;""",
}
