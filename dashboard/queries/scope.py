"""What every query shares: the scope a page looks at, and the filters it implies."""

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

# The variant of a span (the lake's px_variant, store.canonical) and the columns it is made
# of: group by the columns and spell the variant once per group, not once per span.
VARIANT_COLUMNS = "model_name, model_version, quantization, hardware_tier, accelerator"
SPAN_VARIANT = f"px_variant({VARIANT_COLUMNS})"


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
class Where:
    """AND-ed fixed SQL fragments and the parameters they use."""

    clauses: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def add(self, clause: str, **params: Any) -> Where:
        self.clauses.append(clause)
        self.params.update(params)
        return self

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses) or "TRUE"


def frame(con: Connection, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    return con.execute(sql, params).arrow().read_all().to_pandas()


INFERENCES = "inferences_between($start, $end)"
"""The inference spans of the window ``$start``..``$end`` (the lake's ``inferences``)."""


def inference_filter(scope: Scope, start: datetime | None = None) -> Where:
    """The scope's filters on ``INFERENCES``, whose window starts at ``start`` if given."""
    where = Where(params={"start": start or scope.start, "end": scope.end})
    if scope.feature:
        where.add("feature = $feature", feature=scope.feature)
    if scope.tier:
        where.add("hardware_tier = $tier", tier=scope.tier)
    if scope.region:
        where.add("region = $region", region=scope.region)
    return where


def node_filter(scope: Scope, column: str = "node_id") -> Where:
    """Nodes of the tier and region; with a feature, nodes that served it or carry its model."""
    where = Where()
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


def variant_filter(scope: Scope, a: str = "variant_a", b: str = "variant_b") -> Where:
    """Pairs of the feature; with a tier, pairs where either variant runs on that tier
    (the reconciler's ``variants`` table)."""
    where = Where()
    if scope.feature:
        where.add("feature = $feature", feature=scope.feature)
    if scope.tier:
        where.add(f"({a} IN {TIER_VARIANTS} OR {b} IN {TIER_VARIANTS})", tier=scope.tier)
    return where


# The variants that run on the tier $tier (a variant's tier is one of its parts).
TIER_VARIANTS = "(SELECT variant FROM variants WHERE hardware_tier = $tier)"
