"""Every query the dashboard runs: plain functions ``(connection, scope, ...) -> DataFrame``.

They know nothing of Streamlit, so tests and ``bench/dashboard.py`` call them directly;
``dashboard.data`` wraps them in Streamlit's cache. Values always travel as ``$name``
parameters: the only SQL text put together here is fixed fragments, chosen by which
filters are set. The connection is a read-only lake connection (``store.connect``).

Speed on a large lake: span queries filter ``start_time`` to the window (DuckLake skips
Parquet files by their min/max statistics); skew reads the reconciler's small tables
(``traffic_hourly``, ``version_share``, ``skew``) rather than raw spans.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

Connection = duckdb.DuckDBPyConnection

# Chart buckets, smallest first: a window is cut into at most MAX_BUCKETS of the first that fits.
BUCKETS = [timedelta(minutes=m) for m in (1, 5, 15, 60, 360, 1440)]
MAX_BUCKETS = 72
STATUSES = ("online", "stale", "offline")
OFFLINE_FACTOR = 3  # silent longer than tolerance: stale; this many tolerances: offline

# A variant as the reconciler writes it: 'MODEL VERSION QUANTIZATION TIER [ACCELERATOR]'.
SPAN_VARIANT = (
    "concat_ws(' ', model_name, model_version, quantization, hardware_tier, "
    "nullif(accelerator, ''))"
)
VARIANT_COLUMNS = "model_name, model_version, quantization, hardware_tier, accelerator"
LATENCY_GROUPS = {"tier": "hardware_tier", "variant": SPAN_VARIANT}


@dataclass(frozen=True)
class Scope:
    """What every page looks at: a time window (UTC) and the optional global filters."""

    start: datetime
    end: datetime
    feature: str | None = None
    tier: str | None = None
    region: str | None = None

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> Scope:
        """The window of the same length just before this one (for trends)."""
        return replace(self, start=self.start - self.length, end=self.start)

    def bucket(self, smallest: timedelta = BUCKETS[0]) -> timedelta:
        """Chart bucket: the smallest standard size that cuts the window in few enough parts."""
        fitting = [b for b in BUCKETS if b >= smallest and self.length / b <= MAX_BUCKETS]
        return fitting[0] if fitting else BUCKETS[-1]


@dataclass
class _Where:
    """AND-ed fixed SQL fragments and the parameters they use."""

    clauses: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def add(self, clause: str, **params: Any) -> _Where:
        self.clauses.append(clause)
        self.params.update(params)
        return self

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses) or "TRUE"


def _frame(con: Connection, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    return con.execute(sql, params).arrow().read_all().to_pandas()


def _span_filter(scope: Scope, start: datetime | None = None) -> _Where:
    where = _Where().add(
        "start_time >= $start AND start_time < $end", start=start or scope.start, end=scope.end
    )
    where.add("(feature IS NOT NULL OR model_name IS NOT NULL)")
    if scope.feature:
        where.add("feature = $feature", feature=scope.feature)
    if scope.tier:
        where.add("hardware_tier = $tier", tier=scope.tier)
    if scope.region:
        where.add("region = $region", region=scope.region)
    return where


def _node_filter(scope: Scope, column: str = "node_id") -> _Where:
    """Nodes of the tier and region; with a feature, nodes that served it or carry its model."""
    where = _Where()
    if scope.tier or scope.region:
        parts = ["TRUE"]
        if scope.tier:
            parts.append("hardware_tier = $tier")
        if scope.region:
            parts.append("region = $region")
        where.add(
            f"{column} IN (SELECT node_id FROM nodes WHERE {' AND '.join(parts)})",
            **{k: v for k, v in (("tier", scope.tier), ("region", scope.region)) if v},
        )
    if scope.feature:
        where.add(
            f"""{column} IN (
                SELECT node_id FROM traffic_hourly WHERE feature = $feature
                UNION
                SELECT n.node_id FROM nodes n, unnest(n.models) AS u(m)
                WHERE m.model_name IN (
                    SELECT model_name FROM traffic_hourly WHERE feature = $feature))""",
            feature=scope.feature,
        )
    return where


def _variant_filter(scope: Scope, a: str = "variant_a", b: str = "variant_b") -> _Where:
    """Pairs of the feature; with a tier, pairs where either variant runs on that tier."""
    where = _Where()
    if scope.feature:
        where.add("feature = $feature", feature=scope.feature)
    if scope.tier:
        where.add(f"$tier IN (split_part({a}, ' ', 4), split_part({b}, ' ', 4))", tier=scope.tier)
    return where


# --- Filters ----------------------------------------------------------------------------


def filter_options(con: Connection) -> pd.DataFrame:
    """Features and regions to offer in the sidebar: (kind, value), stable over time windows."""
    sql = """
        SELECT DISTINCT 'feature' AS kind, feature AS value FROM traffic_hourly
        UNION SELECT DISTINCT 'feature', feature FROM version_share
        UNION SELECT DISTINCT 'region', region FROM nodes WHERE region IS NOT NULL
        ORDER BY ALL"""
    options = _frame(con, sql, {})
    if not (options["kind"] == "feature").any():
        # The reconciler has not run yet: fall back to the spans themselves.
        spans = _frame(
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
    return _frame(con, sql, {})


# --- Fleet ------------------------------------------------------------------------------


def fleet(con: Connection, scope: Scope, tolerance_s: float) -> pd.DataFrame:
    """One row per node known at the window's end: its status then and its latest heartbeat.

    Status as of ``scope.end``: online when heard within ``tolerance_s``, stale when heard
    within three tolerances, offline otherwise. It is read from ``node_heartbeats`` (only
    the last three tolerances before the end), so a past window shows the past status.
    """
    where = _node_filter(scope, "n.node_id")
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
    return _frame(con, sql, {**params, **where.params})


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


# --- Traffic ----------------------------------------------------------------------------


def span_rate(con: Connection, scope: Scope) -> pd.DataFrame:
    """Inference spans per bucket over this window and the one before (for the trend)."""
    bucket = scope.bucket()
    where = _span_filter(scope, start=scope.previous().start)
    sql = f"""
        SELECT time_bucket($bucket, start_time, $origin) AS bucket, count(*) AS spans
        FROM spans WHERE {where.sql}
        GROUP BY ALL ORDER BY 1"""
    frame = _frame(con, sql, {**where.params, "bucket": bucket, "origin": scope.start})
    frame["spans_per_min"] = frame["spans"] / (bucket.total_seconds() / 60)
    frame["current"] = frame["bucket"] >= pd.Timestamp(scope.start)
    return frame


def divergence_rate(con: Connection, scope: Scope) -> pd.DataFrame:
    """Share of compared answers that disagree, per bucket, this window and the one before."""
    bucket = scope.bucket()
    where = _variant_filter(scope).add(
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
    frame = _frame(con, sql, {**where.params, "bucket": bucket, "origin": scope.start})
    frame["rate"] = frame["disagreements"] / frame["comparisons"]
    frame["current"] = frame["bucket"] >= pd.Timestamp(scope.start)
    return frame


# --- Findings ---------------------------------------------------------------------------


def _findings_filter(scope: Scope) -> _Where:
    where = _Where()
    if scope.feature:
        where.add("feature = $feature", feature=scope.feature)
    if scope.tier:
        # A pair's subject is 'A vs B' (the tier is a variant's 4th word); a node's is its id.
        where.add(
            "(list_contains(list_transform(string_split(subject, ' vs '), "
            "v -> split_part(v, ' ', 4)), $tier) "
            "OR subject IN (SELECT node_id FROM nodes WHERE hardware_tier = $tier))",
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
    return _frame(con, sql, {**where.params, "start": scope.start, "end": scope.end})


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
    return _frame(con, sql, {**where.params, "end": scope.end, "limit": limit})


# --- Skew -------------------------------------------------------------------------------


def traffic_versions(con: Connection, scope: Scope) -> pd.DataFrame:
    """Spans per feature, hour and model version (the reconciler's ``traffic_hourly``)."""
    where = _node_filter(scope).add(
        "hour >= date_trunc('hour', $start) AND hour < $end", start=scope.start, end=scope.end
    )
    if scope.feature:
        where.add("feature = $feature", feature=scope.feature)
    sql = f"""
        SELECT feature, hour, coalesce(model_version, '?') AS model_version, sum(spans) AS spans
        FROM traffic_hourly WHERE {where.sql}
        GROUP BY ALL ORDER BY ALL"""
    return _frame(con, sql, where.params)


def inventory_versions(con: Connection, scope: Scope) -> pd.DataFrame:
    """Nodes per feature, bucket and model version loaded, from the heartbeats' inventories.

    A model belongs to a feature when ``traffic_hourly`` saw it serve that feature.
    """
    bucket = scope.bucket(smallest=timedelta(hours=1))
    where = _node_filter(scope).add(
        "received_at >= $start AND received_at < $end", start=scope.start, end=scope.end
    )
    feature = _Where()
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
    return _frame(con, sql, params)


def version_share(con: Connection, scope: Scope) -> pd.DataFrame:
    """Per feature and version in use: share of traffic and of nodes (latest reconciler run)."""
    where = _Where()
    if scope.feature:
        where.add("feature = $feature", feature=scope.feature)
    sql = f"""
        SELECT feature, model_version, version_rank, traffic_spans, traffic_share, nodes,
               node_share, first_seen
        FROM version_share WHERE {where.sql} ORDER BY feature, version_rank"""
    return _frame(con, sql, where.params)


def skew_nodes(con: Connection, scope: Scope) -> pd.DataFrame:
    """Nodes running an older version than the newest, violations first."""
    where = _node_filter(scope).add("versions_behind > 0")
    if scope.feature:
        where.add("feature = $feature", feature=scope.feature)
    sql = f"""
        SELECT node_id, feature, model_version, newest_version, versions_behind, days_behind,
               max_versions_behind, max_days_behind, violation, reason, source, last_seen
        FROM skew WHERE {where.sql}
        ORDER BY violation DESC, versions_behind DESC, days_behind DESC NULLS LAST, node_id"""
    return _frame(con, sql, where.params)


# --- Divergence -------------------------------------------------------------------------


def variant_pairs(con: Connection, scope: Scope) -> pd.DataFrame:
    """Pair statistics seen in the window; rows with variant_a = variant_b are noise floors."""
    where = _variant_filter(scope).add(
        "(last_seen IS NULL OR last_seen >= $start) AND (first_seen IS NULL OR first_seen < $end)",
        start=scope.start,
        end=scope.end,
    )
    sql = f"""
        SELECT feature, variant_a, variant_b, comparator, shared_inputs, disagreements,
               disagreement_rate, rate_low, rate_high, noise_floor, tolerance,
               mean_abs_delta, p95_abs_delta, verdict, first_seen, last_seen
        FROM variant_pairs WHERE {where.sql}
        ORDER BY feature, variant_a = variant_b, disagreement_rate DESC NULLS LAST,
                 variant_a, variant_b"""
    return _frame(con, sql, where.params)


def divergent_inputs(
    con: Connection, scope: Scope, variant_a: str, variant_b: str, limit: int = 500
) -> pd.DataFrame:
    """Inputs on which two variants of the scope's feature disagreed in the window."""
    where = _Where().add(
        "feature = $feature AND variant_a = $variant_a AND variant_b = $variant_b",
        feature=scope.feature,
        variant_a=variant_a,
        variant_b=variant_b,
    )
    where.add("time_a >= $start AND time_a < $end", start=scope.start, end=scope.end)
    sql = f"""
        SELECT input_fingerprint, output_a, output_b, delta, node_a, node_b, time_a, time_b,
               trace_id_a, trace_id_b
        FROM divergences WHERE {where.sql}
        ORDER BY delta DESC NULLS LAST, time_a DESC, input_fingerprint
        LIMIT $limit"""
    return _frame(con, sql, {**where.params, "limit": limit})


# --- Latency ----------------------------------------------------------------------------


def latency(con: Connection, scope: Scope, group: str) -> pd.DataFrame:
    """p50 / p95 / p99 of warm inferences (cold starts apart) per tier or per variant."""
    where = _span_filter(scope).add("duration_ms IS NOT NULL AND cold_start IS NOT TRUE")
    # One sort per group for all three percentiles; the variant text is built per group,
    # not per span (measured: both matter on millions of spans).
    sql = f"""
        SELECT {LATENCY_GROUPS[group]} AS {group}, count(*) AS spans,
               quantile_cont(duration_ms, [0.5, 0.95, 0.99]) AS q
        FROM spans WHERE {where.sql}
        GROUP BY {VARIANT_COLUMNS if group == "variant" else "hardware_tier"} ORDER BY 1"""
    return _percentiles(_frame(con, sql, where.params), ["p50_ms", "p95_ms", "p99_ms"])


def cold_start_latency(con: Connection, scope: Scope) -> pd.DataFrame:
    """Latency of cold starts (first inference after a model load) per variant."""
    where = _span_filter(scope).add("duration_ms IS NOT NULL AND cold_start")
    sql = f"""
        SELECT {SPAN_VARIANT} AS variant, count(*) AS cold_starts,
               quantile_cont(duration_ms, [0.5, 0.95]) AS q, max(duration_ms) AS max_ms
        FROM spans WHERE {where.sql}
        GROUP BY {VARIANT_COLUMNS} ORDER BY 1"""
    return _percentiles(_frame(con, sql, where.params), ["p50_ms", "p95_ms"])


def _percentiles(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Spread the list column ``q`` of quantiles into one float column per name."""
    values = pd.DataFrame(frame.pop("q").tolist(), columns=names, index=frame.index, dtype=float)
    columns = list(frame.columns)
    at = 2  # after the group and its count
    return pd.concat([frame[columns[:at]], values, frame[columns[at:]]], axis=1)


def latency_over_time(con: Connection, scope: Scope) -> pd.DataFrame:
    """Warm p50 / p95 / p99 per bucket and tier, in long form (one row per percentile)."""
    where = _span_filter(scope).add("duration_ms IS NOT NULL AND cold_start IS NOT TRUE")
    sql = f"""
        SELECT time_bucket($bucket, start_time, $origin) AS bucket, hardware_tier AS tier,
               quantile_cont(duration_ms, [0.5, 0.95, 0.99]) AS q
        FROM spans WHERE {where.sql}
        GROUP BY ALL ORDER BY ALL"""
    frame = _frame(con, sql, {**where.params, "bucket": scope.bucket(), "origin": scope.start})
    long = frame.explode("q").assign(percentile=["p50", "p95", "p99"] * len(frame))
    return long.rename(columns={"q": "ms"}).astype({"ms": float})[
        ["bucket", "tier", "percentile", "ms"]
    ]
