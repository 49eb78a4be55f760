"""The reconciler's findings: open per kind and severity, and the list to look at."""

from __future__ import annotations

import pandas as pd

from dashboard.queries.scope import TIER_VARIANTS, Connection, Scope, Where, frame


def _findings_filter(scope: Scope) -> Where:
    where = Where()
    if scope.feature:
        where.add("feature = $feature", feature=scope.feature)
    if scope.tier:
        # A pair's subject is 'A vs B' (the reconciler's variants); a node's is its id; a
        # latency finding's is one variant (of latency_budgets, which may not compare).
        where.add(
            f"(list_has_any(string_split(subject, ' vs '), ARRAY{TIER_VARIANTS}) "
            "OR subject IN (SELECT node_id FROM nodes WHERE hardware_tier = $tier) "
            "OR subject IN (SELECT variant FROM latency_budgets WHERE hardware_tier = $tier))",
            tier=scope.tier,
        )
    if scope.region:
        where.add(
            "subject IN (SELECT node_id FROM nodes WHERE region = $region)", region=scope.region
        )
    return where


def findings_summary(con: Connection, scope: Scope) -> pd.DataFrame:
    """Open findings per kind and severity at the window's end and at its start."""
    where = _findings_filter(scope)
    sql = f"""
        SELECT kind, severity,
            count(*) FILTER (WHERE first_seen <= $end
                             AND (resolved_at IS NULL OR resolved_at > $end)) AS open_at_end,
            count(*) FILTER (WHERE first_seen <= $start
                             AND (resolved_at IS NULL OR resolved_at > $start)) AS open_at_start
        FROM findings WHERE {where.sql}
        GROUP BY ALL ORDER BY ALL"""
    return frame(con, sql, {**where.params, "start": scope.start, "end": scope.end})


def open_findings(con: Connection, scope: Scope, limit: int = 200) -> pd.DataFrame:
    """The findings open at the window's end, most severe and most recent first."""
    where = _findings_filter(scope)
    sql = f"""
        SELECT severity, kind, feature, subject, detail, first_seen, last_seen
        FROM findings
        WHERE first_seen <= $end AND (resolved_at IS NULL OR resolved_at > $end) AND {where.sql}
        ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
                 last_seen DESC, subject
        LIMIT $limit"""
    return frame(con, sql, {**where.params, "end": scope.end, "limit": limit})
