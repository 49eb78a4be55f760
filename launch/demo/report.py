"""What the demo prints: where to look while it runs, and what the lake holds at the end."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from launch.demo.plan import Plan
from parallax.config import StoreSettings

SHOWN_FINDINGS = 12
EXAMPLE_QUERIES = {
    "What needs attention (divergences, skew)": (
        "SELECT severity, kind, feature, subject, detail FROM findings "
        "WHERE status = 'open' ORDER BY severity, kind, subject"
    ),
    "How often each pair of model variants disagrees": (
        "SELECT feature, variant_a, variant_b, shared_inputs, "
        "round(100 * disagreement_rate, 1) AS pct, verdict FROM variant_pairs "
        "WHERE variant_a <> variant_b ORDER BY feature, rate_low DESC"
    ),
    "Spans per node, how late they arrived, cold starts": (
        "SELECT node_id, count(*) AS spans, "
        "round(max(epoch(ingested_at) - epoch(start_time))) AS max_delay_s, "
        "count(*) FILTER (WHERE cold_start) AS cold_starts FROM spans GROUP BY 1 ORDER BY 1"
    ),
}


def banner(plan: Plan, lake: Path, dashboard_url: str | None, logs: Path) -> str:
    """Printed once everything runs: the dashboard, the lake, queries, the timeline."""
    lines = ["", "Parallax demo: a simulated fleet is running."]
    if dashboard_url:
        lines.append(f"  dashboard   {dashboard_url}")
    lines += [f"  lake        {lake}", f"  logs        {logs}", "", "Try, in another terminal:"]
    for title, query in EXAMPLE_QUERIES.items():
        lines.append(f"  # {title}")
        lines.append(f"  parallax sql --lake {shlex.quote(str(lake))} {shlex.quote(query)}")
    lines += ["", "What happens (seconds from now):"] + [f"  {line}" for line in timeline(plan)]
    stop = (
        f"The demo stops by itself after {plan.duration_s:g}s (or Ctrl-C)."
        if plan.duration_s
        else "Ctrl-C stops every process cleanly."
    )
    return "\n".join([*lines, "", stop, ""])


def timeline(plan: Plan) -> list[str]:
    """The plan's events in order, one line each."""
    events: list[tuple[float, str]] = []
    for node in plan.nodes:
        for switch in node.fraud_versions[1:]:
            events.append((switch.at_s, f"{node.node_id} moves fraud-gbm to {switch.version}"))
        if node.outage:
            start, end = node.outage
            events.append((start, f"{node.node_id} loses its link (its collector buffers)"))
            events.append((end, f"{node.node_id} link back: the collector backfills"))
        if node.recs_cold_start:
            events.append(
                (node.recs_from_s, f"{node.node_id} turns recommendations on: model cold start")
            )
        if node.lagging:
            events.append((0.0, f"{node.node_id} will stay on fraud-gbm 2.1 (skew violation)"))
    return [f"{at:6.1f}  {text}" for at, text in sorted(events)]


@dataclass(frozen=True)
class Summary:
    """What the lake holds about this run (spans that started at or after ``started``)."""

    seconds: float
    nodes: list[str]
    spans: int
    spans_per_variant: list[tuple[str, str, int]]
    open_findings: list[tuple[str, str, str, str]]
    first_divergence_s: float | None
    offline_node: str | None
    offline_produced: int | None
    offline_in_lake: int | None
    backfilled: int | None

    @property
    def spans_per_s(self) -> float:
        return self.spans / self.seconds if self.seconds > 0 else 0.0

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    def text(self) -> str:
        lines = [
            "",
            f"Demo summary ({self.seconds:.0f}s): {len(self.nodes)} nodes, "
            f"{self.spans:,} spans ({self.spans_per_s:.0f}/s)",
            "  spans per variant:",
        ]
        lines += [f"    {feature:14} {variant:36} {n:7,}" for feature, variant, n in
                  self.spans_per_variant]  # fmt: skip
        if self.offline_node and self.backfilled:
            lines.append(
                f"  {self.offline_node} (link cut): app produced {self.offline_produced:,}, "
                f"lake holds {self.offline_in_lake:,}, of which {self.backfilled:,} backfilled "
                "after the outage"
            )
        if self.first_divergence_s is not None:
            lines.append(f"  first diverging pair found {self.first_divergence_s:.0f}s in")
        lines.append(f"  open findings ({len(self.open_findings)}):")
        lines += [f"    {sev:8} {kind:15} {subject}: {detail}" for sev, kind, subject, detail in
                  self.open_findings[:SHOWN_FINDINGS]]  # fmt: skip
        if len(self.open_findings) > SHOWN_FINDINGS:
            lines.append(f"    ... and {len(self.open_findings) - SHOWN_FINDINGS} more")
        return "\n".join(lines) + "\n"


def summarize(
    store: StoreSettings, plan: Plan, started: float, ended: float, produced: dict[str, int]
) -> Summary:
    """Read the lake (read-only) for this run's figures; ``produced``: spans per node's app."""
    from store import connect

    since = datetime.fromtimestamp(started, UTC)
    con = connect(store, read_only=True)
    try:
        nodes = [row[0] for row in con.execute("SELECT node_id FROM nodes ORDER BY 1").fetchall()]
        per_variant = con.execute(
            "SELECT feature, concat_ws(' ', model_name, model_version, quantization, "
            "hardware_tier) AS variant, count(*) FROM spans WHERE start_time >= ? "
            "GROUP BY ALL ORDER BY ALL",
            [since],
        ).fetchall()
        findings = con.execute(
            "SELECT severity, kind, subject, detail FROM findings WHERE status = 'open' "
            "ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, "
            "kind, subject"
        ).fetchall()
        (first_divergence,) = con.execute(
            "SELECT epoch(min(first_seen)) FROM findings "
            "WHERE kind = 'diverging pair' AND first_seen >= ?",
            [since],
        ).fetchone()
        offline = next((node for node in plan.nodes if node.outage), None)
        in_lake = backfilled = None
        if offline is not None and offline.outage is not None:
            start, end = (datetime.fromtimestamp(started + s, UTC) for s in offline.outage)
            in_lake, backfilled = con.execute(
                "SELECT count(*), count(*) FILTER (WHERE start_time >= ? AND start_time < ?) "
                "FROM spans WHERE node_id = ? AND start_time >= ?",
                [start, end, offline.node_id, since],
            ).fetchone()
    finally:
        con.close()
    return Summary(
        seconds=ended - started,
        nodes=nodes,
        spans=sum(row[2] for row in per_variant),
        spans_per_variant=[tuple(row) for row in per_variant],
        open_findings=[tuple(row) for row in findings],
        first_divergence_s=first_divergence - started if first_divergence else None,
        offline_node=offline.node_id if offline else None,
        offline_produced=produced.get(offline.node_id) if offline else None,
        offline_in_lake=in_lake,
        backfilled=backfilled,
    )
