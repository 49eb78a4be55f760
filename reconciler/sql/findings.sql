-- Findings: what holds now (diverging pairs, skew violations, output drift between
-- variants with too few shared inputs to be compared directly, variants whose warm p99
-- latency is over their tier's budget), merged into the
-- findings kept from earlier runs: still holding -> open, last_seen = $as_of;
-- new -> open, first_seen = $as_of; no longer holding -> resolved.
CREATE OR REPLACE TEMP TABLE rc_conditions AS
SELECT
    'diverging pair' AS kind,
    CASE WHEN rate_low > 2 * greatest(tolerance, coalesce(noise_floor, 0))
        THEN 'critical' ELSE 'warning' END AS severity,
    feature,
    variant_a || ' vs ' || variant_b AS subject,
    printf('disagree on %.1f%% of %d shared inputs (95%% interval %.1f-%.1f%%); '
           || 'tolerated %.1f%%, noise floor %s',
           100 * disagreement_rate, shared_inputs, 100 * rate_low, 100 * rate_high,
           100 * tolerance,
           coalesce(printf('%.1f%%', 100 * noise_floor), 'unknown')) AS detail
FROM variant_pairs
WHERE verdict = 'diverging'
UNION ALL
SELECT
    'skew violation', 'warning', feature, node_id,
    printf('runs %s: %s', model_version, reason)
FROM skew
WHERE violation
UNION ALL
SELECT
    'output drift', 'info', d.feature, d.variant_a || ' vs ' || d.variant_b,
    printf('output distributions differ (score PSI %s, label PSI %s) with only %d shared inputs',
           coalesce(printf('%.2f', d.score_psi), '-'), coalesce(printf('%.2f', d.label_psi), '-'),
           d.shared_inputs)
FROM output_drift d
JOIN rc_policy p ON p.feature = d.feature
WHERE d.verdict = 'drifting' AND d.shared_inputs < p.min_shared_inputs
UNION ALL
SELECT
    'latency over budget', 'warning', feature, variant,
    printf('warm p99 %.1f ms over the %g ms budget of the %s tier: %d of %d warm spans '
           || 'slower since %s; cold starts left out: %d',
           p99_ms, budget_ms, hardware_tier, over_budget, spans,
           strftime(window_start AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M UTC'), cold_starts)
FROM latency_budgets
WHERE verdict = 'over budget';

CREATE OR REPLACE TEMP TABLE rc_findings AS
SELECT
    coalesce(f.finding_id, substr(md5(c.kind || '|' || c.feature || '|' || c.subject), 1, 16))
        AS finding_id,
    coalesce(c.kind, f.kind) AS kind,
    coalesce(c.severity, f.severity) AS severity,
    coalesce(c.feature, f.feature) AS feature,
    coalesce(c.subject, f.subject) AS subject,
    coalesce(c.detail, f.detail) AS detail,
    coalesce(f.first_seen, CAST($as_of AS TIMESTAMPTZ)) AS first_seen,
    CASE WHEN c.kind IS NOT NULL THEN CAST($as_of AS TIMESTAMPTZ) ELSE f.last_seen END
        AS last_seen,
    CASE WHEN c.kind IS NOT NULL THEN 'open' ELSE 'resolved' END AS status,
    CASE
        WHEN c.kind IS NOT NULL THEN NULL
        WHEN f.status = 'resolved' THEN f.resolved_at
        ELSE CAST($as_of AS TIMESTAMPTZ)
    END AS resolved_at
FROM findings f
FULL OUTER JOIN rc_conditions c
    ON c.kind = f.kind AND c.feature = f.feature AND c.subject = f.subject;

DELETE FROM findings;

INSERT INTO findings BY NAME SELECT * FROM rc_findings;
