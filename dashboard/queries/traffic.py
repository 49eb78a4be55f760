"""Rates over time: inference spans, and compared answers that disagree."""

from __future__ import annotations

import pandas as pd

from dashboard.queries.scope import (
    INFERENCES,
    Connection,
    Scope,
    frame,
    inference_filter,
    variant_filter,
)


def span_rate(con: Connection, scope: Scope) -> pd.DataFrame:
    """Inference spans per bucket over this window and the one before (for the trend)."""
    bucket = scope.bucket()
    where = inference_filter(scope, start=scope.previous().start)
    sql = f"""
        SELECT time_bucket($bucket, start_time, $origin) AS bucket, count(*) AS spans
        FROM {INFERENCES} WHERE {where.sql}
        GROUP BY ALL ORDER BY 1"""
    rates = frame(con, sql, {**where.params, "bucket": bucket, "origin": scope.start})
    rates["spans_per_min"] = rates["spans"] / (bucket.total_seconds() / 60)
    rates["current"] = rates["bucket"] >= pd.Timestamp(scope.start)
    return rates


def divergence_rate(con: Connection, scope: Scope) -> pd.DataFrame:
    """Share of compared answers that disagree, per bucket, this window and the one before."""
    bucket = scope.bucket()
    where = variant_filter(scope).add(
        "time_a >= $start AND time_a < $end", start=scope.previous().start, end=scope.end
    )
    if scope.region:
        where.add(
            "(node_a IN (SELECT node_id FROM nodes WHERE region = $region) "
            "OR node_b IN (SELECT node_id FROM nodes WHERE region = $region))",
            region=scope.region,
        )
    sql = f"""
        SELECT time_bucket($bucket, time_a, $origin) AS bucket,
               count(*) AS comparisons, count(*) FILTER (WHERE disagrees) AS disagreements
        FROM comparisons WHERE {where.sql}
        GROUP BY ALL ORDER BY 1"""
    rates = frame(con, sql, {**where.params, "bucket": bucket, "origin": scope.start})
    rates["rate"] = rates["disagreements"] / rates["comparisons"]
    rates["current"] = rates["bucket"] >= pd.Timestamp(scope.start)
    return rates
