"""The ingest sweep (``bench/ingest.py --sweep``): throughput against requests in flight.

For each compression and each in-flight count (a cell), the same load runs twice in a
row: against the no-op receiver (``bench/noop_receiver.py``, the ceiling: what the
clients reach when the receiver does nothing) and against a fresh ``parallax server`` on
a fresh temporary lake, which must then hold exactly the acknowledged spans. The load is
``client_processes`` client processes (separate from this driver) keeping the cell's
in-flight count of requests outstanding between them. A last cell runs an app with the
stock OpenTelemetry SDK exporting straight to the server (``bench/ingest_sdk.py``).

Every receiver, server and client is a child process registered with ``Children``: the
caller stops them all in ``finally`` (Ctrl-C and SIGTERM included). Each step has a
timeout, so the sweep's duration is bounded; ``SweepPlan.runtime_text`` states it.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.children import Children
from bench.ingest_load import READY_TIMEOUT_S, LoadShape, run_load
from bench.ingest_sdk import APP_EXIT_GRACE_S, run_sdk_cell
from bench.ingest_sweep_report import cell_row, table_header
from bench.ingest_targets import (
    parse_server_log,
    server_commits,
    start_noop,
    start_parallax,
    verify_lake,
)

COMPRESSIONS = ("gzip", "none")
INFLIGHT = (8, 16, 64, 256)
STEP_OVERHEAD_S = 5  # typical: start a receiver, spawn clients, build their pools, stop
STEP_TIMEOUTS_S = 120 + READY_TIMEOUT_S + 90  # start, clients ready, stop (SIGKILL after)


@dataclass(frozen=True)
class SweepPlan:
    """The cells to run and the load of each."""

    compressions: tuple[str, ...]
    inflight: tuple[int, ...]
    client_processes: int
    spans_per_request: int
    pool: int
    duration_s: float
    warmup_s: float
    drain_s: float
    call_timeout_s: float
    sdk_rate: int  # spans/s of the stock-SDK cell; 0: no SDK cell

    def cells(self) -> list[tuple[str, int]]:
        return [(c, n) for c in self.compressions for n in self.inflight]

    def shape(self, compression: str, inflight: int) -> LoadShape:
        return LoadShape(
            client_processes=True,
            clients=self.client_processes,
            inflight=inflight,
            spans_per_request=self.spans_per_request,
            pool=self.pool,
            compression=compression,
            duration_s=self.duration_s,
            warmup_s=self.warmup_s,
            drain_s=self.drain_s,
            call_timeout_s=self.call_timeout_s,
        )

    def load_runs(self) -> int:
        return 2 * len(self.cells()) + (2 if self.sdk_rate else 0)  # SDK: no-op, then parallax

    def runtime_text(self) -> str:
        """What the sweep runs and how long it takes: typically, and at most."""
        runs = self.load_runs()
        sending_s = runs * self.duration_s
        typical_s = runs * (self.duration_s + STEP_OVERHEAD_S)
        send_bound = self.shape("gzip", 1).bound_s()
        worst_s = 2 * len(self.cells()) * (send_bound + STEP_TIMEOUTS_S)
        if self.sdk_rate:
            worst_s += 2 * (self.duration_s + APP_EXIT_GRACE_S + STEP_TIMEOUTS_S)
        sdk = (
            f" + the stock-SDK cell at {self.sdk_rate:,} spans/s (no-op receiver + parallax server)"
            if self.sdk_rate
            else ""
        )
        return (
            f"{len(self.compressions)} compressions x {len(self.inflight)} in-flight counts"
            f" x (no-op receiver + parallax server){sdk} = {runs} runs of"
            f" {self.duration_s:g} s: {sending_s / 60:.1f} min of load, about"
            f" {typical_s / 60:.1f} min in all; every step has a timeout (at most"
            f" {worst_s / 60:.0f} min if every one of them ran out)"
        )


def cell_key(compression: str, inflight: int) -> str:
    return f"{compression}/{inflight}-in-flight"


def run_sweep(
    plan: SweepPlan,
    workdir: Path,
    children: Children,
    env: dict[str, str],
    save: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """Run every cell, then the SDK cell; ``save`` gets the results after each one."""
    sweep: dict[str, Any] = {"cells": {}, "sdk": None, "complete": False}
    cells = plan.cells()
    print(table_header(), flush=True)
    for number, (compression, inflight) in enumerate(cells, 1):
        key = cell_key(compression, inflight)
        print(
            f"[{number}/{len(cells)}] {key}: no-op receiver, then parallax server", file=sys.stderr
        )
        run_dir = workdir / key.replace("/", "-")
        sweep["cells"][key] = run_cell(plan.shape(compression, inflight), run_dir, children, env)
        print(cell_row(key, sweep["cells"][key]), flush=True)
        save(sweep)
    if plan.sdk_rate:
        print(f"stock SDK at {plan.sdk_rate:,} spans/s for {plan.duration_s:g} s...", flush=True)
        sweep["sdk"] = run_sdk_cell(
            plan.sdk_rate, plan.duration_s, plan.warmup_s, workdir, children, env
        )
    sweep["complete"] = True
    save(sweep)
    return sweep


def run_cell(
    shape: LoadShape, run_dir: Path, children: Children, env: dict[str, str]
) -> dict[str, Any]:
    """The same load against the no-op receiver, then against a fresh parallax server."""
    run_dir.mkdir(parents=True)
    noop = against_noop(shape, run_dir, children, env)
    parallax = against_parallax(shape, run_dir, children, env)
    ceiling, rate = noop["acked_spans_per_s"], parallax["acked_spans_per_s"]
    return {
        "ratio_to_noop": round(rate / ceiling, 3) if ceiling and rate is not None else None,
        "parallax": parallax,
        "noop": noop,
    }


def against_noop(
    shape: LoadShape, run_dir: Path, children: Children, env: dict[str, str]
) -> dict[str, Any]:
    receiver = start_noop(children, run_dir, env)
    e2e = run_load(shape, receiver.pid, receiver.address)
    code, _ = receiver.stop(10)
    return cell_figures(e2e) | {"receiver_exit": code, "detail": e2e}


def against_parallax(
    shape: LoadShape, run_dir: Path, children: Children, env: dict[str, str]
) -> dict[str, Any]:
    lake = run_dir / "lake"
    server = start_parallax(children, lake, run_dir, env)
    e2e = run_load(shape, server.pid, server.address)
    code, stop_s = server.stop(90)
    log = parse_server_log(run_dir / "server.log")
    check = verify_lake(lake, e2e["acked_spans"], e2e["ok_requests"])
    shutil.rmtree(lake, ignore_errors=True)  # a 30 s run leaves hundreds of MiB
    return cell_figures(e2e) | {
        "verification": check,
        "server_exit": {"code": code, "seconds": stop_s},
        "server_commits": server_commits(log),
        "server_log": log[-8:],
        "detail": e2e,
    }


def cell_figures(e2e: dict[str, Any]) -> dict[str, Any]:
    """The figures a sweep cell reports for one receiver (the rest stays in ``detail``)."""
    return {
        "acked_spans_per_s": e2e["sustained_spans_per_s"],
        "latency_p50_ms": e2e["latency_ms"]["p50"],
        "latency_p99_ms": e2e["latency_ms"]["p99"],
        "server_cpu_s_per_100k_spans": e2e["server_cpu_s_per_100k_spans"],
        "server_cores": e2e["server_cpu_cores_avg"],
        "server_peak_rss_mib": e2e["server_peak_rss_mib"],
        "refusals": e2e["retries_resource_exhausted"],
        "retries_other": e2e["retries_other"],
        "errors": e2e["errors"],
        "abandoned_batches": e2e["abandoned_batches"],
        "client_cpu_s_per_100k_spans": e2e["client_cpu_s_per_100k_spans"],
        "other_processes_cores": e2e["other_processes_cores_avg"],
    }


def sweep_passed(sweep: dict[str, Any]) -> bool:
    """Every server run stored exactly what it acknowledged and exited cleanly."""
    runs = [cell["parallax"] for cell in sweep["cells"].values()]
    if sweep["sdk"]:
        runs.append(sweep["sdk"])
    return all(
        run["verification"]["exact"]
        and run["verification"]["acked_spans"] > 0
        and run["server_exit"]["code"] == 0
        for run in runs
    )
