"""Versions in use: traffic and inventories per version, shares, and nodes behind."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from dashboard.queries.scope import Connection, Scope, Where, frame, node_filter


def traffic_versions(con: Connection, scope: Scope) -> pd.DataFrame:
    """Spans per feature, hour and model version (the reconciler's ``traffic_hourly``)."""
    where = node_filter(scope).add(
        "hour >= date_trunc('hour', $start) AND hour < $end", start=scope.start, end=scope.end
    )
    if scope.feature:
        where.add("feature = $feature", feature=scope.feature)
    sql = f"""
        SELECT feature, hour, coalesce(model_version, '?') AS model_version, sum(spans) AS spans
        FROM traffic_hourly WHERE {where.sql}
        GROUP BY ALL ORDER BY ALL"""
    return frame(con, sql, where.params)


def inventory_versions(con: Connection, scope: Scope) -> pd.DataFrame:
    """Nodes per feature, bucket and model version loaded, from the heartbeats' inventories.

    A model belongs to a feature when ``traffic_hourly`` saw it serve that feature.
    """
    bucket = scope.bucket(smallest=timedelta(hours=1))
    where = node_filter(scope).add(
        "received_at >= $start AND received_at < $end", start=scope.start, end=scope.end
    )
    feature = Where()
    if scope.feature:
        feature.add("feature = $feature", feature=scope.feature)
    sql = f"""
        WITH served AS (
            SELECT DISTINCT feature, model_name FROM traffic_hourly WHERE {feature.sql}),
        latest AS (
            SELECT node_id, time_bucket($bucket, received_at, $origin) AS bucket,
                   arg_max(models, received_at) AS models
            FROM node_heartbeats WHERE {where.sql}
            GROUP BY ALL),
        loaded AS (
            SELECT node_id, bucket, unnest(models) AS m FROM latest)
        SELECT s.feature, l.bucket, l.m.model_version AS model_version,
               count(DISTINCT l.node_id) AS nodes
        FROM loaded l JOIN served s ON s.model_name = l.m.model_name
        WHERE l.m.loaded IS NOT FALSE
        GROUP BY ALL ORDER BY ALL"""
    params = {**where.params, **feature.params, "bucket": bucket, "origin": scope.start}
    return frame(con, sql, params)


def version_share(con: Connection, scope: Scope) -> pd.DataFrame:
    """Per feature and version in use: share of traffic and of nodes (latest reconciler run)."""
    where = Where()
    if scope.feature:
        where.add("feature = $feature", feature=scope.feature)
    sql = f"""
        SELECT feature, model_version, version_rank, traffic_spans, traffic_share, nodes,
               node_share, first_seen
        FROM version_share WHERE {where.sql} ORDER BY feature, version_rank"""
    return frame(con, sql, where.params)


def skew_nodes(con: Connection, scope: Scope) -> pd.DataFrame:
    """Nodes running an older version than the newest, violations first."""
    where = node_filter(scope).add("versions_behind > 0")
    if scope.feature:
        where.add("feature = $feature", feature=scope.feature)
    sql = f"""
        SELECT node_id, feature, model_version, newest_version, versions_behind, days_behind,
               max_versions_behind, max_days_behind, violation, reason, source, last_seen
        FROM skew WHERE {where.sql}
        ORDER BY violation DESC, versions_behind DESC, days_behind DESC NULLS LAST, node_id"""
    return frame(con, sql, where.params)
