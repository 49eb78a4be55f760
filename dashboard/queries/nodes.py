"""The fleet's nodes: their status at a moment, and how many are in each."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from dashboard.queries.scope import Connection, Scope, frame, node_filter

STATUSES = ("online", "stale", "offline")
OFFLINE_FACTOR = 3  # silent longer than tolerance: stale; this many tolerances: offline


def fleet(con: Connection, scope: Scope, tolerance_s: float) -> pd.DataFrame:
    """One row per node known at the window's end: its status then and its latest heartbeat.

    Status as of ``scope.end``: online when heard within ``tolerance_s``, stale when heard
    within three tolerances, offline otherwise. It is read from ``node_heartbeats`` (only
    the last three tolerances before the end), so a past window shows the past status.
    """
    where = node_filter(scope, "n.node_id")
    offline_s = tolerance_s * OFFLINE_FACTOR
    params = {"at": scope.end, "tolerance_s": tolerance_s, "offline_s": offline_s}
    sql = f"""
        WITH heard AS (
            SELECT node_id, max(received_at) AS heard_at
            FROM node_heartbeats
            WHERE received_at > $at - to_seconds($offline_s) AND received_at <= $at
            GROUP BY node_id)
        SELECT
            n.node_id,
            CASE WHEN h.heard_at >= $at - to_seconds($tolerance_s) THEN 'online'
                 WHEN h.heard_at IS NOT NULL THEN 'stale' ELSE 'offline' END AS status,
            n.hardware_tier AS tier, n.region, n.accelerator,
            coalesce(h.heard_at, CASE WHEN n.last_seen_at <= $at THEN n.last_seen_at END)
                AS last_seen,
            epoch($at) - epoch(last_seen) AS silent_s,
            n.pending_batches, n.pending_bytes, n.oldest_pending_age_s, n.dropped_spans,
            n.clock_offset_ms,
            array_to_string(list_transform(list_filter(n.models, m -> m.loaded IS NOT FALSE),
                m -> concat_ws(' ', m.model_name, m.model_version, m.quantization)), ', ')
                AS loaded_models,
            n.collector_version
        FROM nodes n LEFT JOIN heard h USING (node_id)
        WHERE n.first_seen_at <= $at AND {where.sql}
        ORDER BY CASE status WHEN 'offline' THEN 0 WHEN 'stale' THEN 1 ELSE 2 END, n.node_id"""
    return frame(con, sql, {**params, **where.params})


def node_counts(con: Connection, scope: Scope, tolerance_s: float) -> pd.DataFrame:
    """Nodes per status at the end of the window and at its start (the trend)."""
    counts = {
        point: fleet(con, replace(scope, end=at), tolerance_s)["status"].value_counts()
        for point, at in (("end", scope.end), ("start", scope.start))
    }
    return pd.DataFrame(
        [
            {
                "status": s,
                "end": int(counts["end"].get(s, 0)),
                "start": int(counts["start"].get(s, 0)),
            }
            for s in STATUSES
        ]
    )
