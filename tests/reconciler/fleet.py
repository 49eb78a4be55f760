"""Fixture lakes for the reconciler: spans written as the ingest service writes them.

``Fleet.answer(...)`` builds one inference span; ``Fleet.commit(spans)`` writes a list
of them in one transaction (one DuckLake snapshot, like one group commit). Times are
offsets in seconds from ``T0``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from parallax.config import ReconcilerSettings
from reconciler import RunReport, reconcile
from reconciler.policies import Policies
from reconciler.policy_file import builtin_policies, policies_from_mapping
from store import WriterLake

T0 = datetime(2026, 11, 1, tzinfo=UTC)
AS_OF = T0 + timedelta(days=2)

SPAN_SCHEMA = pa.schema(
    [
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("name", pa.string()),
        ("kind", pa.string()),
        ("start_time", pa.timestamp("us", tz="UTC")),
        ("duration_ms", pa.float64()),
        ("status_code", pa.string()),
        ("node_id", pa.string()),
        ("feature", pa.string()),
        ("model_name", pa.string()),
        ("model_version", pa.string()),
        ("quantization", pa.string()),
        ("hardware_tier", pa.string()),
        ("accelerator", pa.string()),
        ("input_fingerprint", pa.string()),
        ("output_label", pa.string()),
        ("output_score", pa.float64()),
        ("output_topk", pa.list_(pa.string())),
        ("output_digest", pa.string()),
        ("cold_start", pa.bool_()),
        ("ingested_at", pa.timestamp("us", tz="UTC")),
    ]
)


def policies(**features: dict[str, Any]) -> Policies:
    """Policies from keyword tables: ``policies(fraud={"comparator": "label"})``."""
    return policies_from_mapping({"features": features}, "test policies")


@dataclass
class Fleet:
    """Writes spans into a lake and runs the reconciler on it."""

    lake: WriterLake
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.lake.con

    def answer(
        self,
        feature: str,
        fingerprint: str,
        variant: str,
        *,
        at: float = 0.0,
        node: str = "node-1",
        label: str | None = None,
        score: float | None = None,
        topk: list[str] | None = None,
        digest: str | None = None,
        span_id: str | None = None,
        ms: float = 10.0,
        cold: bool | None = None,
    ) -> dict[str, Any]:
        """One inference span of ``variant`` ('MODEL VERSION QUANT TIER [ACCEL]')."""
        model, version, quantization, tier, *accelerator = variant.split()
        number = next(self._ids)
        return {
            "trace_id": f"{number:032x}",
            "span_id": span_id or f"{number:016x}",
            "name": "inference",
            "kind": "internal",
            "start_time": T0 + timedelta(seconds=at),
            "duration_ms": ms,
            "status_code": "unset",
            "node_id": node,
            "feature": feature,
            "model_name": model,
            "model_version": version,
            "quantization": quantization,
            "hardware_tier": tier,
            "accelerator": accelerator[0] if accelerator else None,
            "input_fingerprint": fingerprint,
            "output_label": label,
            "output_score": score,
            "output_topk": topk,
            "output_digest": digest,
            "cold_start": cold,
        }

    def commit(self, spans: list[dict[str, Any]]) -> None:
        """Write ``spans`` in one transaction (one lake snapshot)."""
        now = datetime.now(UTC)
        rows = pa.Table.from_pylist([{**s, "ingested_at": now} for s in spans], SPAN_SCHEMA)
        self.con.register("new_spans", rows)
        try:
            self.con.execute("INSERT INTO spans BY NAME SELECT * FROM new_spans")
        finally:
            self.con.unregister("new_spans")

    def reconcile(
        self,
        policies: Policies | None = None,
        *,
        full: bool = False,
        settings: ReconcilerSettings | None = None,
        as_of: datetime = AS_OF,
    ) -> RunReport:
        return reconcile(
            self.lake,
            policies or builtin_policies(),
            settings or ReconcilerSettings(),
            full=full,
            as_of=as_of,
        )

    def rows(self, query: str, *params: Any) -> list[tuple]:
        return self.con.execute(query, list(params)).fetchall()
