"""End-to-end ingest benchmark: OTLP/gRPC clients -> ``parallax server`` -> DuckLake lake.

    .venv/bin/python bench/ingest.py [--duration 30] [--clients 4] [--inflight 16]
                                     [--processes] [--compression gzip|none]
    .venv/bin/python bench/ingest.py --sweep [--duration 30] [--client-processes 1]
                                     [--sweep-inflight 8,16,64,256] [--sweep-compression gzip,none]
                                     [--sdk-rate 10000 | --skip-sdk]

One run (the default):

1. starts a real ``parallax server`` subprocess on a fresh temporary lake;
2. N client workers (threads, or processes with ``--processes`` so that the clients'
   Python does not share a GIL) each pre-build a pool of serialized requests (distinct
   trace ids) and send them for ``--duration`` seconds from ``--inflight`` concurrent
   lanes, each lane being one collector identity (``parallax-node-id``) with a fresh
   ``parallax-batch-seq`` per batch. RESOURCE_EXHAUSTED is retried after the server's
   RetryInfo delay with the same batch id (counted as a refusal); UNAVAILABLE and
   DEADLINE_EXCEEDED are retried the same way (the batch ledger makes a retry of a
   committed batch safe); only OK responses count as acknowledged spans
   (``bench/ingest_load.py``, ``bench/otlp_clients.py``);
3. reports sustained acknowledged spans/s, server CPU seconds per 100k spans
   (/proc/PID/stat), server peak RSS (VmHWM), client latency per request;
4. measures the raw single-thread limits in the same run, with the server stopped
   (``bench/ingest_raw.py``): protobuf parse, gzip inflate, ``convert.convert`` and the
   lake's Arrow append;
5. checks with a read-only connection that the lake holds exactly the acknowledged spans;
6. prints a summary and merges the figures into ``bench/results/ingest.json`` under
   ``runs`` and the run's label (e.g. ``threads-gzip``).

The sweep (``--sweep``, ``bench/ingest_sweep.py``): for each compression and each count
of requests in flight, the same load from ``--client-processes`` client processes
against the no-op receiver (``bench/noop_receiver.py``, the ceiling) and against a fresh
``parallax server``; then the stock OpenTelemetry SDK exporting straight to the server
at ``--sdk-rate`` spans/s. It prints its runtime up front, a table row per cell as it
goes, the issue's aims against the figures, and merges everything into
``bench/results/ingest.json`` under ``sweeps`` (after every cell, so an interrupted
sweep keeps what it measured).

Server settings can be changed with ``--set server.flush_interval_ms=50`` (passed on as
``PARALLAX_SERVER_FLUSH_INTERVAL_MS``). Every step is bounded by a timeout, and every
process started (servers, receivers, clients, the SDK app) and the temporary lakes are
removed even on Ctrl-C, SIGTERM or an exception.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from parallax.config import Settings, env_name, load_settings

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench` importable
    sys.path.insert(0, str(ROOT))

from bench.children import Children  # noqa: E402
from bench.ingest_load import LoadShape, run_load, wait_for_quiet  # noqa: E402
from bench.ingest_raw import raw_limits  # noqa: E402
from bench.ingest_summary import NOISY_CORES, print_summary  # noqa: E402
from bench.ingest_sweep import COMPRESSIONS, INFLIGHT, SweepPlan, run_sweep, sweep_passed  # noqa: E402
from bench.ingest_sweep_report import print_sweep  # noqa: E402
from bench.ingest_targets import (  # noqa: E402
    parse_server_log,
    server_commits,
    start_parallax,
    verify_lake,
)
from bench.report import machine_info, write_results  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "ingest.json"
DESCRIPTION = (
    "bench/ingest.py: acknowledged OTLP/gRPC spans end to end into the lake, and the raw "
    "single-thread limits of each stage, on this machine; 'runs' holds one entry per run "
    "label, 'sweeps' one entry per sweep (cells by compression and requests in flight, "
    "each against parallax server and the no-op receiver, plus the stock-SDK cell)"
)


# -- one run ---------------------------------------------------------------------------------


def single_shape(args: argparse.Namespace) -> LoadShape:
    return LoadShape(
        client_processes=args.processes,
        clients=args.clients,
        inflight=args.clients * args.inflight,
        spans_per_request=args.spans_per_request,
        pool=args.pool,
        compression=args.compression,
        duration_s=args.duration,
        warmup_s=args.warmup,
        drain_s=args.drain,
        call_timeout_s=args.call_timeout,
    )


def run_single(
    args: argparse.Namespace,
    workdir: Path,
    children: Children,
    env: dict[str, str],
    settings: Settings,
) -> int:
    """The default run: one load against the server, the raw limits, the lake check."""
    mode = "processes" if args.processes else "threads"
    label = args.label or "-".join([mode, args.compression, *sorted(args.set)])
    lake = workdir / "lake"
    print(
        f"starting parallax server on {lake} and {args.clients} client {mode} "
        f"({args.duration:g} s, {os.cpu_count()} CPUs shared by clients and server)...",
        flush=True,
    )
    quiet = {"end_to_end": wait_for_quiet(args.wait_quiet)}
    server = start_parallax(children, lake, workdir, env)
    e2e = run_load(single_shape(args), server.pid, server.address)
    code, shutdown_s = server.stop(90)
    server_log = parse_server_log(workdir / "server.log")
    verification = verify_lake(lake, e2e["acked_spans"], e2e["ok_requests"])
    raw: dict[str, Any] = {}
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
    print_summary(report)
    passed = verification["exact"] and e2e["acked_spans"] > 0 and code == 0
    return 0 if passed else 1


# -- the sweep ---------------------------------------------------------------------------------


def sweep_plan(args: argparse.Namespace) -> SweepPlan:
    return SweepPlan(
        compressions=tuple(args.sweep_compression),
        inflight=tuple(args.sweep_inflight),
        client_processes=args.client_processes,
        spans_per_request=args.spans_per_request,
        pool=args.pool,
        duration_s=args.duration,
        warmup_s=args.warmup,
        drain_s=args.drain,
        call_timeout_s=args.call_timeout,
        sdk_rate=0 if args.skip_sdk else args.sdk_rate,
    )


def sweep_label(args: argparse.Namespace) -> str:
    processes = args.client_processes
    shape = f"{processes}-client-process{'es' if processes > 1 else ''}"
    return args.label or "-".join(["sweep", shape, *sorted(args.set)])


def run_sweep_command(
    args: argparse.Namespace,
    workdir: Path,
    children: Children,
    env: dict[str, str],
    settings: Settings,
) -> int:
    plan = sweep_plan(args)
    label = sweep_label(args)
    print(f"ingest sweep [{label}]: {plan.runtime_text()}", flush=True)
    began = time.monotonic()
    report: dict[str, Any] = {
        "label": label,
        "note": args.note,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        "settings": dataclasses.asdict(plan)
        | {"server": dataclasses.asdict(settings.server), "overrides": args.set},
        "machine_quiet_before": wait_for_quiet(args.wait_quiet),
    }

    def save(sweep: dict[str, Any]) -> None:
        report.update(sweep, elapsed_s=round(time.monotonic() - began, 1))
        write_results(args.output, label, report, DESCRIPTION, section="sweeps")

    sweep = run_sweep(plan, workdir, children, env, save)
    print_sweep(sweep, report["settings"], f'{args.output} (sweeps, "{label}")')
    print(f"sweep took {time.monotonic() - began:.0f} s", flush=True)
    return 0 if sweep_passed(sweep) else 1


# -- command line --------------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    return [int(item) for item in text.split(",") if item]


def _compression_list(text: str) -> list[str]:
    items = [item for item in text.split(",") if item]
    unknown = set(items) - set(COMPRESSIONS)
    if unknown or not items:
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {COMPRESSIONS}")
    return items


def _add_load_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of sending")
    parser.add_argument("--spans-per-request", type=int, default=512)
    parser.add_argument("--pool", type=int, default=20, help="distinct requests per client")
    parser.add_argument(
        "--warmup", type=float, help="seconds left out of the rate (default: 3, at most 1/3)"
    )
    parser.add_argument("--drain", type=float, default=30.0, help="max seconds to finish after")
    parser.add_argument("--call-timeout", type=float, default=20.0, help="per-attempt deadline")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="server setting, e.g. server.flush_interval_ms=50 (sent as "
        "PARALLAX_SERVER_FLUSH_INTERVAL_MS)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="before each phase (the sweep: once), wait at most this long for other "
        "processes to go quiet",
    )
    parser.add_argument("--label", help="results key (default: from the mode and settings)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results JSON file")
    parser.add_argument("--note", default="", help="free text stored with the run")


def _add_single_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=4, help="client workers")
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
    parser.add_argument("--compression", choices=COMPRESSIONS, default="gzip")
    parser.add_argument("--raw-seconds", type=float, default=2.0, help="per raw measurement")
    parser.add_argument("--raw-commits", type=int, default=8, help="timed lake append commits")
    parser.add_argument("--skip-raw", action="store_true", help="skip the raw limits")


def _add_sweep_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sweep", action="store_true", help="run the in-flight sweep")
    parser.add_argument(
        "--client-processes",
        type=int,
        default=1,
        help="sweep: client processes sharing each cell's requests in flight",
    )
    parser.add_argument(
        "--sweep-inflight",
        type=_int_list,
        default=list(INFLIGHT),
        metavar="N,N,...",
        help="sweep: requests in flight, in total (default 8,16,64,256)",
    )
    parser.add_argument(
        "--sweep-compression",
        type=_compression_list,
        default=list(COMPRESSIONS),
        metavar="gzip,none",
        help="sweep: compressions (default gzip,none)",
    )
    parser.add_argument(
        "--sdk-rate", type=int, default=10_000, help="sweep: spans/s of the stock-SDK app"
    )
    parser.add_argument("--skip-sdk", action="store_true", help="sweep: no stock-SDK cell")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    _add_load_options(parser)
    _add_single_run_options(parser)
    _add_sweep_options(parser)
    args = parser.parse_args(argv)
    if args.warmup is None:
        args.warmup = round(min(3.0, args.duration / 3), 1)
    if args.duration <= args.warmup:
        parser.error("--duration must be longer than --warmup")
    if args.client_processes < 1 or any(n < 1 for n in args.sweep_inflight):
        parser.error("--client-processes and --sweep-inflight must be positive")
    return args


def server_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    for item in args.set:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot:
            raise SystemExit(f"--set {item!r}: expected SECTION.KEY=VALUE")
        env[env_name(section, name)] = value
    return env


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also where the shell started us ignoring it
    env = server_env(args)
    settings: Settings = load_settings(env=env)  # what the server resolves (same env, no flags)
    workdir = Path(tempfile.mkdtemp(prefix="parallax-bench-"))
    children = Children()
    command = run_sweep_command if args.sweep else run_single
    try:
        return command(args, workdir, children, env, settings)
    except KeyboardInterrupt:
        print("interrupted: stopping every child process, removing the lakes", file=sys.stderr)
        return 130
    finally:
        children.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
