"""Latency percentiles of inferences: warm per tier or variant, cold starts, over time; and
the reconciler's latency budget check."""

from __future__ import annotations

import pandas as pd

from dashboard.queries.scope import (
    INFERENCES,
    SPAN_VARIANT,
    VARIANT_COLUMNS,
    Connection,
    Scope,
    Where,
    frame,
    inference_filter,
)

LATENCY_GROUPS = {"tier": "hardware_tier", "variant": SPAN_VARIANT}


def latency(con: Connection, scope: Scope, group: str) -> pd.DataFrame:
    """p50 / p95 / p99 of warm inferences (cold starts apart) per tier or per variant."""
    where = inference_filter(scope).add("duration_ms IS NOT NULL AND cold_start IS NOT TRUE")
    # One sort per group for all three percentiles; the variant text is built per group,
    # not per span (measured: both matter on millions of spans).
    sql = f"""
        SELECT {LATENCY_GROUPS[group]} AS {group}, count(*) AS spans,
               quantile_cont(duration_ms, [0.5, 0.95, 0.99]) AS q
        FROM {INFERENCES} WHERE {where.sql}
        GROUP BY {VARIANT_COLUMNS if group == "variant" else "hardware_tier"} ORDER BY 1"""
    return _percentiles(frame(con, sql, where.params), ["p50_ms", "p95_ms", "p99_ms"])


def cold_start_latency(con: Connection, scope: Scope) -> pd.DataFrame:
    """Latency of cold starts (first inference after a model load) per variant."""
    where = inference_filter(scope).add("duration_ms IS NOT NULL AND cold_start")
    sql = f"""
        SELECT {SPAN_VARIANT} AS variant, count(*) AS cold_starts,
               quantile_cont(duration_ms, [0.5, 0.95]) AS q, max(duration_ms) AS max_ms
        FROM {INFERENCES} WHERE {where.sql}
        GROUP BY {VARIANT_COLUMNS} ORDER BY 1"""
    return _percentiles(frame(con, sql, where.params), ["p50_ms", "p95_ms"])


def _percentiles(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Spread the list column ``q`` of quantiles into one float column per name."""
    values = pd.DataFrame(frame.pop("q").tolist(), columns=names, index=frame.index, dtype=float)
    columns = list(frame.columns)
    at = 2  # after the group and its count
    return pd.concat([frame[columns[:at]], values, frame[columns[at:]]], axis=1)


def latency_over_time(con: Connection, scope: Scope) -> pd.DataFrame:
    """Warm p50 / p95 / p99 per bucket and tier, in long form (one row per percentile)."""
    where = inference_filter(scope).add("duration_ms IS NOT NULL AND cold_start IS NOT TRUE")
    sql = f"""
        SELECT time_bucket($bucket, start_time, $origin) AS bucket, hardware_tier AS tier,
               quantile_cont(duration_ms, [0.5, 0.95, 0.99]) AS q
        FROM {INFERENCES} WHERE {where.sql}
        GROUP BY ALL ORDER BY ALL"""
    buckets = frame(con, sql, {**where.params, "bucket": scope.bucket(), "origin": scope.start})
    long = buckets.explode("q").assign(percentile=["p50", "p95", "p99"] * len(buckets))
    return long.rename(columns={"q": "ms"}).astype({"ms": float})[
        ["bucket", "tier", "percentile", "ms"]
    ]


def latency_budgets(con: Connection, scope: Scope) -> pd.DataFrame:
    """The reconciler's budget check as of its last run (table ``latency_budgets``): each
    variant's warm p99 over the reconciler's latency window against its tier's budget, the
    variants over budget first. Filtered by feature and tier."""
    where = Where()
    if scope.feature:
        where.add("feature = $feature", feature=scope.feature)
    if scope.tier:
        where.add("hardware_tier = $tier", tier=scope.tier)
    sql = f"""
        SELECT feature, variant, hardware_tier AS tier, spans, cold_starts, over_budget,
               p99_ms, budget_ms, verdict, window_start
        FROM latency_budgets WHERE {where.sql}
        ORDER BY verdict <> 'over budget', feature, variant"""
    return frame(con, sql, where.params)
