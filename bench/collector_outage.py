"""Collector benchmark, outage: the stock-SDK app paced at ``--rate`` spans/s while the
server is down for ``--outage`` s mid-run, directly or through the collector; spans
created vs distinct spans in the lake once drained, and what the collector's buffer held
near the end of the outage (bytes per span on disk and on the wire)."""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.children import (
    Children,
    app_result,
    log_lines,
    start_app,
    start_server,
    start_targets,
)
from bench.collector_bytes import GZIP_LEVEL
from bench.procfs import status_kib
from bench.watching import LakeCounter, MachineMeter, Watch, wait_lake


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
    server, collector, endpoint, port = start_targets(
        variant, run_dir, children, server_env, collector_env
    )
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
        out["collector_log"] = log_lines(run_dir / "collector.log")
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
