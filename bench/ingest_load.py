"""One load run: client workers send pre-built OTLP requests to one receiver for a while.

The receiver is any OTLP/gRPC trace endpoint with a process id (``parallax server`` or
the no-op receiver); its CPU, threads and peak RSS are read from /proc. Client workers
are threads of this process or processes of their own (``multiprocessing`` spawn), and
the ``inflight`` requests of a shape are split over its clients: one lane per request in
flight, each lane a collector identity sending one batch at a time (see
``bench/otlp_clients.py``). Only OK responses count as acknowledged spans; the rate is
taken over the seconds after ``warmup_s``.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.otlp_clients import Box, ClientSpec, Tally, run_client
from bench.procfs import (
    CLOCK_TICKS,
    Monitor,
    machine_jiffies,
    status_kib,
    thread_cpu,
    top_threads,
    tree_cpu_s,
)
from bench.report import latency_ms

READY_TIMEOUT_S = 90  # building a client's request pool (~1 s) and connecting


@dataclass(frozen=True)
class LoadShape:
    """What the clients send: ``inflight`` requests outstanding in total, over ``clients``."""

    client_processes: bool
    clients: int
    inflight: int
    spans_per_request: int
    pool: int
    compression: str
    duration_s: float
    warmup_s: float
    drain_s: float
    call_timeout_s: float

    def lanes_per_client(self) -> list[int]:
        """The in-flight total split as evenly as it goes (no client without a lane)."""
        clients = min(self.clients, self.inflight)
        base, extra = divmod(self.inflight, clients)
        return [base + (1 if i < extra else 0) for i in range(clients)]

    def bound_s(self) -> float:
        """The longest the sending phase may take before it is abandoned as stuck."""
        return self.duration_s + self.drain_s + self.call_timeout_s + 60


class Workers:
    """Client workers (threads or processes) and the queues and events they share."""

    def __init__(self, shape: LoadShape, specs: list[ClientSpec]) -> None:
        self.processes = shape.client_processes
        if self.processes:
            ctx = multiprocessing.get_context("spawn")
            self.ready, self.out = ctx.Queue(), ctx.Queue()
            self.go, self.abort = ctx.Event(), ctx.Event()
            self.start_at: Any = ctx.Value("d", 0.0)
            make: Any = ctx.Process
        else:
            self.ready, self.out = queue.Queue(), queue.Queue()
            self.go, self.abort = threading.Event(), threading.Event()
            self.start_at = Box(0.0)
            make = threading.Thread
        self.all = [
            make(
                target=run_client,
                args=(spec, self.ready, self.go, self.start_at, self.abort, self.out),
                name=f"client{spec.index}",
                daemon=True,
            )
            for spec in specs
        ]

    def start(self) -> None:
        for worker in self.all:
            worker.start()

    def await_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        seen = 0
        while seen < len(self.all):
            if time.monotonic() > deadline:
                raise RuntimeError("client workers did not get ready in time")
            with contextlib.suppress(queue.Empty):
                self.ready.get(timeout=0.5)
                seen += 1
            with contextlib.suppress(queue.Empty):
                report = self.out.get_nowait()
                raise RuntimeError(f"client worker failed while starting: {report.get('failed')}")

    def release(self) -> None:
        self.start_at.value = time.time()
        self.go.set()

    def collect(self, limit_s: float) -> list[dict[str, Any]]:
        began = time.monotonic()
        reports: list[dict[str, Any]] = []
        while len(reports) < len(self.all):
            remaining = limit_s - (time.monotonic() - began)
            if remaining <= 0:
                raise RuntimeError("clients did not finish in time")
            reports.append(self.out.get(timeout=remaining))
        return reports

    def stop(self) -> None:
        """Abort what still runs; processes that do not exit are terminated."""
        self.abort.set()
        self.go.set()
        for worker in self.all:
            worker.join(5)
            if self.processes and worker.is_alive():
                worker.terminate()
                worker.join(5)


def client_specs(shape: LoadShape, address: str) -> list[ClientSpec]:
    return [
        ClientSpec(
            index=index,
            address=address,
            spans_per_request=shape.spans_per_request,
            pool_size=shape.pool,
            inflight=lanes,
            compression=shape.compression,
            duration_s=shape.duration_s,
            drain_s=shape.drain_s,
            call_timeout_s=shape.call_timeout_s,
            node_prefix=f"bench-{os.getpid()}",
        )
        for index, lanes in enumerate(shape.lanes_per_client())
    ]


@dataclass
class Readings:
    """CPU counters taken around the sending phase."""

    receiver_cpu_s: float
    machine_busy: int
    machine_total: int
    driver_cpu_s: float
    threads: dict[int, tuple[str, float]]
    wall: float

    @classmethod
    def now(cls, pid: int) -> Readings:
        busy, total = machine_jiffies()
        return cls(tree_cpu_s(pid), busy, total, time.process_time(), thread_cpu(pid), 0.0)


def run_load(shape: LoadShape, pid: int, address: str) -> dict[str, Any]:
    """Send ``shape`` to the receiver at ``address`` (process ``pid``); the figures."""
    workers = Workers(shape, client_specs(shape, address))
    monitor = Monitor(pid)
    try:
        workers.start()
        workers.await_ready(READY_TIMEOUT_S)
        before = Readings.now(pid)
        monitor.start()
        wall0 = time.monotonic()
        workers.release()
        reports = workers.collect(shape.bound_s())
        after = Readings.now(pid)
        after.wall = time.monotonic() - wall0
        monitor.stop()
    finally:
        workers.stop()
        monitor.stop()
    failed = [r for r in reports if "failed" in r]
    if failed:
        raise RuntimeError(f"client worker failed: {failed[0]['failed']}")
    return summarize(shape, reports, before, after, monitor, pid)


def summarize(
    shape: LoadShape,
    reports: list[dict[str, Any]],
    before: Readings,
    after: Readings,
    monitor: Monitor,
    pid: int,
) -> dict[str, Any]:
    total = Tally()
    for report in reports:
        total.merge(Tally.from_dict(report["tally"]))
    wall_s = after.wall
    server_cpu_s = after.receiver_cpu_s - before.receiver_cpu_s
    client_cpu_s = (
        sum(r["cpu_s"] for r in reports)
        if shape.client_processes
        else after.driver_cpu_s - before.driver_cpu_s  # the whole driver: clients + monitor
    )
    measured_s = shape.duration_s - shape.warmup_s
    steady = sum(v for s, v in total.per_second.items() if shape.warmup_s <= s < shape.duration_s)
    busy = after.machine_busy - before.machine_busy
    machine_busy = busy / max(1, after.machine_total - before.machine_total)
    other_cpu_s = busy / CLOCK_TICKS - server_cpu_s - client_cpu_s  # other sessions: noise
    peak_kib = status_kib(pid, "VmHWM") or monitor.peak_kib.get(pid, 0)
    seconds = range(int(np.ceil(shape.duration_s)) + 1)
    return {
        "acked_spans": total.acked_spans,
        "ok_requests": total.ok_requests,
        "rejected_spans": total.rejected_spans,
        "retries_resource_exhausted": total.retries_exhausted,
        "retries_other": total.retries_other,
        "errors": dict(total.errors),
        "abandoned_batches": total.abandoned,
        "wall_s": round(wall_s, 3),
        "sustained_spans_per_s": round(steady / measured_s) if measured_s > 0 else None,
        "whole_run_spans_per_s": round(total.acked_spans / wall_s),
        "warmup_s": shape.warmup_s,
        "spans_per_s_timeline": [total.per_second.get(s, 0) for s in seconds],
        "latency_ms": latency_ms(total.latencies),
        "batch_latency_incl_retries_ms": latency_ms(total.batch_latencies),
        "server_cpu_s": round(server_cpu_s, 2),
        "server_cpu_s_per_100k_spans": per_100k_spans(server_cpu_s, total.acked_spans),
        "server_cpu_cores_avg": round(server_cpu_s / wall_s, 2),
        "server_cpu_cores_timeline": cpu_timeline(monitor.samples),
        "server_peak_rss_mib": round(peak_kib / 1024, 1),
        "server_tree_peak_rss_mib": round(sum(monitor.peak_kib.values()) / 1024, 1),
        "server_processes": len(monitor.peak_kib),
        "server_threads_top": top_threads(before.threads, after.threads, wall_s),
        "client_cpu_s": round(client_cpu_s, 2),
        "client_cpu_s_per_100k_spans": per_100k_spans(client_cpu_s, total.acked_spans),
        "machine_busy_pct": round(100 * machine_busy, 1),
        "other_processes_cores_avg": round(max(0.0, other_cpu_s) / wall_s, 2),
        "request_bytes_uncompressed": round(float(np.mean([r["request_bytes"] for r in reports]))),
        "client_pool_build_s": round(max(r["pool_build_s"] for r in reports), 2),
    }


def per_100k_spans(cpu_s: float, spans: int) -> float | None:
    """CPU seconds per 100k spans (None when no span was acknowledged)."""
    return round(cpu_s * 100_000 / spans, 3) if spans else None


def cpu_timeline(samples: list[dict[str, float]]) -> list[float]:
    return [
        round((b["server_cpu_s"] - a["server_cpu_s"]) / max(1e-6, b["t"] - a["t"]), 2)
        for a, b in itertools.pairwise(samples)
    ]


def wait_for_quiet(max_wait_s: float, threshold_cores: float = 0.3) -> dict[str, Any]:
    """Wait (at most ``max_wait_s``) until other processes use under ``threshold_cores``."""
    began = time.monotonic()
    announced = False
    while True:
        busy0, cpu0, wall0 = machine_jiffies()[0], time.process_time(), time.monotonic()
        time.sleep(1.0)
        busy_s = (machine_jiffies()[0] - busy0) / CLOCK_TICKS - (time.process_time() - cpu0)
        other = max(0.0, busy_s) / (time.monotonic() - wall0)
        waited = time.monotonic() - began
        if other <= threshold_cores or waited >= max_wait_s:
            return {
                "waited_s": round(waited, 1),
                "other_cores": round(other, 2),
                "quiet": other <= threshold_cores,
            }
        if not announced:
            print(
                f"  other processes use {other:.1f} cores: waiting up to {max_wait_s:g} s "
                "for a quieter machine...",
                flush=True,
            )
            announced = True
