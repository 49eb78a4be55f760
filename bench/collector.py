"""Collector benchmark: the stock OpenTelemetry SDK exporting directly vs through the collector.

    .venv/bin/python bench/collector.py [--quick]

One run measures, on this machine:

1. **Bytes on disk per span** in the collector's durable buffer (``collector.buffer``,
   in-process): OTLP requests as the stock SDK encodes them and the collector tags them,
   appended in batches of 16 and of 512 spans, zstd with a trained dictionary vs without,
   against the raw protobuf bytes; plus what gzip (level 6, what gRPC's gzip uses) makes
   of the same requests, and the single-thread CPU cost of each stage a span goes
   through in the collector (parse, tag, serialize, buffer append, read, gzip) next to
   the SDK's own cost of creating and encoding it.
2. **Throughput**: an app process with the stock SDK (``TracerProvider`` +
   ``BatchSpanProcessor(OTLPSpanExporter(insecure=True))``, default queue 2,048 and batch
   512) creates inference spans (attributes per ``parallax.conventions``) as fast as its
   exporter keeps up (it pauses while the SDK queue is nearly full, so nothing is
   dropped and the figure is the export capacity), (a) exporting to ``parallax server``
   directly, (b) to ``parallax collector`` which ships to the server. Reported: spans/s
   the app exported (acknowledged), spans/s the server stored (lake count sampled once a
   second), the collector's CPU seconds per 100k spans and peak RSS (VmHWM).
3. **Outage**: the same app paced at 2,000 spans/s for ~70 s; in the middle the server
   is stopped (SIGTERM) and restarted 30 s later on the same port and lake. Spans the
   app created vs distinct spans in the lake once everything is drained, for (a) and
   (b). During (b)'s outage the collector's buffer is copied and read back: the
   requests the collector is about to send give the **bytes on the wire per span**
   (gzip level 6 of each serialized request, as gRPC compresses it; HTTP/2 and gRPC
   framing, a few dozen bytes per request, are not counted) and the live on-disk size.

Before the measured runs the benchmark waits (bounded) for the machine's 1-minute load
to drop below ``--max-load`` and records the load it ran under. Every phase is bounded;
all processes it started are stopped and the temporary directory removed even on
Ctrl-C or an error. ``--quick`` is a shorter smoke run (10 s outage, < 2 minutes).
Figures go to ``bench/results/collector.json`` under the run's label (full or quick).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import gzip
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench` importable
    sys.path.insert(0, str(ROOT))

from bench.collector_bytes import (  # noqa: E402
    GZIP_LEVEL,
    NODE_ID,
    measure_disk,
    measure_stage_costs,
)
from bench.procfs import (  # noqa: E402
    CLOCK_TICKS,
    machine_jiffies,
    status_kib,
    thread_cpu,
    tree_cpu_s,
)
from bench.report import machine_info, write_results  # noqa: E402
from bench.sdk_app import SDK_BATCH, SDK_QUEUE, run_app, span_attributes  # noqa: E402
from parallax.config import env_name, without_settings_env  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "collector.json"
PARALLAX = Path(sys.executable).parent / "parallax"
MIB = 1024 * 1024


# -- the app: stock OpenTelemetry SDK, run as a child process --------------------------------


# -- child processes -------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child before exec: SIGKILLed parent -> SIGTERM here (Linux prctl)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Child:
    """A child process with its stdout pumped into a queue and its stderr in a log file."""

    def __init__(self, name: str, command: list[str], log_path: Path, env: dict[str, str]):
        self.name = name
        self.log_path = log_path
        self.address = ""
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                text=True,
                start_new_session=True,  # Ctrl-C reaches only us; we stop children in order
                preexec_fn=_die_with_parent,
            )
        self.pid = self.proc.pid
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, name=f"{name}-stdout", daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix: str, timeout: float) -> str:
        """The first stdout line containing ``prefix``; raises on exit or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"{self.name}: no {prefix!r} within {timeout:g} s{self.tail()}")
            try:
                line = self.lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"{self.name} exited ({self.proc.wait()}){self.tail()}")
            if prefix in line:
                return line

    def tail(self, chars: int = 1500) -> str:
        with contextlib.suppress(OSError):
            return "\n" + self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 60) -> tuple[int | None, float]:
        """SIGTERM, wait (SIGKILL after ``timeout``); (exit code, seconds)."""
        began = time.monotonic()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode, round(time.monotonic() - began, 2)


def start_server(lake: Path, port: int, workdir: Path, env: dict[str, str]) -> Child:
    command = [str(PARALLAX), "server", "--lake", str(lake), "--listen", f"127.0.0.1:{port}"]
    server = Child("server", command, workdir / "server.log", env)
    try:
        server.expect("listening on", 120)
    except BaseException:
        server.stop(10)
        raise
    return server


def start_collector(backend: str, buffer_dir: Path, workdir: Path, env: dict[str, str]) -> Child:
    command = [
        str(PARALLAX),
        "collector",
        "--backend",
        backend,
        "--buffer-dir",
        str(buffer_dir),
        "--listen",
        "127.0.0.1:0",
        "--node-id",
        NODE_ID,
    ]
    collector = Child("collector", command, workdir / "collector.log", env)
    try:
        line = collector.expect("listening on", 60)
    except BaseException:
        collector.stop(10)
        raise
    collector.address = line.rsplit(" ", 1)[-1]
    return collector


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Children:
    """Every child this run started, so that ``finally`` can stop what is left."""

    def __init__(self) -> None:
        self.all: list[Child] = []

    def add(self, child: Child) -> Child:
        self.all.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self.all):
            if child.alive():
                child.stop(20)


# -- watching: lake count, CPU, memory, machine --------------------------------------------------


class LakeCounter:
    """A read-only lake connection kept open (a count(*) costs ~10 ms)."""

    def __init__(self, lake: Path) -> None:
        self.lake = lake
        self.con: Any = None
        self.lock = threading.Lock()

    def count(self, distinct: bool = False) -> int | None:
        from parallax.config import StoreSettings
        from store.lake import connect

        sql = (
            "SELECT count(*) FROM (SELECT DISTINCT trace_id, span_id FROM spans)"
            if distinct
            else "SELECT count(*) FROM spans"
        )
        with self.lock:
            try:
                if self.con is None:
                    self.con = connect(StoreSettings(path=str(self.lake)), read_only=True)
                return int(self.con.execute(sql).fetchone()[0])
            except Exception:
                self.close_unlocked()
                return None

    def close_unlocked(self) -> None:
        if self.con is not None:
            with contextlib.suppress(Exception):
                self.con.close()
            self.con = None

    def close(self) -> None:
        with self.lock:
            self.close_unlocked()


class Watch(threading.Thread):
    """Once a second: the lake's span count, CPU and peak RSS of the watched processes."""

    def __init__(self, counter: LakeCounter, t0: float) -> None:
        super().__init__(name="watch", daemon=True)
        self.counter = counter
        self.t0 = t0
        self.pids: dict[str, int] = {}
        self.peak_kib: dict[str, int] = {}
        self.samples: list[dict[str, Any]] = []
        self.stop_event = threading.Event()

    def watch(self, role: str, pid: int) -> None:
        self.pids[role] = pid

    def run(self) -> None:
        while not self.stop_event.wait(1.0):
            self.sample()

    def sample(self) -> None:
        row: dict[str, Any] = {"t": round(time.monotonic() - self.t0, 2)}
        for role, pid in list(self.pids.items()):
            hwm = status_kib(pid, "VmHWM")
            self.peak_kib[role] = max(self.peak_kib.get(role, 0), hwm)
        row["lake"] = self.counter.count()
        self.samples.append(row)

    def stop(self) -> None:
        self.stop_event.set()
        if self.ident is not None:
            self.join(10)

    def lake_at(self, t: float) -> tuple[float, int] | None:
        """The sample nearest to ``t`` seconds with a lake count."""
        rows = [s for s in self.samples if s["lake"] is not None]
        if not rows:
            return None
        best = min(rows, key=lambda s: abs(s["t"] - t))
        return best["t"], best["lake"]


class MachineMeter:
    """Busy cores of the whole machine vs of the processes we started, over a phase."""

    def __init__(self) -> None:
        self.busy0, self.total0 = machine_jiffies()
        self.ours0 = self.cpu_of_ours()
        self.wall0 = time.monotonic()
        self.load_before = round(os.getloadavg()[0], 2)

    @staticmethod
    def cpu_of_ours() -> float:
        return tree_cpu_s(os.getpid())  # this process and every child (reaped ones included)

    def result(self) -> dict[str, Any]:
        busy, total = machine_jiffies()
        wall = time.monotonic() - self.wall0
        ncpu = os.cpu_count() or 1
        busy_s = (busy - self.busy0) / CLOCK_TICKS
        ours = self.cpu_of_ours() - self.ours0
        return {
            "load_1min_before": self.load_before,
            "load_1min_after": round(os.getloadavg()[0], 2),
            "machine_busy_pct": round(100 * (busy - self.busy0) / max(1, total - self.total0), 1),
            "benchmark_cores_avg": round(ours / wall, 2),
            "other_processes_cores_avg": round(max(0.0, busy_s - ours) / wall, 2),
            "cores": ncpu,
        }


def wait_for_load(max_load: float, max_wait_s: float) -> dict[str, Any]:
    """Wait (bounded) for the 1-minute load average to drop below ``max_load``."""
    began = time.monotonic()
    first = os.getloadavg()[0]
    announced = False
    while True:
        load = os.getloadavg()[0]
        waited = time.monotonic() - began
        if load < max_load or waited >= max_wait_s:
            return {
                "load_1min_at_first_check": round(first, 2),
                "load_1min_at_start": round(load, 2),
                "load_avg_1_5_15_at_start": [round(x, 2) for x in os.getloadavg()],
                "waited_s": round(waited, 1),
                "threshold": max_load,
                "below_threshold": load < max_load,
            }
        if not announced:
            print(
                f"  load average {load:.2f} >= {max_load}: waiting up to {max_wait_s:g} s...",
                flush=True,
            )
            announced = True
        time.sleep(min(5.0, max(0.1, max_wait_s - waited)))


# -- app runs --------------------------------------------------------------------------------


def start_app(
    children: Children, workdir: Path, name: str, endpoint: str, duration: float, rate: int
) -> tuple[Child, float]:
    spec = {"endpoint": endpoint, "duration_s": duration, "rate": rate, "seed": name}
    command = [sys.executable, str(Path(__file__).resolve()), "--app", json.dumps(spec)]
    app = children.add(Child(f"app-{name}", command, workdir / f"app-{name}.log", dict(os.environ)))
    started = float(app.expect("STARTED", 60).split()[1])
    return app, started


def app_result(app: Child, timeout: float) -> dict[str, Any]:
    line = app.expect("RESULT", timeout)
    app.proc.wait(30)
    return json.loads(line.split(" ", 1)[1])


def wait_lake(
    counter: LakeCounter, target: int, timeout: float, settle_s: float
) -> tuple[int, float]:
    """Poll until the lake holds ``target`` spans, or it stops growing for ``settle_s``,
    or ``timeout``; (count, seconds waited)."""
    began = time.monotonic()
    last, last_change = -1, began
    while True:
        count = counter.count()
        now = time.monotonic()
        if count is not None and count != last:
            last, last_change = count, now
        if (count is not None and count >= target) or now - began >= timeout:
            break
        if now - last_change >= settle_s:
            break
        time.sleep(0.5)
    return max(last, 0), round(time.monotonic() - began, 2)


# -- phase: bytes on disk, on the wire, and stage costs (in-process) -----------------------------


# -- phase: throughput -----------------------------------------------------------------------


def run_throughput(
    variant: str,
    args: argparse.Namespace,
    workdir: Path,
    children: Children,
    server_env: dict[str, str],
    collector_env: dict[str, str],
) -> dict[str, Any]:
    """The app at full speed for ``--duration`` s, direct or through the collector."""
    run_dir = workdir / f"throughput-{variant}"
    run_dir.mkdir()
    lake = run_dir / "lake"
    port = free_port()
    server = children.add(start_server(lake, port, run_dir, server_env))
    collector = None
    endpoint = f"127.0.0.1:{port}"
    if variant == "collector":
        collector = children.add(
            start_collector(endpoint, run_dir / "buffer", run_dir, collector_env)
        )
        endpoint = collector.address
    counter = LakeCounter(lake)
    meter = MachineMeter()
    t0 = time.monotonic()
    watch = Watch(counter, t0)
    watch.watch("server", server.pid)
    if collector:
        watch.watch("collector", collector.pid)
    try:
        watch.start()
        server_cpu0 = tree_cpu_s(server.pid)
        collector_cpu0 = tree_cpu_s(collector.pid) if collector else 0.0
        threads0 = thread_cpu(collector.pid) if collector else {}
        app, _ = start_app(children, run_dir, f"max-{variant}", endpoint, args.duration, 0)
        t_app = time.monotonic() - t0
        result = app_result(app, args.duration + 120)
        t_app_done = time.monotonic() - t0
        _, drain_s = wait_lake(counter, result["exported_ok"], 60, settle_s=10)
        t_drained = time.monotonic() - t0
        server_cpu = tree_cpu_s(server.pid) - server_cpu0
        collector_cpu = tree_cpu_s(collector.pid) - collector_cpu0 if collector else None
        threads1 = thread_cpu(collector.pid) if collector else {}
        collector_peak = status_kib(collector.pid, "VmHWM") if collector else 0
        server_peak = status_kib(server.pid, "VmHWM")
        watch.stop()
        machine = meter.result()
        collector_exit = collector.stop(60) if collector else None
        server_exit = server.stop(60)
        final = counter.count()
        distinct = counter.count(distinct=True)
    finally:
        watch.stop()
        counter.close()
    warm = args.warmup
    span_s = args.duration - warm
    exported = result["exported_by_second"]
    exported_steady = sum(exported[int(warm) : int(args.duration)])
    # the lake's count at the app's warm-up mark and at its end, sampled once a second
    a = watch.lake_at(t_app + warm)
    b = watch.lake_at(t_app + args.duration)
    stored_rate = round((b[1] - a[1]) / (b[0] - a[0])) if a and b and b[0] > a[0] else None
    spans = result["exported_ok"]
    per_100k = 100_000 / spans if spans else float("nan")
    out = {
        "app": result,
        "app_created_spans_per_s": round(result["created"] / result["creation_wall_s"]),
        "app_exported_spans_per_s": round(exported_steady / span_s),
        "server_stored_spans_per_s": stored_rate,
        "server_stored_from_samples": {"app_start_s": round(t_app, 2), "from": a, "to": b},
        "lake_spans_at_app_exit": (watch.lake_at(t_app_done) or (0, None))[1],
        "lake_spans": final,
        "lake_distinct_spans": distinct,
        "drain_after_app_exit_s": drain_s,
        "all_exported_spans_stored": final == spans and distinct == spans,
        "app_cpu_us_per_span": round(result["process_cpu_s"] / max(1, spans) * 1e6, 1),
        "app_creation_cpu_us_per_span": round(
            result["creation_thread_cpu_s"] / max(1, result["created"]) * 1e6, 1
        ),
        "server_cpu_s_per_100k_spans": round(server_cpu * per_100k, 2),
        "server_peak_rss_mib": round(max(server_peak, watch.peak_kib.get("server", 0)) / 1024, 1),
        "server_exit": server_exit,
        "lake_timeline": [[s["t"], s["lake"]] for s in watch.samples],
        "window_s": round(t_drained - t_app, 1),
        "machine": machine,
    }
    if collector is not None:
        out |= {
            "collector_cpu_s": round(collector_cpu, 2),
            "collector_cpu_s_per_100k_spans": round(collector_cpu * per_100k, 2),
            "collector_cpu_us_per_span": round(collector_cpu / max(1, spans) * 1e6, 1),
            "collector_cpu_cores_avg": round(collector_cpu / max(1e-6, t_drained - t_app), 2),
            "collector_peak_rss_mib": round(
                max(collector_peak, watch.peak_kib.get("collector", 0)) / 1024, 1
            ),
            "collector_threads_top": _top_threads(threads0, threads1),
            "collector_exit": collector_exit,
            "collector_log": _log_lines(run_dir / "collector.log"),
        }
    return out


def _top_threads(before: dict, after: dict, top: int = 6) -> list[dict[str, Any]]:
    rows = []
    for tid, (name, cpu) in after.items():
        used = cpu - before.get(tid, (name, 0.0))[1]
        if used > 0:
            rows.append({"tid": tid, "name": name, "cpu_s": round(used, 2)})
    rows.sort(key=lambda row: -row["cpu_s"])
    return rows[:top]


def _log_lines(path: Path, keep: int = 12) -> list[str]:
    text = path.read_text(errors="replace") if path.exists() else ""
    marks = ("WARNING", "ERROR", "Traceback", "dropped", "retry")
    return [line[:300] for line in text.splitlines() if any(m in line for m in marks)][-keep:]


# -- phase: outage ---------------------------------------------------------------------------


def run_outage(
    variant: str,
    args: argparse.Namespace,
    workdir: Path,
    children: Children,
    server_env: dict[str, str],
    collector_env: dict[str, str],
    outage: bool = True,
) -> dict[str, Any]:
    """The app paced at ``--rate`` spans/s; the server down for ``--outage`` s mid-run
    (``outage=False``: the same run with the server up throughout, as a control)."""
    run_dir = workdir / f"{'outage' if outage else 'control'}-{variant}"
    run_dir.mkdir()
    lake, buffer_dir, snapshot = run_dir / "lake", run_dir / "buffer", run_dir / "snapshot"
    port = free_port()
    server = children.add(start_server(lake, port, run_dir, server_env))
    collector = None
    endpoint = f"127.0.0.1:{port}"
    if variant == "collector":
        collector = children.add(start_collector(endpoint, buffer_dir, run_dir, collector_env))
        endpoint = collector.address
    counter = LakeCounter(lake)
    meter = MachineMeter()
    t0 = time.monotonic()
    watch = Watch(counter, t0)
    events: dict[str, Any] = {}
    if collector:
        watch.watch("collector", collector.pid)
    try:
        watch.start()
        app, started_wall = start_app(
            children, run_dir, f"paced-{variant}", endpoint, args.run_s, args.rate
        )
        t_app = time.monotonic() - (time.time() - started_wall)  # monotonic app start
        if outage:
            _sleep_until(t_app + args.outage_at)
            events["server_stop_at_s"] = round(time.monotonic() - t_app, 2)
            events["server_stop"] = server.stop(60)
            _sleep_until(t_app + args.outage_at + args.outage - 1.0)
            if collector is not None:  # what the collector will send once the server is back
                shutil.copytree(buffer_dir, snapshot, ignore=shutil.ignore_patterns("lock"))
                events["snapshot_at_s"] = round(time.monotonic() - t_app, 2)
            _sleep_until(t_app + args.outage_at + args.outage)
            server = children.add(start_server(lake, port, run_dir, server_env))
            events["server_back_at_s"] = round(time.monotonic() - t_app, 2)
            events["outage_s"] = round(events["server_back_at_s"] - events["server_stop_at_s"], 2)
        result = app_result(app, args.run_s + 120)
        events["app_done_at_s"] = round(time.monotonic() - t_app, 2)
        # direct: acknowledged == committed; collector: wait until it has shipped it all
        lake_spans, drain_s = wait_lake(
            counter, result["exported_ok"], args.drain_timeout, settle_s=args.settle
        )
        events["drained_at_s"] = round(time.monotonic() - t_app, 2)
        events["lake_spans_when_waiting_ended"] = lake_spans
        events["drain_wait_s"] = drain_s
        collector_peak = status_kib(collector.pid, "VmHWM") if collector else 0
        collector_peak = max(collector_peak, watch.peak_kib.get("collector", 0))
        watch.stop()
        machine = meter.result()
        if collector is not None:
            events["collector_exit"] = collector.stop(60)
        events["server_exit"] = server.stop(60)
        final = counter.count()
        distinct = counter.count(distinct=True)
    finally:
        watch.stop()
        counter.close()
    created = result["created"]
    lost = created - (distinct or 0)
    out = {
        "app": result,
        "created": created,
        "lake_spans": final,
        "lake_distinct_spans": distinct,
        "duplicates_in_lake": (final or 0) - (distinct or 0),
        "lost": lost,
        "lost_pct": round(100 * lost / max(1, created), 2),
        "app_acknowledged": result["exported_ok"],
        "events": events,
        "lake_timeline": [[round(s["t"] - (t_app - t0), 1), s["lake"]] for s in watch.samples],
        "machine": machine,
    }
    if collector is not None:
        out["collector_peak_rss_mib"] = round(collector_peak / 1024, 1)
        out["collector_log"] = _log_lines(run_dir / "collector.log")
        if outage:
            out["buffer_snapshot"] = read_snapshot(snapshot, collector_env)
    return out


def _sleep_until(deadline: float) -> None:
    while (remaining := deadline - time.monotonic()) > 0:
        time.sleep(min(remaining, 0.5))


def read_snapshot(snapshot: Path, collector_env: dict[str, str]) -> dict[str, Any]:
    """The collector's buffer as copied near the end of the outage: the requests it was
    about to send (gzip level 6 of each, as gRPC puts it on the wire) and their size on disk."""
    from collector.agent import buffer_settings
    from collector.buffer import SegmentLog
    from parallax.config import load_settings

    if not snapshot.exists():
        return {"error": "no snapshot"}
    settings = load_settings(env=collector_env).collector
    settings = dataclasses.replace(settings, buffer_dir=str(snapshot))
    log = SegmentLog(dataclasses.replace(buffer_settings(settings), fsync_policy="interval"))
    try:
        stats = log.stats()
        spans = raw = wire = requests = 0
        sizes: Counter = Counter()
        for batch in log.pending():
            spans += batch.span_count
            raw += len(batch.payload)
            wire += len(gzip.compress(batch.payload, GZIP_LEVEL, mtime=0))
            requests += 1
            sizes[batch.span_count] += 1
    finally:
        log.close()
    if not spans:
        return {"error": "the snapshot holds no pending batch"}
    return {
        "pending_requests": requests,
        "pending_spans": spans,
        "spans_per_request": dict(sizes.most_common(5)),
        "raw_protobuf_bytes_per_span": round(raw / spans, 1),
        "wire_gzip6_bytes_per_span": round(wire / spans, 1),
        "disk_bytes_per_span": round(stats.pending_bytes / spans, 1),
        "disk_ratio_vs_raw": round(raw / max(1, stats.pending_bytes), 2),
        "dictionary_id": stats.dictionary_id,
        "dropped_spans": stats.dropped_spans,
    }


# -- summary and results -------------------------------------------------------------------


def print_summary(report: dict[str, Any]) -> None:
    disk, stages, tp, out = (
        report["disk"],
        report["stage_costs"],
        report["throughput"],
        report["outage"],
    )
    load = report["load"]
    lines = [
        "",
        f"Collector benchmark ({report['label']}, {report['machine']['nproc']} cores,"
        f" load {load['load_1min_at_start']} at start"
        f"{'' if load['below_threshold'] else ' - ABOVE THRESHOLD, figures understated'})",
        "",
        "Bytes per span (stock SDK requests as the collector tags them; zstd level 3)",
        f"  {'batch':<10}{'raw pb':>9}{'zstd':>9}{'ratio':>8}{'zstd+dict':>11}{'ratio':>8}"
        f"{'gzip6':>9}{'ratio':>8}",
    ]
    for size in (16, 512):
        row = disk[f"batch_{size}"]
        plain, dic = row["zstd_plain"], row["zstd_dict"]
        lines.append(
            f"  {size:<10}{row['raw_protobuf_bytes_per_span']:>9}{plain['bytes_per_span']:>9}"
            f"{plain['ratio_vs_raw']:>7}x{dic['bytes_per_span']:>11}{dic['ratio_vs_raw']:>7}x"
            f"{row['gzip6_bytes_per_span']:>9}{row['gzip6_ratio']:>7}x"
        )
    snap = out["collector"].get("buffer_snapshot", {})
    if "wire_gzip6_bytes_per_span" in snap:
        lines.append(
            f"  live collector during the outage: {snap['pending_requests']} requests"
            f" ({', '.join(f'{n}x{s}' for s, n in snap['spans_per_request'].items())} spans),"
            f" raw {snap['raw_protobuf_bytes_per_span']} B/span, on disk"
            f" {snap['disk_bytes_per_span']} B/span ({snap['disk_ratio_vs_raw']}x, dictionary"
            f" {snap['dictionary_id'] or 'none'}), on the wire (gzip6 of each request)"
            f" {snap['wire_gzip6_bytes_per_span']} B/span"
        )
    lines += ["", "CPU per span, one thread (us)"]
    for name, value in stages["us_per_span_median"].items():
        lines.append(f"  {name:<58}{value:>8}")
    lines.append(
        f"  {'collector steps, total':<58}{stages['collector_steps_total_us_per_span']:>8}"
    )
    lines += [
        "",
        f"Throughput ({report['settings']['throughput_duration_s']:g} s, app at full speed)",
    ]
    for variant in ("direct", "collector"):
        r = tp[variant]
        app = r["app"]
        lines.append(
            f"  {variant:<10} app exported {r['app_exported_spans_per_s']:>7,}/s, server stored"
            f" {r['server_stored_spans_per_s'] or 0:>7,}/s; export p50"
            f" {app['export_latency_ms']['p50']} ms; app CPU {r['app_cpu_us_per_span']} us/span"
            f" (creating {r['app_creation_cpu_us_per_span']}); lake {r['lake_spans']:,} of"
            f" {app['exported_ok']:,} exported, SDK drops {app['dropped_by_sdk_queue']}"
        )
        if variant == "collector":
            lines.append(
                f"             collector CPU {r['collector_cpu_s_per_100k_spans']} s per 100k"
                f" spans ({r['collector_cpu_us_per_span']} us/span,"
                f" {r['collector_cpu_cores_avg']} cores), peak RSS {r['collector_peak_rss_mib']}"
                f" MiB; server CPU {r['server_cpu_s_per_100k_spans']} s/100k"
            )
        lines.append(
            f"             (machine busy {r['machine']['machine_busy_pct']}%, other processes"
            f" {r['machine']['other_processes_cores_avg']} cores)"
        )
    s = report["settings"]
    lines += [
        "",
        f"Outage: {s['rate']:,} spans/s for {s['outage_run_s']:g} s, server down"
        f" {s['outage_s']:g} s from t={s['outage_at_s']:g} s",
    ]
    names = {
        "direct": "direct",
        "collector": "collector",
        "direct_no_outage": "direct, no outage (control)",
    }
    for variant, title in names.items():
        if variant not in out:
            continue
        r = out[variant]
        app = r["app"]
        lines += [
            f"  {title}: created {r['created']:,}, in the lake {r['lake_distinct_spans'] or 0:,}"
            f" -> lost {r['lost']:,} ({r['lost_pct']}%), duplicates {r['duplicates_in_lake']}",
            f"      SDK queue drops {app['dropped_by_sdk_queue']:,}, spans in failed exports"
            f" {app['export_failed_spans']:,}; lake complete {r['events']['drain_wait_s']} s"
            f" after the app exited; other processes {r['machine']['other_processes_cores_avg']}"
            " cores",
        ]
    capacity = tp["direct"]["app_exported_spans_per_s"]
    if capacity < s["rate"]:
        lines.append(
            f"  note: direct export capacity measured above ({capacity:,}/s) is below"
            f" {s['rate']:,}/s: the SDK sends one request at a time and the server acknowledges"
            f" after its group commit (server.flush_interval_ms"
            f" {s['server']['flush_interval_ms']}), so (a) drops spans even with the server up"
        )
    lines += ["", f'Results: {report["results_path"]} (run "{report["label"]}")', ""]
    print("\n".join(lines), flush=True)


DESCRIPTION = (
    "bench/collector.py: stock OpenTelemetry SDK app exporting directly to parallax "
    "server vs through parallax collector: throughput, collector CPU and memory, bytes "
    "per span on disk and on the wire, spans lost in a backend outage; one entry per label"
)


# -- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (< 2 minutes)")
    parser.add_argument("--duration", type=float, help="throughput run seconds (30; quick 6)")
    parser.add_argument("--warmup", type=float, help="seconds left out of the rates (3; quick 2)")
    parser.add_argument("--rate", type=int, default=2000, help="outage run: spans/s")
    parser.add_argument("--run-s", type=float, help="outage run: seconds of spans (70; quick 28)")
    parser.add_argument("--outage-at", type=float, help="outage starts at (20; quick 8)")
    parser.add_argument("--outage", type=float, help="outage seconds (30; quick 10)")
    parser.add_argument("--drain-timeout", type=float, help="max wait for the lake (150; quick 40)")
    parser.add_argument("--settle", type=float, help="stop waiting once the lake is still (45; 15)")
    parser.add_argument(
        "--control",
        action=argparse.BooleanOptionalAction,
        help="also run (a) at the same rate without an outage (default: on; off with --quick)",
    )
    parser.add_argument("--max-load", type=float, default=1.5, help="wait for load below this")
    parser.add_argument("--max-wait", type=float, help="max wait for the load (180; quick 15)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="server/collector setting, e.g. collector.retry_max_s=5",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--label", help="results key (default: full or quick)")
    parser.add_argument("--app", help=argparse.SUPPRESS)  # internal: run as the app
    args = parser.parse_args(argv)
    defaults = {
        "duration": (30.0, 6.0),
        "warmup": (3.0, 2.0),
        "run_s": (70.0, 28.0),
        "outage_at": (20.0, 8.0),
        "outage": (30.0, 10.0),
        "drain_timeout": (150.0, 40.0),
        "settle": (45.0, 15.0),
        "max_wait": (180.0, 15.0),
    }
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.control is None:
        args.control = not args.quick
    if args.outage_at + args.outage >= args.run_s:
        parser.error("the outage must end before the run does")
    return args


def settings_env(items: list[str], quick: bool) -> dict[str, str]:
    # Server and collector share this machine: neither takes the OTLP/HTTP port 4318.
    env = {env_name("server", "http_listen"): "", env_name("collector", "http_listen"): ""}
    if quick:  # the short outage must drain within the smoke run's budget
        env[env_name("collector", "retry_max_s")] = "5"
    for item in items:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or section not in ("server", "collector"):
            raise SystemExit(f"--set {item!r}: expected server.KEY=VALUE or collector.KEY=VALUE")
        env[env_name(section, name)] = value
    return env


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.app:
        run_app(json.loads(args.app))
        return 0
    from parallax.config import load_settings

    signal.signal(signal.SIGTERM, _interrupt)
    overrides = settings_env(args.set, args.quick)
    env = {**without_settings_env(os.environ), **overrides}
    server_env = {k: v for k, v in env.items() if not k.startswith(env_name("collector", ""))}
    collector_env = {k: v for k, v in env.items() if not k.startswith(env_name("server", ""))}
    settings = load_settings(env=env)
    label = args.label or ("quick" if args.quick else "full")
    workdir = Path(tempfile.mkdtemp(prefix="parallax-bench-collector-"))
    children = Children()
    began = time.monotonic()
    try:
        print(f"collector benchmark ({label}); workdir {workdir}", flush=True)
        print("bytes per span on disk and on the wire, stage costs (in-process)...", flush=True)
        disk = measure_disk(workdir, args.quick)
        stages = measure_stage_costs(workdir)
        print(f"checking the machine's load (wait up to {args.max_wait:g} s)...", flush=True)
        load = wait_for_load(args.max_load, args.max_wait)
        print(f"  load {load['load_1min_at_start']}", flush=True)
        throughput, outage = {}, {}
        for variant in ("direct", "collector"):
            print(f"throughput, {variant} ({args.duration:g} s)...", flush=True)
            throughput[variant] = run_throughput(
                variant, args, workdir, children, server_env, collector_env
            )
        for variant in ("direct", "collector"):
            print(
                f"outage, {variant} ({args.rate} spans/s for {args.run_s:g} s,"
                f" {args.outage:g} s outage)...",
                flush=True,
            )
            outage[variant] = run_outage(
                variant, args, workdir, children, server_env, collector_env
            )
        if args.control:
            print(
                f"control: direct, {args.rate} spans/s for {args.run_s:g} s, no outage...",
                flush=True,
            )
            outage["direct_no_outage"] = run_outage(
                "direct", args, workdir, children, server_env, collector_env, outage=False
            )
        report = {
            "label": label,
            "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": machine_info(),
            "load": load,
            "settings": {
                "quick": args.quick,
                "throughput_duration_s": args.duration,
                "warmup_s": args.warmup,
                "rate": args.rate,
                "outage_run_s": args.run_s,
                "outage_at_s": args.outage_at,
                "outage_s": args.outage,
                "drain_timeout_s": args.drain_timeout,
                "app": {
                    "sdk": "TracerProvider + BatchSpanProcessor(OTLPSpanExporter(insecure=True))",
                    "sdk_queue": SDK_QUEUE,
                    "sdk_batch": SDK_BATCH,
                    "attributes_per_span": len(span_attributes(random.Random(0))),
                    "throughput_mode": "create spans as fast as the export keeps up: pause "
                    f"while the SDK queue holds >= {SDK_QUEUE - SDK_BATCH} spans",
                },
                "env_overrides": overrides,
                "server": dataclasses.asdict(settings.server),
                "collector": dataclasses.asdict(settings.collector),
                "wire_bytes_method": "gzip level 6 (gRPC's) of each serialized request the "
                "collector sends, read back from a copy of its buffer during the outage; "
                "HTTP/2 + gRPC framing not counted",
            },
            "disk": disk,
            "stage_costs": stages,
            "throughput": throughput,
            "outage": outage,
            "elapsed_s": round(time.monotonic() - began, 1),
            "results_path": str(args.output),
        }
        with contextlib.suppress(ValueError):
            report["results_path"] = str(args.output.resolve().relative_to(ROOT))
        write_results(args.output, label, report, DESCRIPTION)
        print_summary(report)
        ok = outage["collector"]["lost"] == 0 and outage["collector"]["duplicates_in_lake"] == 0
        return 0 if ok else 1
    except KeyboardInterrupt:
        print("interrupted: stopping child processes, removing the workdir", file=sys.stderr)
        return 130
    finally:
        children.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
