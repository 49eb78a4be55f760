"""The reconciler loop as Prometheus metrics: runs, how long they take, how far behind
the lake the reconciler's tables are, and the findings open after the last run.

Lag: a run covers the spans committed before it started, so the tables are behind the
lake by the time since the last successful run started (before the first success: since
the loop started). The open findings are counted by the loop on its own connection
right after each successful run, so a scrape never queries the lake.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import duckdb
from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from reconciler.run import RunReport

RUN_SECONDS_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
OPEN_FINDINGS_SQL = "SELECT kind, count(*) FROM findings WHERE status = 'open' GROUP BY kind"


class ReconcilerMetrics:
    """Updated by the loop's thread, read by scrapes (a Prometheus collector)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = time.time()
        self._last_success: float | None = None  # Unix time the last successful run began
        self._runs = {"ok": 0, "failed": 0}
        self._open_findings: dict[str, int] = {}
        self._seconds = Histogram(
            "parallax_reconciler_run_duration_seconds",
            "Time one reconciler run took (successful runs).",
            buckets=RUN_SECONDS_BUCKETS,
            registry=None,
        )

    def succeeded(self, report: RunReport, con: duckdb.DuckDBPyConnection) -> None:
        """Record a run that committed; count the findings open now."""
        self._seconds.observe(report.seconds)
        with self._lock:
            self._runs["ok"] += 1
            self._last_success = time.time() - report.seconds
        open_findings = dict(con.execute(OPEN_FINDINGS_SQL).fetchall())
        with self._lock:
            # a kind seen once stays, at 0 when none is open: its alert resolves on a value
            self._open_findings = {**dict.fromkeys(self._open_findings, 0), **open_findings}

    def failed(self) -> None:
        with self._lock:
            self._runs["failed"] += 1

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            runs, open_findings = dict(self._runs), dict(self._open_findings)
            last_success = self._last_success
        families = CounterMetricFamily(
            "parallax_reconciler_runs", "Reconciler runs, by outcome.", labels=["outcome"]
        )
        for outcome, count in runs.items():
            families.add_metric([outcome], count)
        yield families
        yield from self._seconds.collect()
        since = last_success if last_success is not None else self._started
        yield GaugeMetricFamily(
            "parallax_reconciler_lag_seconds",
            "Seconds since the start of the last successful run (the newest spans its "
            "tables cover), or since the server started when none succeeded yet.",
            value=max(0.0, time.time() - since),
        )
        if last_success is not None:
            yield GaugeMetricFamily(
                "parallax_reconciler_last_success_timestamp_seconds",
                "Unix time the last successful reconciler run started.",
                value=last_success,
            )
        findings = GaugeMetricFamily(
            "parallax_findings_open",
            "Findings open after the last successful reconciler run, by kind.",
            labels=["kind"],
        )
        for kind, count in sorted(open_findings.items()):
            findings.add_metric([kind], count)
        yield findings
