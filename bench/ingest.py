"""End-to-end ingest benchmark: OTLP/gRPC clients -> ``parallax server`` -> DuckLake lake.

    .venv/bin/python bench/ingest.py [--duration 30] [--clients 4] [--spans-per-request 512]
                                     [--processes] [--compression gzip|none]

One run:

1. starts a real ``parallax server`` subprocess on a fresh temporary lake (port 0);
2. N client workers (threads, or processes with ``--processes`` so that the clients'
   Python does not share a GIL) each pre-build a pool of serialized requests (distinct
   trace ids) and send them for ``--duration`` seconds from ``--inflight`` concurrent
   lanes, each lane being one collector identity (``parallax-node-id``) with a fresh
   ``parallax-batch-seq`` per batch. RESOURCE_EXHAUSTED is retried after the server's
   RetryInfo delay with the same batch id (counted); UNAVAILABLE and DEADLINE_EXCEEDED
   are retried the same way (the batch ledger makes a retry of a committed batch safe);
   only OK responses count as acknowledged spans;
3. reports sustained acknowledged spans/s, server CPU seconds per 100k spans
   (/proc/PID/stat), server peak RSS (VmHWM), client latency per request;
4. measures the raw single-thread limits in the same run, with the server stopped:
   protobuf parse (stock opentelemetry and the lean ``convert.parse``), gzip inflate,
   ``convert.convert`` and the lake's Arrow append (``LakeWriter.write``);
5. checks with a read-only connection that the lake holds exactly the acknowledged spans;
6. prints a summary and merges the figures into ``bench/results/ingest.json`` under the
   run's label (e.g. ``threads-gzip``), so runs of different modes sit side by side.

Server settings can be changed with ``--set server.workers=64`` (passed on as
``PARALLAX_SERVER_WORKERS``). The run is bounded (duration + drain + timeouts) and the
server process and the temporary lake are removed even on Ctrl-C or an exception.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gzip
import itertools
import json
import multiprocessing
import os
import platform
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from parallax import conventions
from parallax.config import load_settings
from parallax.conventions import BATCH_SEQUENCE_HEADER, NODE_ID_HEADER

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench` importable
    sys.path.insert(0, str(ROOT))

from bench.workload import inference_request  # noqa: E402

METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
RESULTS = ROOT / "bench" / "results" / "ingest.json"
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024
NOISY_CORES = 0.2  # CPU used by processes outside the benchmark above which figures are suspect


# -- clients ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientSpec:
    """What one client worker does (picklable: it crosses to worker processes)."""

    index: int
    address: str
    spans_per_request: int
    pool_size: int
    inflight: int
    compression: str
    duration_s: float
    drain_s: float
    call_timeout_s: float
    node_prefix: str


@dataclass
class Tally:
    """One lane's counts; merged per client, then per run."""

    ok_requests: int = 0
    acked_spans: int = 0
    rejected_spans: int = 0
    retries_exhausted: int = 0
    retries_other: int = 0
    abandoned: int = 0
    errors: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # successful attempt
    batch_latencies: list[float] = field(default_factory=list)  # first attempt -> OK
    per_second: Counter = field(default_factory=Counter)  # second since start -> spans

    def merge(self, other: Tally) -> None:
        for name in (
            "ok_requests",
            "acked_spans",
            "rejected_spans",
            "retries_exhausted",
            "retries_other",
            "abandoned",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.update(other.errors)
        self.latencies.extend(other.latencies)
        self.batch_latencies.extend(other.batch_latencies)
        self.per_second.update(other.per_second)

    def to_dict(self) -> dict[str, Any]:
        """Plain containers only (dataclasses.asdict would mangle the Counters)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["errors"] = dict(self.errors)
        data["per_second"] = dict(self.per_second)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tally:
        tally = cls(**data)
        tally.errors = Counter(data["errors"])
        tally.per_second = Counter(data["per_second"])
        return tally


class _Box:
    """Stands in for multiprocessing.Value in thread mode."""

    def __init__(self, value: float) -> None:
        self.value = value


def build_pool(client: int, size: int, spans_per_request: int) -> list[bytes]:
    """Distinct serialized requests (own trace and span ids) for one client."""
    return [
        inference_request(
            node=client * size + i,
            spans_per_request=spans_per_request,
            rng=random.Random(f"parallax-bench-{client}-{i}"),
        ).SerializeToString()
        for i in range(size)
    ]


def retry_delay(err: grpc.RpcError) -> float:
    """The RetryInfo delay of a RESOURCE_EXHAUSTED answer (1 s when it carries none)."""
    with contextlib.suppress(Exception):
        status = rpc_status.from_call(err)
        for detail in status.details if status else ():
            if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                info = error_details_pb2.RetryInfo()
                detail.Unpack(info)
                return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return 1.0


def run_client(spec: ClientSpec, ready: Any, go: Any, start_at: Any, abort: Any, out: Any) -> None:
    """A client worker: build the pool, say ready, send from its lanes until the deadline."""
    try:
        began = time.perf_counter()
        pool = build_pool(spec.index, spec.pool_size, spec.spans_per_request)
        build_s = time.perf_counter() - began
        compression = (
            grpc.Compression.Gzip if spec.compression == "gzip" else grpc.Compression.NoCompression
        )
        options = [
            ("grpc.max_send_message_length", 64 * MIB),
            ("grpc.max_receive_message_length", 64 * MIB),
        ]
        with grpc.insecure_channel(spec.address, options, compression) as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            export = channel.unary_unary(
                METHOD, request_serializer=None, response_deserializer=None
            )
            ready.put(spec.index)
            while not go.wait(0.2):
                if abort.is_set():
                    return
            t0 = start_at.value
            cpu0 = time.process_time()
            tallies = [Tally() for _ in range(spec.inflight)]
            lanes = [
                threading.Thread(
                    target=_lane,
                    args=(spec, export, pool, t0, abort, tallies[lane], lane),
                    name=f"client{spec.index}-lane{lane}",
                    daemon=True,
                )
                for lane in range(spec.inflight)
            ]
            for lane in lanes:
                lane.start()
            for lane in lanes:
                lane.join()
            cpu_s = time.process_time() - cpu0
        total = Tally()
        for tally in tallies:
            total.merge(tally)
        out.put(
            {
                "client": spec.index,
                "tally": total.to_dict(),
                "cpu_s": cpu_s,
                "pool_build_s": build_s,
                "request_bytes": sum(map(len, pool)) / len(pool),
            }
        )
    except BaseException as err:  # report to the parent rather than dying silently
        out.put({"client": spec.index, "failed": repr(err)})


def _lane(
    spec: ClientSpec,
    export: grpc.UnaryUnaryMultiCallable,
    pool: list[bytes],
    t0: float,
    abort: Any,
    tally: Tally,
    lane: int,
) -> None:
    """One collector identity sending one batch at a time until the deadline."""
    node = f"{spec.node_prefix}-c{spec.index}-l{lane}"
    identity: tuple[tuple[str, str], ...] = ((NODE_ID_HEADER, node),)
    buffer_header = getattr(conventions, "BUFFER_ID_HEADER", None)
    if buffer_header:  # sent by our collector where the wire contract has it
        identity += ((buffer_header, random.Random(node).randbytes(8).hex()),)
    deadline = t0 + spec.duration_s
    hard_deadline = deadline + spec.drain_s
    position, seq = lane, 0
    while not abort.is_set() and time.time() < deadline:
        payload = pool[position % len(pool)]
        position += 1
        seq += 1
        metadata = (*identity, (BATCH_SEQUENCE_HEADER, str(seq)))
        first_attempt = time.perf_counter()
        while True:
            now = time.time()
            if abort.is_set() or now >= hard_deadline:
                tally.abandoned += 1
                break
            attempt = time.perf_counter()
            try:
                reply = export(
                    payload,
                    timeout=max(1.0, min(spec.call_timeout_s, hard_deadline - now)),
                    metadata=metadata,
                )
            except grpc.RpcError as err:
                code = err.code()
                if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    tally.retries_exhausted += 1
                    abort.wait(retry_delay(err) * random.uniform(0.8, 1.2))
                    continue
                tally.errors[code.name] += 1
                if code in RETRYABLE:  # same batch id: a committed batch is not written twice
                    tally.retries_other += 1
                    abort.wait(0.5)
                    continue
                break  # not retryable: the batch is dropped
            done = time.perf_counter()
            rejected = (
                ExportTraceServiceResponse.FromString(reply).partial_success.rejected_spans
                if reply
                else 0
            )
            acked = spec.spans_per_request - rejected
            tally.ok_requests += 1
            tally.acked_spans += acked
            tally.rejected_spans += rejected
            tally.latencies.append(done - attempt)
            tally.batch_latencies.append(done - first_attempt)
            tally.per_second[int(time.time() - t0)] += acked
            break


# -- the server and /proc ------------------------------------------------------------------


def _stat_fields(pid: int | str, tid: int | str | None = None) -> tuple[str, list[str]]:
    path = f"/proc/{pid}/task/{tid}/stat" if tid is not None else f"/proc/{pid}/stat"
    text = Path(path).read_text()
    comm = text[text.index("(") + 1 : text.rindex(")")]
    return comm, text[text.rindex(")") + 2 :].split()


def process_tree(pid: int) -> list[int]:
    """The process and its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            _, fields = _stat_fields(entry.name)
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_cpu_s(pid: int) -> float:
    """utime+stime of the process tree (plus reaped children) in seconds."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            _, fields = _stat_fields(member)
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / CLOCK_TICKS


def status_kib(pid: int, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """Per-thread (name, cpu seconds) of one process."""
    threads = {}
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                comm, fields = _stat_fields(pid, task.name)
                threads[int(task.name)] = (comm, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return threads


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class Monitor(threading.Thread):
    """Samples the server process tree once a second: CPU, RSS, peak RSS, machine load."""

    def __init__(self, pid: int) -> None:
        super().__init__(name="monitor", daemon=True)
        self.pid = pid
        self.samples: list[dict[str, float]] = []
        self.peak_kib: dict[int, int] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(1.0)

    def sample(self) -> None:
        busy, total = machine_jiffies()
        members = process_tree(self.pid)
        for member in members:
            self.peak_kib[member] = max(self.peak_kib.get(member, 0), status_kib(member, "VmHWM"))
        self.samples.append(
            {
                "t": time.time(),
                "server_cpu_s": tree_cpu_s(self.pid),
                "rss_kib": sum(status_kib(m, "VmRSS") for m in members),
                "machine_busy": busy,
                "machine_total": total,
            }
        )

    def stop(self) -> None:
        if self.ident is None or self._stop_event.is_set():
            return
        self._stop_event.set()
        self.join(5)
        with contextlib.suppress(Exception):
            self.sample()


@dataclass
class Server:
    process: subprocess.Popen
    address: str
    log_path: Path


def start_server(lake: Path, env: dict[str, str], log_path: Path, timeout: float = 120) -> Server:
    """Start ``parallax server`` on port 0; return once it prints its address."""
    exe = Path(sys.executable).parent / "parallax"
    command = [str(exe), "server", "--lake", str(lake), "--listen", "127.0.0.1:0"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            text=True,
            start_new_session=True,  # Ctrl-C reaches us; we stop the server in order
        )
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="server-stdout", daemon=True).start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            match = re.search(r"listening on (\S+):(\d+)", line)
            if match:
                return Server(process, f"{match[1]}:{match[2]}", log_path)
        stop_server(Server(process, "", log_path))
    except BaseException:
        stop_server(Server(process, "", log_path))
        raise
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"parallax server did not start (exit {process.returncode}):\n{tail}")


def stop_server(server: Server, timeout: float = 90) -> tuple[int | None, float]:
    """SIGTERM, wait for the clean exit (SIGKILL after ``timeout``); (exit code, seconds)."""
    process = server.process
    began = time.monotonic()
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    return process.returncode, time.monotonic() - began


# -- one end-to-end run ------------------------------------------------------------------------


def run_end_to_end(args: argparse.Namespace, server: Server) -> dict[str, Any]:
    pid = server.process.pid
    specs = [
        ClientSpec(
            index=i,
            address=server.address,
            spans_per_request=args.spans_per_request,
            pool_size=args.pool,
            inflight=args.inflight,
            compression=args.compression,
            duration_s=args.duration,
            drain_s=args.drain,
            call_timeout_s=args.call_timeout,
            node_prefix=f"bench-{os.getpid()}",
        )
        for i in range(args.clients)
    ]
    if args.processes:
        ctx = multiprocessing.get_context("spawn")
        ready, out = ctx.Queue(), ctx.Queue()
        go, abort = ctx.Event(), ctx.Event()
        start_at: Any = ctx.Value("d", 0.0)
        workers: list[Any] = [
            ctx.Process(
                target=run_client,
                args=(spec, ready, go, start_at, abort, out),
                name=f"client{spec.index}",
                daemon=True,
            )
            for spec in specs
        ]
    else:
        ready, out = queue.Queue(), queue.Queue()
        go, abort = threading.Event(), threading.Event()
        start_at = _Box(0.0)
        workers = [
            threading.Thread(
                target=run_client,
                args=(spec, ready, go, start_at, abort, out),
                name=f"client{spec.index}",
                daemon=True,
            )
            for spec in specs
        ]
    monitor = Monitor(pid)
    reports: list[dict[str, Any]] = []
    try:
        for worker in workers:
            worker.start()
        _await_ready(ready, out, reports, len(workers), timeout=300)

        threads_before = thread_cpu(pid)
        cpu_before = tree_cpu_s(pid)
        busy_before, total_before = machine_jiffies()
        client_cpu_before = time.process_time()
        monitor.start()
        start_at.value = time.time()
        go.set()
        wall0 = time.monotonic()

        limit = args.duration + args.drain + args.call_timeout + 60
        while len(reports) < len(workers):
            remaining = limit - (time.monotonic() - wall0)
            if remaining <= 0:
                raise RuntimeError("clients did not finish in time")
            reports.append(out.get(timeout=remaining))
        wall_s = time.monotonic() - wall0
        cpu_after = tree_cpu_s(pid)
        busy_after, total_after = machine_jiffies()
        client_cpu_main = time.process_time() - client_cpu_before
        threads_after = thread_cpu(pid)
        monitor.stop()
        for worker in workers:
            worker.join(10)
    finally:
        abort.set()
        go.set()
        for worker in workers:
            worker.join(5)
            if args.processes and worker.is_alive():
                worker.terminate()
                worker.join(5)
        monitor.stop()

    failed = [r for r in reports if "failed" in r]
    if failed:
        raise RuntimeError(f"client worker failed: {failed[0]['failed']}")
    total = Tally()
    for report in reports:
        total.merge(Tally.from_dict(report["tally"]))

    server_cpu_s = cpu_after - cpu_before
    client_cpu_s = (
        sum(r["cpu_s"] for r in reports) if args.processes else client_cpu_main
    )  # thread mode: the whole bench process (clients + monitor)
    measured_s = args.duration - args.warmup
    steady = sum(v for s, v in total.per_second.items() if args.warmup <= s < args.duration)
    per_100k = 100_000 / total.acked_spans if total.acked_spans else float("nan")
    machine_busy = (busy_after - busy_before) / max(1, total_after - total_before)
    # CPU this benchmark did not use (other sessions on the machine): a noise warning
    other_cpu_s = (busy_after - busy_before) / CLOCK_TICKS - server_cpu_s - client_cpu_s
    peak_kib = status_kib(pid, "VmHWM") or monitor.peak_kib.get(pid, 0)
    timeline = [total.per_second.get(s, 0) for s in range(int(np.ceil(args.duration)) + 1)]
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
        "warmup_s": args.warmup,
        "spans_per_s_timeline": timeline,
        "latency_ms": _percentiles(total.latencies),
        "batch_latency_incl_retries_ms": _percentiles(total.batch_latencies),
        "server_cpu_s": round(server_cpu_s, 2),
        "server_cpu_s_per_100k_spans": round(server_cpu_s * per_100k, 3),
        "server_cpu_cores_avg": round(server_cpu_s / wall_s, 2),
        "server_cpu_cores_timeline": _cpu_timeline(monitor.samples),
        "server_peak_rss_mib": round(peak_kib / 1024, 1),
        "server_tree_peak_rss_mib": round(sum(monitor.peak_kib.values()) / 1024, 1),
        "server_processes": len(monitor.peak_kib),
        "server_threads_top": _top_threads(threads_before, threads_after, wall_s),
        "client_cpu_s": round(client_cpu_s, 2),
        "client_cpu_s_per_100k_spans": round(client_cpu_s * per_100k, 3),
        "machine_busy_pct": round(100 * machine_busy, 1),
        "other_processes_cores_avg": round(max(0.0, other_cpu_s) / wall_s, 2),
        "request_bytes_uncompressed": round(float(np.mean([r["request_bytes"] for r in reports]))),
        "client_pool_build_s": round(max(r["pool_build_s"] for r in reports), 2),
    }


def _await_ready(ready: Any, out: Any, reports: list, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    seen = 0
    while seen < count:
        if time.monotonic() > deadline:
            raise RuntimeError("client workers did not get ready in time")
        with contextlib.suppress(queue.Empty):
            ready.get(timeout=0.5)
            seen += 1
        with contextlib.suppress(queue.Empty):
            report = out.get_nowait()
            reports.append(report)
            raise RuntimeError(f"client worker failed while starting: {report.get('failed')}")


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    p50, p90, p99 = np.percentile(np.asarray(values) * 1000, [50, 90, 99])
    return {
        "p50": round(float(p50), 1),
        "p90": round(float(p90), 1),
        "p99": round(float(p99), 1),
        "max": round(max(values) * 1000, 1),
    }


def _cpu_timeline(samples: list[dict[str, float]]) -> list[float]:
    return [
        round((b["server_cpu_s"] - a["server_cpu_s"]) / max(1e-6, b["t"] - a["t"]), 2)
        for a, b in itertools.pairwise(samples)
    ]


def _top_threads(before: dict, after: dict, wall_s: float, top: int = 8) -> list[dict]:
    rows = []
    for tid, (name, cpu) in after.items():
        used = cpu - before.get(tid, (name, 0.0))[1]
        if used > 0:
            rows.append({"tid": tid, "name": name, "cpu_s": round(used, 2)})
    rows.sort(key=lambda row: -row["cpu_s"])
    for row in rows:
        row["cores"] = round(row["cpu_s"] / wall_s, 2)
    return rows[:top]


def parse_server_log(path: Path) -> list[str]:
    text = path.read_text(errors="replace") if path.exists() else ""
    keep = ("ingest:", "ERROR", "WARNING", "Traceback")
    return [line for line in text.splitlines() if any(k in line for k in keep)]


def server_commits(log_lines: list[str]) -> dict[str, Any]:
    """Commits and spans per commit, from the server's periodic summary lines."""
    spans = commits = 0
    for line in log_lines:
        match = re.search(r"ingest: .*? ([\d,]+) spans in (\d+) commits", line)
        if match:
            spans += int(match[1].replace(",", ""))
            commits += int(match[2])
    return {
        "commits": commits,
        "spans_per_commit": round(spans / commits) if commits else None,
    }


# -- verification ----------------------------------------------------------------------------


def verify_lake(lake: Path, e2e: dict[str, Any]) -> dict[str, Any]:
    from parallax.config import StoreSettings
    from store.lake import connect

    con = connect(StoreSettings(path=str(lake)), read_only=True)
    try:
        spans = con.execute("SELECT count(*) FROM spans").fetchone()[0]
        batches, batch_spans = con.execute(
            "SELECT count(*), coalesce(sum(span_count), 0) FROM ingested_batches"
        ).fetchone()
    finally:
        con.close()
    data = [f for f in (lake / "data").rglob("*") if f.is_file()]
    return {
        "lake_spans": spans,
        "lake_data_files": len(data),
        "lake_data_mib": round(sum(f.stat().st_size for f in data) / MIB, 1),
        "acked_spans": e2e["acked_spans"],
        "lake_batches": batches,
        "lake_batch_span_count": int(batch_spans),
        "ok_requests": e2e["ok_requests"],
        "exact": spans == e2e["acked_spans"],
    }


# -- raw limits ---------------------------------------------------------------------------------


def _rate(
    work: Any, items_per_call: int, min_seconds: float, warmup_calls: int = 1
) -> tuple[int, int]:
    """Items per second of ``work()`` after a warm-up: (by the median call, by the mean).

    Each call is timed; the median is the headline because other sessions on a shared
    machine stretch some calls (the mean shows how much).
    """
    for _ in range(warmup_calls):
        work()
    times: list[float] = []
    began = time.perf_counter()
    while time.perf_counter() - began < min_seconds or len(times) < 5:
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return (
        round(items_per_call / float(np.median(times))),
        round(items_per_call * len(times) / sum(times)),
    )


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


def raw_limits(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Single-thread rates of each stage on this machine (server stopped, machine quiet)."""
    from parallax.config import StoreSettings
    from store.ingest import convert
    from store.ingest.writer import LakeWriter
    from store.lake import open_writer

    spr = args.spans_per_request
    per_group = max(1, round(20_000 / spr))  # ~20k rows, the server's default flush_rows
    pool = build_pool(1000, max(args.pool, 2 * per_group), spr)
    seconds = args.raw_seconds
    result: dict[str, Any] = {"spans_per_request": spr}
    busy0, cpu0, wall0 = machine_jiffies()[0], time.process_time(), time.monotonic()

    def cycle(fn: Any, items: list) -> Any:
        position = [0]

        def work() -> None:
            fn(items[position[0] % len(items)])
            position[0] += 1

        return work

    def measure(key: str, work: Any, items: int, min_seconds: float, warmup: int = 1) -> None:
        result[key], result[key.replace("_per_s", "_per_s_mean")] = _rate(
            work, items, min_seconds, warmup
        )

    measure(
        "protobuf_parse_stock_spans_per_s",
        cycle(ExportTraceServiceRequest.FromString, pool),
        spr,
        seconds,
    )
    measure("protobuf_parse_lean_spans_per_s", cycle(convert.parse, pool), spr, seconds)
    compressed = [gzip.compress(data, compresslevel=6) for data in pool]
    result["gzip_ratio"] = round(sum(map(len, pool)) / sum(map(len, compressed)), 2)
    measure("gzip_inflate_spans_per_s", cycle(gzip.decompress, compressed), spr, 1.0)

    parsed = [convert.parse(data) for data in pool]
    seq = iter(range(1, 1 << 62))

    def groups(size: int) -> list[list[convert.Incoming]]:
        return [
            [
                convert.Incoming(parsed[(g * size + i) % len(parsed)], "raw", next(seq))
                for i in range(size)
            ]
            for g in range(max(2, len(parsed) // size))
        ]

    for size in sorted({10, per_group}):
        work = cycle(convert.convert, groups(size))
        measure(f"convert_group_{size}_spans_per_s", work, size * spr, seconds, warmup=3)

    converted = [convert.convert(group) for group in groups(per_group)[:2]]
    with open_writer(StoreSettings(path=str(workdir / "raw-lake"))) as lake:
        writer = LakeWriter(lake.con)
        timings, bare, rows = _appends(
            writer, converted, args.raw_commits, lambda: _batch_id("raw", next(seq))
        )
    result["lake_append_rows_per_commit"] = rows[-1]
    result["lake_append_requests_per_commit"] = len(converted[0].outcomes)
    result["lake_append_commits"] = len(rows) - 1
    result["lake_append_rows_per_s"] = round(rows[-1] / float(np.median(timings[1:])))
    result["lake_append_rows_per_s_mean"] = round(sum(rows[1:]) / sum(timings[1:]))
    result["lake_append_first_commit_ms"] = round(timings[0] * 1000, 1)
    result["lake_append_commit_ms"] = _percentiles(timings[1:])
    result["lake_append_spans_only_rows_per_s"] = round(rows[-1] / float(np.median(bare[1:])))
    result["lake_append_spans_only_commit_ms"] = _percentiles(bare[1:])
    rates = [
        result["protobuf_parse_lean_spans_per_s"],
        result[f"convert_group_{per_group}_spans_per_s"],
        result["lake_append_rows_per_s"],
    ]
    result["serial_parse_convert_append_spans_per_s"] = round(1 / sum(1 / r for r in rates))
    wall = time.monotonic() - wall0
    other = (machine_jiffies()[0] - busy0) / CLOCK_TICKS - (time.process_time() - cpu0)
    result["other_processes_cores_avg"] = round(max(0.0, other) / wall, 2)
    return result


def _batch_id(node: str, seq: int) -> Any:
    """A batch id for LakeWriter.write: BatchId(node, buffer, seq), or (node, seq) before it."""
    try:
        from store.ingest.ledger import BatchId
    except ImportError:
        return (node, seq)
    return BatchId(node, "", seq)


def _appends(
    writer: Any, converted: list, commits: int, batch_id: Any
) -> tuple[list[float], list[float], list[int]]:
    """Seconds of LakeWriter.write calls with and without ledger rows, interleaved.

    With: as the server commits, the spans plus one ingested_batches row per request.
    Without (requests that carry no batch id): the lake's Arrow append of the spans alone.
    Interleaving makes both see the same machine load and lake size; ``commits`` + 1 of
    each, the first of each being a warm-up.
    """
    with_ledger: list[float] = []
    bare: list[float] = []
    rows: list[int] = []
    for commit in range(commits + 1):
        group = converted[commit % len(converted)]
        for timings, make_id in ((with_ledger, batch_id), (bare, lambda: None)):
            batch_ids = [make_id() for _ in group.outcomes]
            began = time.perf_counter()
            writer.write(group, batch_ids)
            timings.append(time.perf_counter() - began)
        rows.append(group.table.num_rows)
    return with_ledger, bare, rows


# -- report --------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for name in ("grpcio", "protobuf", "duckdb", "pyarrow", "numpy"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[name] = version(name)
    with contextlib.suppress(Exception):
        from google.protobuf.internal import api_implementation

        versions["protobuf_backend"] = api_implementation.Type()
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "mem_total_mib": status_meminfo_mib(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "code": code_state(),
    }


def status_meminfo_mib() -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0


def code_state() -> dict[str, Any]:
    """Which code ran: where ``store`` is imported from, and its git state (read-only calls).

    The server subprocess inherits the environment, so it imports the same tree (e.g. a
    ``git archive`` export put first with PYTHONPATH).
    """
    import store

    root = Path(store.__file__).resolve().parent.parent

    def git(*argv: str) -> str:
        return subprocess.run(
            ["git", "--no-optional-locks", *argv],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout.strip()

    state: dict[str, Any] = {"root": str(root)}
    with contextlib.suppress(Exception):
        state["git_commit"] = git("rev-parse", "HEAD") or None
        if state["git_commit"]:
            changed = git("status", "--porcelain", "--", "store", "parallax").splitlines()
            state["uncommitted_changes"] = changed
    return state


def print_summary(report: dict[str, Any]) -> None:
    s, e, m, raw = report["settings"], report["end_to_end"], report["machine"], report["raw_limits"]
    c = report["server_commits"]
    server = s["server"]
    lines = [
        "",
        f"Parallax ingest benchmark [{report['label']}]: {s['clients']} client "
        f"{s['client_mode']} x {s['inflight']} in flight, {s['spans_per_request']} spans/request, "
        f"{s['compression']}, {s['duration_s']:g} s",
        f"machine: {m['usable_cpus']} CPUs ({m['cpu_model']}), Python {m['python']}, "
        f"protobuf {m['packages'].get('protobuf_backend', '?')}; NOTE: the clients and the "
        f"server share these {m['usable_cpus']} cores",
        "server: "
        + ", ".join(
            f"{key}={server[key]}"
            for key in (
                "workers",
                "max_concurrent_requests",
                "flush_rows",
                "flush_interval_ms",
                "queue_max_spans",
            )
            if key in server
        ),
        "",
        "End to end (acknowledged = OK responses only)",
        f"  sustained             {e['sustained_spans_per_s']:>12,} spans/s"
        f"  (s {e['warmup_s']:g}-{s['duration_s']:g}; whole run incl. warm-up and drain "
        f"{e['whole_run_spans_per_s']:,}/s)",
        f"  acknowledged          {e['acked_spans']:>12,} spans in {e['ok_requests']:,} requests"
        f" ({e['request_bytes_uncompressed']:,} bytes each uncompressed)",
        f"  retries               {e['retries_resource_exhausted']:>12,} after RESOURCE_EXHAUSTED,"
        f" {e['retries_other']} other; errors {e['errors'] or 'none'};"
        f" abandoned {e['abandoned_batches']}",
        f"  latency per request   p50 {e['latency_ms']['p50']} ms, p99 {e['latency_ms']['p99']} ms,"
        f" max {e['latency_ms']['max']} ms (incl. retries: p99 "
        f"{e['batch_latency_incl_retries_ms']['p99']} ms)",
        f"  server CPU            {e['server_cpu_s_per_100k_spans']:>12} s per 100k spans"
        f"  ({e['server_cpu_cores_avg']} cores on average)",
        f"  client CPU            {e['client_cpu_s_per_100k_spans']:>12} s per 100k spans"
        f"  (machine {e['machine_busy_pct']}% busy over the run; other processes "
        f"{e['other_processes_cores_avg']} cores, "
        f"{report['machine_quiet_before']['end_to_end']['other_cores']} at the start)",
        f"  server peak RSS       {e['server_peak_rss_mib']:>12,} MiB (VmHWM)",
        "  spans/s by second     " + " ".join(f"{v // 1000}k" for v in e["spans_per_s_timeline"]),
        "  server cores/second   " + " ".join(f"{v:.2f}" for v in e["server_cpu_cores_timeline"]),
        "  busiest server threads "
        + ", ".join(f"{t['name']}/{t['tid']} {t['cores']:.2f}" for t in e["server_threads_top"]),
        f"  server commits        {c['commits']:>12,} commits, {c['spans_per_commit'] or 0:,}"
        f" spans per commit on average (flush_rows {server['flush_rows']:,})",
        "  server log:",
        *(f"    {line}" for line in report["server_log"][-8:]),
        "",
        "Raw limits on this machine (one thread, server stopped)",
    ]
    rows = [
        ("protobuf parse, stock ExportTraceServiceRequest", "protobuf_parse_stock_spans_per_s"),
        ("protobuf parse, lean convert.parse", "protobuf_parse_lean_spans_per_s"),
        (f"gzip inflate (ratio {raw['gzip_ratio']}x)", "gzip_inflate_spans_per_s"),
    ]
    for key in raw:
        match = re.fullmatch(r"convert_group_(\d+)_spans_per_s", key)
        if match:
            rows.append((f"convert.convert, groups of {match[1]} requests", key))
    rows += [
        (
            f"lake append, {raw['lake_append_rows_per_commit']:,} rows +"
            f" {raw['lake_append_requests_per_commit']} ledger rows/commit",
            "lake_append_rows_per_s",
        ),
        ("lake append, the same spans without ledger rows", "lake_append_spans_only_rows_per_s"),
    ]
    rows.append(
        ("serial parse+convert+append on one core", "serial_parse_convert_append_spans_per_s")
    )
    for text, key in rows:
        unit = "rows/s" if key.startswith("lake_append") else "spans/s"
        lines.append(f"  {text:<50}{raw[key]:>12,} {unit}")
    commit_ms = raw["lake_append_commit_ms"]
    lines += [
        f"  (lake append x {raw['lake_append_commits']} commits: p50 {commit_ms['p50']} ms,"
        f" max {commit_ms['max']} ms, first {raw['lake_append_first_commit_ms']} ms; without"
        f" ledger rows p50 {raw['lake_append_spans_only_commit_ms']['p50']} ms)",
        f"  (by the median call; other processes used {raw['other_processes_cores_avg']} cores"
        f" meanwhile, {report['machine_quiet_before']['raw_limits']['other_cores']} at the start)",
        "",
    ]
    v = report["verification"]
    verdict = "OK, exact" if v["exact"] else "MISMATCH"
    if not v["acked_spans"]:
        verdict = "FAILED: nothing was acknowledged"
    lines += [
        f"Check: the lake holds {v['lake_spans']:,} spans; {v['acked_spans']:,} were acknowledged"
        f" -> {verdict} (ingested_batches {v['lake_batches']:,} rows, "
        f"{v['ok_requests']:,} OK requests; {v['lake_data_files']:,} data files,"
        f" {v['lake_data_mib']:,} MiB)",
        f"Server shutdown: exit {report['server_exit']['code']} after "
        f"{report['server_exit']['seconds']} s",
        f'Results: {report["results_path"]} (run "{report["label"]}")',
        "",
    ]
    noisy = [
        f"{phase} ({cores} cores)"
        for phase, cores in (
            ("end to end", e["other_processes_cores_avg"]),
            ("raw limits", raw.get("other_processes_cores_avg", 0.0)),
        )
        if cores > NOISY_CORES
    ]
    if noisy:
        lines.insert(
            -1,
            "WARNING: other processes competed for the 2 cores during "
            + " and ".join(noisy)
            + ": those figures understate this machine; rerun when it is quiet.",
        )
    print("\n".join(lines), flush=True)


DESCRIPTION = (
    "bench/ingest.py: acknowledged OTLP/gRPC spans end to end into the lake, and the raw "
    "single-thread limits of each stage, on this machine; one entry per run label"
)


def write_results(
    path: Path, label: str, report: dict[str, Any], description: str = DESCRIPTION
) -> None:
    """Merge this run into the results file under its label (written atomically)."""
    data: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text())
    if not isinstance(data.get("runs"), dict):
        data = {"runs": {}}
    data["description"] = description
    data["runs"][label] = report
    data["latest"] = label
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of sending")
    parser.add_argument("--clients", type=int, default=4, help="client workers")
    parser.add_argument("--spans-per-request", type=int, default=512)
    parser.add_argument(
        "--processes", action="store_true", help="client workers are processes, not threads"
    )
    parser.add_argument(
        "--inflight",
        type=int,
        default=16,
        help="concurrent requests per client worker (each a collector identity); the "
        "default 4x16 keeps more spans in flight than the server's flush_rows",
    )
    parser.add_argument("--pool", type=int, default=20, help="distinct requests per client")
    parser.add_argument("--compression", choices=["gzip", "none"], default="gzip")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds left out of the rate")
    parser.add_argument("--drain", type=float, default=30.0, help="max seconds to finish after")
    parser.add_argument("--call-timeout", type=float, default=20.0, help="per-attempt deadline")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="server setting, e.g. server.workers=64 (sent as PARALLAX_SERVER_WORKERS)",
    )
    parser.add_argument("--raw-seconds", type=float, default=2.0, help="per raw measurement")
    parser.add_argument("--raw-commits", type=int, default=8, help="timed lake append commits")
    parser.add_argument("--skip-raw", action="store_true", help="skip the raw limits")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="before each phase, wait at most this long for other processes to go quiet",
    )
    parser.add_argument("--label", help="results key (default: MODE-COMPRESSION[-settings])")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results JSON file")
    parser.add_argument("--note", default="", help="free text stored with the run")
    args = parser.parse_args(argv)
    if args.duration <= args.warmup:
        parser.error("--duration must be longer than --warmup")
    return args


def server_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    for item in args.set:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot:
            raise SystemExit(f"--set {item!r}: expected SECTION.KEY=VALUE")
        env[f"PARALLAX_{section.upper()}_{name.upper()}"] = value
    return env


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    env = server_env(args)
    settings = load_settings(env=env)  # what the server will resolve (same env, no flags)
    mode = "processes" if args.processes else "threads"
    label = args.label or "-".join([mode, args.compression, *sorted(args.set)])
    workdir = Path(tempfile.mkdtemp(prefix="parallax-bench-"))
    lake = workdir / "lake"
    server: Server | None = None
    try:
        print(
            f"starting parallax server on {lake} and {args.clients} client {mode} "
            f"({args.duration:g} s, {os.cpu_count()} CPUs shared by clients and server)...",
            flush=True,
        )
        quiet = {"end_to_end": wait_for_quiet(args.wait_quiet)}
        server = start_server(lake, env, workdir / "server.log")
        e2e = run_end_to_end(args, server)
        code, shutdown_s = stop_server(server)
        server_log = parse_server_log(server.log_path)
        verification = verify_lake(lake, e2e)
        raw = {}
        if not args.skip_raw:
            print("measuring the raw limits...", flush=True)
            quiet["raw_limits"] = wait_for_quiet(args.wait_quiet)
            raw = raw_limits(args, workdir)
        report = {
            "label": label,
            "note": args.note,
            "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": machine_info(),
            "settings": {
                "client_mode": mode,
                "clients": args.clients,
                "inflight": args.inflight,
                "spans_per_request": args.spans_per_request,
                "request_pool": args.pool,
                "compression": args.compression,
                "duration_s": args.duration,
                "server": dataclasses.asdict(settings.server),
                "overrides": args.set,
            },
            "end_to_end": e2e,
            "raw_limits": raw,
            "verification": verification,
            "server_exit": {"code": code, "seconds": round(shutdown_s, 2)},
            "machine_quiet_before": quiet,
            "contended": {
                "end_to_end": e2e["other_processes_cores_avg"] > NOISY_CORES,
                "raw_limits": raw.get("other_processes_cores_avg", 0.0) > NOISY_CORES,
            },
            "server_log": server_log,
            "server_commits": server_commits(server_log),
            "results_path": str(args.output),
        }
        write_results(args.output, label, report)
        if raw:
            print_summary(report)
        else:
            print(json.dumps(report, indent=2, default=str))
        passed = verification["exact"] and e2e["acked_spans"] > 0 and code == 0
        return 0 if passed else 1
    except KeyboardInterrupt:
        print("interrupted: stopping the server and removing the temporary lake", file=sys.stderr)
        return 130
    finally:
        if server is not None:
            stop_server(server)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
