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
import dataclasses
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench` importable
    sys.path.insert(0, str(ROOT))

from bench.children import Children  # noqa: E402
from bench.collector_bytes import measure_disk, measure_stage_costs  # noqa: E402
from bench.collector_outage import run_outage  # noqa: E402
from bench.collector_summary import print_summary  # noqa: E402
from bench.collector_throughput import run_throughput  # noqa: E402
from bench.report import machine_info, write_results  # noqa: E402
from bench.sdk_app import SDK_BATCH, SDK_QUEUE, run_app, span_attributes  # noqa: E402
from bench.watching import wait_for_load  # noqa: E402
from parallax.config import env_name, without_settings_env  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "collector.json"


DESCRIPTION = (
    "bench/collector.py: stock OpenTelemetry SDK app exporting directly to parallax "
    "server vs through parallax collector: throughput, collector CPU and memory, bytes "
    "per span on disk and on the wire, spans lost in a backend outage; one entry per label"
)


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
