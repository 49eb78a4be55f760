"""Collector benchmark, throughput: the stock-SDK app at full speed for ``--duration`` s,
exporting to ``parallax server`` directly or through ``parallax collector``; spans/s
exported and stored, CPU per span of app, collector and server, peak RSS."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from bench.children import Children, app_result, log_lines, start_app, start_targets
from bench.procfs import status_kib, thread_cpu, top_threads, tree_cpu_s
from bench.watching import LakeCounter, MachineMeter, Watch, wait_lake


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
    server, collector, endpoint, _ = start_targets(
        variant, run_dir, children, server_env, collector_env
    )
    counter = LakeCounter(run_dir / "lake")
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
            "collector_threads_top": top_threads(threads0, threads1, top=6),
            "collector_exit": collector_exit,
            "collector_log": log_lines(run_dir / "collector.log"),
        }
    return out
