"""The ``parallax`` command.

Every subcommand resolves settings once (defaults < --config file < PARALLAX_* < flags;
the collector reads the node's OTEL_* variables just above the defaults) and hands them to
its component. Components are imported lazily so that an edge node
with only the ``collector`` extra never imports duckdb or pyarrow.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from parallax import __version__
from parallax.config import Settings, load_settings
from parallax.errors import ParallaxError
from parallax.logs import configure_logging


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(
            args.config, overrides=_overrides(args), fallbacks=_environment_fallbacks(args)
        )
    except ParallaxError as err:  # the log format is not known yet: plain text
        print(f"parallax {args.command}: {err}", file=sys.stderr)
        return 2
    configure_logging(settings.log.format, settings.log.level)
    try:
        return args.run(args, settings)
    except ParallaxError as err:
        if settings.log.format == "json":
            logging.getLogger("parallax.cli").error("parallax %s: %s", args.command, err)
        else:
            print(f"parallax {args.command}: {err}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parallax",
        description="Observability and divergence reconciliation for AI inference on edge fleets.",
    )
    parser.add_argument("--version", action="version", version=f"parallax {__version__}")
    parser.add_argument("--config", help="TOML configuration file (or PARALLAX_CONFIG)")
    parser.add_argument(
        "-v",
        "--verbose",
        dest="log.level",
        action="store_const",
        const="debug",
        help="debug logging (log.level = debug)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    server = _command(
        commands, "server", "run the OTLP/gRPC ingest service (the lake's writer)", _run_server
    )
    _lake_flags(server)
    server.add_argument("--listen", dest="server.listen", help="HOST:PORT (server.listen)")

    sql = _command(commands, "sql", "query the lake read-only with DuckDB SQL", _run_sql)
    _lake_flags(sql)
    sql.add_argument("query", nargs="?", default="-", help="SQL text, or - to read stdin")
    sql.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table")
    sql.add_argument("--output", "-o", help="write to this file instead of stdout")
    sql.add_argument("--max-rows", type=int, default=1000, help="rows shown by --format table")

    maintain = _command(
        commands,
        "maintain",
        "merge small files and expire old snapshots (when no server runs)",
        _run_maintain,
    )
    _lake_flags(maintain)

    collector = _command(
        commands,
        "collector",
        "run the edge agent: local OTLP receiver, durable buffer, shipper",
        _run_collector,
    )
    collector.add_argument("--listen", dest="collector.listen", help="HOST:PORT (collector.listen)")
    collector.add_argument(
        "--backend", dest="collector.backend", help="parallax server HOST:PORT (collector.backend)"
    )
    collector.add_argument("--node-id", dest="collector.node_id", help="collector.node_id")
    collector.add_argument("--buffer-dir", dest="collector.buffer_dir", help="collector.buffer_dir")

    demo = _command(
        commands,
        "demo",
        "run a simulated fleet: server, collectors, apps with real models, dashboard",
        _run_demo,
    )
    _lake_flags(demo)
    demo.add_argument("--nodes", type=int, default=6, help="edge nodes, at least 3 (default 6)")
    demo.add_argument("--seed", type=int, default=7, help="seed of models and inputs")
    demo.add_argument(
        "--duration", type=float, help="stop after this many seconds (default: at Ctrl-C)"
    )
    demo.add_argument(
        "--outage-s", type=float, default=60.0, help="how long one node's link is down"
    )
    demo.add_argument("--headless", action="store_true", help="no dashboard")
    demo.add_argument("--reset", action="store_true", help="delete the lake first")

    reconcile = _command(
        commands,
        "reconcile",
        "find divergences and skew now (when no server runs; the server does it on an interval)",
        _run_reconcile,
    )
    _lake_flags(reconcile)
    reconcile.add_argument(
        "--policies",
        dest="reconciler.policies_file",
        help="policies TOML (reconciler.policies_file)",
    )
    reconcile.add_argument("--full", action="store_true", help="rebuild every table from scratch")

    credentials = _command(
        commands,
        "credentials",
        "add, revoke or list node credentials (server.credentials_file)",
        _run_credentials,
    )
    credentials.add_argument("action", choices=["add", "revoke", "list"])
    credentials.add_argument("node_id", nargs="?", help="the node the credential is bound to")
    credentials.add_argument(
        "--file", dest="server.credentials_file", help="server.credentials_file"
    )
    credentials.add_argument(
        "--gateway-for",
        metavar="NODE,NODE",
        help="a gateway credential that may also write for these nodes (a relay)",
    )

    dashboard = _command(
        commands, "dashboard", "serve the SRE dashboard (Streamlit, read-only)", _run_dashboard
    )
    _lake_flags(dashboard)
    dashboard.add_argument("--listen", dest="dashboard.listen", help="HOST:PORT (dashboard.listen)")

    return parser


def _command(
    commands: Any, name: str, help_text: str, run: Callable[[argparse.Namespace, Settings], int]
) -> argparse.ArgumentParser:
    sub = commands.add_parser(name, help=help_text, description=help_text)
    sub.set_defaults(run=run)
    return sub


def _lake_flags(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--lake", dest="store.path", help="lake directory (store.path)")
    sub.add_argument("--catalog", dest="store.catalog", help="catalog (store.catalog)")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if "." in k and v is not None}


def _environment_fallbacks(args: argparse.Namespace) -> dict[str, tuple[Any, str]]:
    """Settings from outside Parallax's own keys, below the file: for the collector, the
    node's OTEL_* variables (kept on ``args.otel`` for what is not a setting)."""
    if args.command != "collector":
        return {}
    from collector.otel_env import read_otel_environment

    args.otel = read_otel_environment(os.environ)
    return args.otel.fallbacks


def _run_server(args: argparse.Namespace, settings: Settings) -> int:
    from launch.server import run_server

    return run_server(settings)


def _run_collector(args: argparse.Namespace, settings: Settings) -> int:
    from collector.agent import run_collector

    return run_collector(settings, args.otel)


def _run_sql(args: argparse.Namespace, settings: Settings) -> int:
    from store.sql import QueryError, run_query

    query = sys.stdin.read() if args.query == "-" else args.query
    if args.format == "parquet" and not args.output:
        print("parallax sql: --format parquet needs --output FILE", file=sys.stderr)
        return 2
    try:
        if args.output:
            with open(args.output, "wb") as output:
                run_query(settings.store, query, args.format, output, args.max_rows)
        else:
            run_query(settings.store, query, args.format, max_rows=args.max_rows)
    except QueryError as err:
        print(f"parallax sql: {err}", file=sys.stderr)
        return 1
    return 0


def _run_maintain(args: argparse.Namespace, settings: Settings) -> int:
    from launch.progress import terminal_progress
    from store import open_writer
    from store.maintenance import run_maintenance
    from store.retention import retention_policy

    retention = retention_policy(settings.store)
    with open_writer(settings.store) as lake, terminal_progress() as progress:
        result = run_maintenance(
            lake,
            settings.server.snapshot_retention_s,
            retention,
            progress=progress,
            file_retention_s=settings.server.file_retention_s,
        )
    deleted = ", ".join(
        f"{int(rows)} {key.removeprefix('deleted_')}"
        for key, rows in result.items()
        if key.startswith("deleted_")
    )
    print(
        f"deleted by retention: {deleted or 'nothing'}; merged {result['data_files_before']} "
        f"data files into {result['data_files_after']} in {result['seconds']:.1f}s"
    )
    return 0


def _run_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from launch.progress import terminal_progress
    from reconciler import configured_policies, reconcile
    from store import open_writer

    policies = configured_policies(settings.reconciler.policies_file)
    with open_writer(settings.store) as lake, terminal_progress() as progress:
        report = reconcile(lake, policies, settings.reconciler, full=args.full, progress=progress)
    print(report.summary())
    return 0


def _run_demo(args: argparse.Namespace, settings: Settings) -> int:
    from launch.demo.orchestrator import DemoOptions, run_demo

    options = DemoOptions(
        nodes=args.nodes,
        seed=args.seed,
        duration_s=args.duration,
        outage_s=args.outage_s,
        headless=args.headless,
        reset=args.reset,
    )
    return run_demo(settings, options)


def _run_credentials(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from store.trust import CredentialsFile

    if not settings.server.credentials_file:
        print("parallax credentials: set server.credentials_file or --file", file=sys.stderr)
        return 2
    credentials = CredentialsFile(Path(settings.server.credentials_file))
    if args.action == "list":
        for entry in credentials.credentials():
            relays = f" for {', '.join(sorted(entry.nodes))}" if entry.kind == "gateway" else ""
            print(f"{entry.node_id}\t{entry.kind}{relays}\tcreated {entry.created_at}")
        return 0
    if not args.node_id:
        print(f"parallax credentials {args.action}: give a NODE_ID", file=sys.stderr)
        return 2
    if args.action == "revoke":
        if not credentials.revoke(args.node_id):
            print(f"parallax credentials: {args.node_id} has no credential", file=sys.stderr)
            return 1
        print(f"revoked {args.node_id}; the server stops accepting its token within a second")
        return 0
    relayed = [n for n in (args.gateway_for or "").split(",") if n]
    token = credentials.add(args.node_id, "gateway" if relayed else "node", relayed)
    print(token)
    print(
        f"# the token of {args.node_id}, shown only now; the file keeps its hash. "
        "Send it as 'authorization: Bearer <token>'.",
        file=sys.stderr,
    )
    return 0


def _run_dashboard(args: argparse.Namespace, settings: Settings) -> int:
    from dashboard.launch import run_dashboard

    return run_dashboard(settings)


if __name__ == "__main__":
    sys.exit(main())
