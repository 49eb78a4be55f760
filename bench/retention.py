"""Retention benchmark: a simulated 45-day run with 7-day retention keeps the lake flat.

    .venv/bin/python bench/retention.py [--days 45] [--retention-days 7] [--spans-per-day 10000]

Each simulated day: a day of spans is written through the bench lake builder
(``bench/fleet_data.py``'s ``generate`` for day 1, ``append`` after: later commits, with
late spans and re-answers of old inputs, ledger rows and hourly heartbeats), then what
the server does in that day: retention at the day's end (``store.retention``), an
incremental reconciler run, and the rest of maintenance (merge, snapshot expiry, file
cleanup). Snapshots expire as soon as the reconciler no longer needs them: in the server
it runs every minute, well within ``server.snapshot_retention_s``, so it reads a deletion
while its watermark's snapshot is still there; the bench keeps the snapshots from the
run's watermark on and expires the older ones, then deletes every unused and orphaned file (in the
server they leave the disk later, see docs/retention.md: the bench has no reader or other
writer to protect).

Per day it records the lake on disk (Parquet files and bytes, catalog bytes), rows per
table, the reconciler run's seconds, and the seconds of every dashboard page's queries
(``bench/dashboard.py``'s page list: 24 hours ending at the day's end; warm, after a
first run) and of two analyst queries (7 days; the whole lake). Timings are noisy: the
machine is shared with other work. Figures go to ``bench/results/retention.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dashboard import page_queries
from bench.fleet_data import append, generate
from bench.report import machine_info, write_results
from dashboard.queries import Scope
from parallax.config import DashboardSettings, ReconcilerSettings, StoreSettings
from reconciler import reconcile
from reconciler.policy_file import builtin_policies
from store.lake import connect, open_writer
from store.maintenance import run_maintenance
from store.retention import apply_retention, retention_policy

RESULTS = Path(__file__).resolve().parent / "results" / "retention.json"
TABLES = ("spans", "node_heartbeats", "ingested_batches", "reconciled", "comparisons",
          "traffic_hourly", "output_histograms")  # fmt: skip
ANALYST_QUERIES = {
    "p99 latency per variant, last 7 days": """
        SELECT feature, variant, count(*) AS spans, quantile_cont(duration_ms, 0.99) AS p99
        FROM inferences_between(?::TIMESTAMPTZ - INTERVAL 7 DAY, ?::TIMESTAMPTZ)
        GROUP BY ALL ORDER BY ALL""",
    "answers per feature and version, whole lake": """
        SELECT feature, model_version, count(*) FROM inferences GROUP BY ALL ORDER BY ALL""",
}


def disk_usage(store: StoreSettings) -> dict[str, int]:
    root = Path(store.path)
    files = list((root / "data").rglob("*.parquet"))
    catalog = sum(p.stat().st_size for p in root.glob("catalog.sqlite*"))
    return {
        "parquet_files": len(files),
        "parquet_bytes": sum(f.stat().st_size for f in files),
        "catalog_bytes": catalog,
    }


def time_queries(store: StoreSettings, scope: Scope, repeats: int) -> dict[str, Any]:
    """Warm seconds (median of ``repeats`` runs after a first) of every dashboard page's
    queries and of the analyst queries, on one read-only connection."""
    pages = page_queries(DashboardSettings())
    analyst = {
        name: lambda con, scope, sql=sql: con.execute(sql, [scope.end] * sql.count("?")).fetchall()
        for name, sql in ANALYST_QUERIES.items()
    }
    con = connect(store, read_only=True)
    try:
        warm = {name: _warm_s(con, scope, page, repeats) for name, page in pages.items()}
        analyst_s = {name: _warm_s(con, scope, {name: q}, repeats) for name, q in analyst.items()}
    finally:
        con.close()
    return {"pages_warm_s": warm, "analyst_warm_s": analyst_s}


def _warm_s(con: Any, scope: Scope, queries: dict[str, Any], repeats: int) -> float:
    runs = []
    for _ in range(1 + repeats):
        started = time.perf_counter()
        for query in queries.values():
            query(con, scope)
        runs.append(time.perf_counter() - started)
    return round(statistics.median(runs[1:]), 4)


def simulate(store: StoreSettings, days: int, retention_days: int, spans_per_day: int,
             repeats: int) -> list[dict[str, Any]]:  # fmt: skip
    policy = retention_policy(
        StoreSettings(retention_days=retention_days, ledger_retention_days=retention_days,
                      heartbeat_retention_days=retention_days)
    )  # fmt: skip
    reconciler = ReconcilerSettings()
    record = []
    with open_writer(store) as lake:
        fleet = None
        for day in range(1, days + 1):
            started = time.perf_counter()
            if fleet is None:
                fleet = generate(lake.con, spans_per_day, days=1.0, nodes=200)
            else:
                fleet = append(lake.con, fleet, spans_per_day, late_fraction=0.02,
                               reanswer_fraction=0.02)  # fmt: skip
            written_s = time.perf_counter() - started
            now = fleet.end
            deleted = apply_retention(lake, policy, now)
            run = reconcile(lake, builtin_policies(), reconciler, as_of=now)
            # The run's watermark snapshot stays (a margin for the merge steps that run
            # before the expiry), as server.snapshot_retention_s keeps it in the server;
            # older snapshots expire now.
            (keep_s,) = lake.con.execute(
                "SELECT epoch(now()) - epoch(snapshot_time) + 5 FROM ducklake_snapshots('lake')"
                " WHERE snapshot_id = ?",
                [run.to_snapshot],
            ).fetchone()
            maintained = run_maintenance(lake, keep_s, None)
            # The server deletes unused files one to two snapshot_retention_s later, within
            # the simulated day; the bench has no reader to protect, so it deletes them now.
            with lake.transaction() as con:
                con.execute("CALL ducklake_cleanup_old_files('lake', cleanup_all => true)")
                con.execute("CALL ducklake_delete_orphaned_files('lake', older_than => now())")
            rows = {t: lake.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
            first, last = lake.con.execute(
                "SELECT min(start_time), max(start_time) FROM spans"
            ).fetchone()
            entry = {
                "day": day,
                "lake_time": str(now),
                "spans_from": str(first),
                "spans_to": str(last),
                "write_s": round(written_s, 3),
                "deleted": deleted,
                "reconcile": {
                    "mode": run.mode,
                    "seconds": round(run.seconds, 3),
                    "groups": run.groups_recomputed,
                },
                "maintenance_s": round(maintained["seconds"], 3),
                "data_files": maintained["data_files_after"],
                "rows": rows,
                "data_files_by_table": _files_by_table(lake.con),
                "disk": disk_usage(store),
            }
            entry |= time_queries(store, Scope(now - timedelta(days=1), now), repeats)
            record.append(entry)
            print(_line(entry), flush=True)
    return record


def _files_by_table(con: Any) -> dict[str, int]:
    rows = con.execute(
        "SELECT t.table_name, count(*) FROM __ducklake_metadata_lake.ducklake_data_file f "
        "JOIN __ducklake_metadata_lake.ducklake_table t USING (table_id) "
        "WHERE f.end_snapshot IS NULL AND t.end_snapshot IS NULL GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    return dict(rows)


def _line(e: dict[str, Any]) -> str:
    pages = sum(e["pages_warm_s"].values())
    return (
        f"day {e['day']:2d}: {e['rows']['spans']:>8,} spans, "
        f"{e['disk']['parquet_files']:>4} files, "
        f"{e['disk']['parquet_bytes'] / 2**20:6.1f} MiB + catalog "
        f"{e['disk']['catalog_bytes'] / 2**20:5.1f} MiB; deleted {e['deleted'].get('spans', 0):,}; "
        f"reconcile {e['reconcile']['mode']} {e['reconcile']['seconds']:.2f}s; "
        f"pages {pages:.2f}s; analyst {sum(e['analyst_warm_s'].values()):.3f}s"
    )


def summary(record: list[dict[str, Any]], retention_days: int) -> dict[str, Any]:
    """Steady state (the days after the horizon filled up): first and last week compared."""
    steady = [e for e in record if e["day"] > retention_days + 1]
    if len(steady) < 14:
        return {}
    early, late = steady[:7], steady[-7:]

    def mean(rows: list[dict[str, Any]], value) -> float:
        return round(statistics.mean(value(e) for e in rows), 4)

    measures = {
        "spans": lambda e: e["rows"]["spans"],
        "parquet_files": lambda e: e["disk"]["parquet_files"],
        "parquet_mib": lambda e: e["disk"]["parquet_bytes"] / 2**20,
        "catalog_mib": lambda e: e["disk"]["catalog_bytes"] / 2**20,
        "reconciled_rows": lambda e: e["rows"]["reconciled"],
        "reconcile_s": lambda e: e["reconcile"]["seconds"],
        "maintenance_s": lambda e: e["maintenance_s"],
        "pages_warm_s": lambda e: sum(e["pages_warm_s"].values()),
        "analyst_warm_s": lambda e: sum(e["analyst_warm_s"].values()),
    }
    return {
        name: {"first_week_after_horizon": mean(early, f), "last_week": mean(late, f)}
        for name, f in measures.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=45)
    parser.add_argument("--retention-days", type=int, default=7)
    parser.add_argument("--spans-per-day", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=1, help="warm runs per query (median)")
    parser.add_argument("--label", default="default")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="parallax-retention-") as tmp:
        store = StoreSettings(path=str(Path(tmp) / "lake"))
        record = simulate(store, args.days, args.retention_days, args.spans_per_day, args.repeats)
    report = {
        "machine": machine_info(),
        "parameters": vars(args),
        "wall_s": round(time.monotonic() - started, 1),
        "summary": summary(record, args.retention_days),
        "days": record,
    }
    write_results(RESULTS, args.label, report, __doc__.split("\n\n")[0])
    print(f"summary: {report['summary']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
