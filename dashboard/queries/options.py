"""What the sidebar offers, and whether there is anything to show at all."""

from __future__ import annotations

import pandas as pd

from dashboard.queries.scope import Connection, frame


def filter_options(con: Connection) -> pd.DataFrame:
    """Features and regions to offer in the sidebar: (kind, value), stable over time windows."""
    sql = """
        SELECT DISTINCT 'feature' AS kind, feature AS value FROM traffic_hourly
        UNION SELECT DISTINCT 'feature', feature FROM version_share
        UNION SELECT DISTINCT 'region', region FROM nodes WHERE region IS NOT NULL
        ORDER BY ALL"""
    options = frame(con, sql, {})
    if not (options["kind"] == "feature").any():
        # The reconciler has not run yet: fall back to the spans themselves.
        spans = frame(
            con,
            "SELECT DISTINCT 'feature' AS kind, feature AS value FROM spans "
            "WHERE feature IS NOT NULL ORDER BY 2",
            {},
        )
        options = pd.concat([spans, options], ignore_index=True)
    return options


def lake_is_empty(con: Connection) -> pd.DataFrame:
    """One row, one column: true when the lake holds no span and no node yet."""
    sql = "SELECT NOT EXISTS (FROM spans) AND NOT EXISTS (FROM nodes) AS empty"
    return frame(con, sql, {})
