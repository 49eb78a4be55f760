"""Dashboard benchmark: every page's queries against a large lake, uncached.

    .venv/bin/python bench/dashboard.py --path /tmp/lake10m [--spans 10000000] [--repeats 3]

Uses the lake at ``--path``, or generates one there first (``bench/fleet_data.py``'s
synthetic fleet, then a full reconciler run), as the reconciler benchmark does. Each page
runs the queries its view module runs (``dashboard.queries``, called directly: the cost
of one refresh when Streamlit's cache has expired), plus the two every page runs in
``app.py`` (filter options, empty-lake check); the SQL page runs its first example on a
connection of its own. Scenarios: the default window (24 hours, ending at the lake's
last span), the same with a feature and a tier filter, and the whole week. Per query the
first (cold) run and the median of ``--repeats`` more; per page their sums. The aim is
every page under 1 s. Figures go to ``bench/results/dashboard.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import machine_info, write_results
from dashboard import queries
from dashboard.examples import EXAMPLES
from dashboard.queries import Scope
from dashboard.readonly_sql import run_query
from parallax.config import DashboardSettings, ReconcilerSettings, StoreSettings
from store.lake import connect, open_writer

RESULTS = Path(__file__).resolve().parent / "results" / "dashboard.json"
AIM_S = 1.0
Query = Callable[[Any, Scope], Any]


def page_queries(settings: DashboardSettings) -> dict[str, dict[str, Callable[..., Any]]]:
    """What each page runs, as the views call it: name -> f(connection, scope)."""
    tolerance = settings.heartbeat_tolerance_s
    common = {
        "filter_options": lambda con, scope: queries.filter_options(con),
        "lake_is_empty": lambda con, scope: queries.lake_is_empty(con),
    }
    return {
        "overview": {
            **common,
            "node_counts": lambda con, scope: queries.node_counts(con, scope, tolerance),
            "span_rate": queries.span_rate,
            "findings_summary": queries.findings_summary,
            "divergence_rate": queries.divergence_rate,
            "open_findings": queries.open_findings,
        },
        "fleet": {**common, "fleet": lambda con, scope: queries.fleet(con, scope, tolerance)},
        "skew": {
            **common,
            "traffic_versions": queries.traffic_versions,
            "inventory_versions": queries.inventory_versions,
            "version_share": queries.version_share,
            "skew_nodes": queries.skew_nodes,
        },
        "divergence": {
            **common,
            "variant_pairs": queries.variant_pairs,
            "divergent_inputs": _divergent_inputs,
        },
        "latency": {
            **common,
            "latency_tier": lambda con, scope: queries.latency(con, scope, "tier"),
            "latency_variant": lambda con, scope: queries.latency(con, scope, "variant"),
            "cold_start_latency": queries.cold_start_latency,
            "latency_over_time": queries.latency_over_time,
        },
    }


def _divergent_inputs(con: Any, scope: Scope) -> Any:
    """The drill-down of the page's default choice: the most diverging pair of the feature."""
    pairs = queries.variant_pairs(con, scope)
    pairs = pairs[(pairs.variant_a != pairs.variant_b) & (pairs.disagreements > 0)]
    if pairs.empty:
        return pairs
    top = pairs.sort_values("disagreement_rate", ascending=False).iloc[0]
    feature_scope = Scope(scope.start, scope.end, top.feature, scope.tier, scope.region)
    return queries.divergent_inputs(con, feature_scope, top.variant_a, top.variant_b)


def time_page(
    store: StoreSettings, page: dict[str, Callable[..., Any]], scope: Scope, repeats: int
) -> dict[str, Any]:
    """Cold (first) and warm (median) seconds per query on a fresh connection, and the sums."""
    con = connect(store, read_only=True)
    try:
        per_query = {}
        for name, query in page.items():
            runs = []
            for _ in range(1 + repeats):
                started = time.perf_counter()
                result = query(con, scope)
                runs.append(time.perf_counter() - started)
            per_query[name] = {
                "cold_s": round(runs[0], 4),
                "warm_s": round(statistics.median(runs[1:]), 4),
                "rows": len(result),
            }
    finally:
        con.close()
    return {
        "cold_s": round(sum(q["cold_s"] for q in per_query.values()), 3),
        "warm_s": round(sum(q["warm_s"] for q in per_query.values()), 3),
        "queries": per_query,
    }


def time_sql_page(store: StoreSettings, settings: DashboardSettings, repeats: int) -> dict:
    sql = next(iter(EXAMPLES.values()))
    runs = []
    for _ in range(1 + repeats):
        started = time.perf_counter()
        run_query(store, sql, settings.query_row_limit, settings.query_timeout_s)
        runs.append(time.perf_counter() - started)
    return {"cold_s": round(runs[0], 3), "warm_s": round(statistics.median(runs[1:]), 3)}


def lake_span(store: StoreSettings) -> tuple[Any, Any, int]:
    con = connect(store, read_only=True)
    try:
        return con.execute(
            "SELECT min(start_time), max(start_time), count(*) FROM spans"
        ).fetchone()
    finally:
        con.close()


def ensure_lake(path: Path, spans: int) -> StoreSettings:
    """The lake at ``path``; generated and reconciled first when it does not exist."""
    store = StoreSettings(path=str(path))
    if (path / "catalog.sqlite").exists():
        return store
    from bench.fleet_data import generate
    from reconciler import reconcile
    from reconciler.policy_file import builtin_policies

    print(f"generating {spans:,} spans into {path} ...", flush=True)
    with open_writer(store) as lake:
        fleet = generate(lake.con, spans)
        started = time.monotonic()
        # "now" is the lake's end, so skew ages and findings fall inside its windows.
        reconcile(lake, builtin_policies(), ReconcilerSettings(), full=True, as_of=fleet.end)
        print(f"reconciled in {time.monotonic() - started:.1f}s", flush=True)
    fleet.save(path / "fleet.json")
    return store


def scenarios(first: Any, last: Any) -> dict[str, Scope]:
    end = last + timedelta(seconds=1)
    day = Scope(end - timedelta(days=1), end)
    return {
        "24h": day,
        "24h fraud-scoring device": Scope(day.start, day.end, "fraud-scoring", "device"),
        "whole lake": Scope(first, end),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, required=True, help="lake directory")
    parser.add_argument("--spans", type=int, default=10_000_000, help="spans when generating")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--label", default=None, help="results label (default: N-spans)")
    args = parser.parse_args()

    store = ensure_lake(args.path, args.spans)
    first, last, spans = lake_span(store)
    settings = DashboardSettings()
    report: dict[str, Any] = {"spans": spans, "aim_s": AIM_S, "scenarios": {}}
    for label, scope in scenarios(first, last).items():
        pages = {
            name: time_page(store, page, scope, args.repeats)
            for name, page in page_queries(settings).items()
        }
        pages["sql"] = time_sql_page(store, settings, args.repeats)
        report["scenarios"][label] = {
            "window": [scope.start.isoformat(), scope.end.isoformat()],
            "pages": pages,
        }
        print(f"{label}:")
        for name, page in pages.items():
            mark = "ok" if page["cold_s"] < AIM_S else "over the aim"
            print(f"  {name:<11} cold {page['cold_s']:6.3f}s  warm {page['warm_s']:6.3f}s  {mark}")
    slowest = max(
        page["cold_s"] for s in report["scenarios"].values() for page in s["pages"].values()
    )
    report["slowest_page_cold_s"] = slowest
    report["every_page_under_aim"] = slowest < AIM_S
    report["machine"] = machine_info()
    write_results(
        RESULTS,
        args.label or f"{spans // 1_000_000}M-spans",
        report,
        "Seconds each dashboard page spends in its queries (uncached), per scenario; "
        "cold = first run on a fresh connection, warm = median of the repeats.",
    )
    print(f"slowest page {slowest:.3f}s; results in {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
