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
import itertools
import json
import multiprocessing
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from parallax.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench` importable
    sys.path.insert(0, str(ROOT))

from bench.ingest_raw import raw_limits  # noqa: E402
from bench.otlp_clients import Box, ClientSpec, Tally, run_client  # noqa: E402
from bench.procfs import (  # noqa: E402
    CLOCK_TICKS,
    Monitor,
    machine_jiffies,
    status_kib,
    thread_cpu,
    tree_cpu_s,
)
from bench.report import latency_ms, machine_info, write_results  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "ingest.json"
DESCRIPTION = (
    "bench/ingest.py: acknowledged OTLP/gRPC spans end to end into the lake, and the raw "
    "single-thread limits of each stage, on this machine; one entry per run label"
)
MIB = 1024 * 1024
NOISY_CORES = 0.2  # CPU used by processes outside the benchmark above which figures are suspect


# -- clients ------------------------------------------------------------------------------


# -- the server and /proc ------------------------------------------------------------------


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
        start_at = Box(0.0)
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
        "latency_ms": latency_ms(total.latencies),
        "batch_latency_incl_retries_ms": latency_ms(total.batch_latencies),
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


# -- report --------------------------------------------------------------------------------------


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
        write_results(args.output, label, report, DESCRIPTION)
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
