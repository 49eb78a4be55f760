"""``parallax demo``: a live simulated fleet, every piece a real process on loopback.

Starts ``parallax server`` (ingest + the reconciler every ``RECONCILE_INTERVAL_S``), one
``parallax collector`` and one app (``launch.demo.app``) per node, and ``parallax
dashboard``; plays the plan (``launch.demo.plan``): a two-wave rollout, a node whose
link drops (``launch.demo.link``), a cold start; prints what the reconciler finds as
it finds it. Ctrl-C (or SIGTERM, or the end of ``--duration``) stops the processes in
the order that loses nothing: apps (they flush to their collectors), then, once the lake
holds every span the apps produced, collectors, dashboard and server; then one last
reconciler run and a summary read from the lake. A second Ctrl-C kills everything.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from launch.demo import fraud, recs
from launch.demo.app import fraud_model_path, recs_model_path
from launch.demo.link import Link
from launch.demo.plan import Plan, build_plan
from launch.demo.processes import Child, StartError, stop_all
from launch.demo.report import banner, summarize
from launch.demo.workspace import (
    Workspace,
    collector_settings,
    prepare,
    write_collector_config,
    write_fleet_policy,
    write_settings,
)
from parallax.config import Settings, without_settings_env
from parallax.errors import ConfigError
from store import StoreError, connect

log = logging.getLogger("parallax.demo")
RECONCILE_INTERVAL_S = 5.0
# Package data (deploy/policies.toml links to it), so an installed wheel runs the demo too.
POLICIES_FILE = Path(__file__).resolve().parent / "policies.toml"
START_TIMEOUT_S = 90.0
DELIVERY_TIMEOUT_S = 90.0
FINDINGS_EVERY_S = 5.0
STATUS_EVERY_S = 30.0


@dataclass(frozen=True)
class DemoOptions:
    """The command's flags."""

    nodes: int = 6
    seed: int = 7
    duration_s: float | None = None
    outage_s: float = 60.0
    headless: bool = False
    reset: bool = False


def run_demo(settings: Settings, options: DemoOptions) -> int:
    """Run the demo until Ctrl-C or ``options.duration_s``; the exit code."""
    return Demo(settings, options).run()


class Demo:
    """One run of the demo: its plan, its processes and their order."""

    def __init__(self, settings: Settings, options: DemoOptions) -> None:
        self._options = options
        self._plan = build_plan(options.nodes, options.seed, options.duration_s, options.outage_s)
        _check_fits(self._plan, options)
        self._workspace = prepare(Path(settings.store.path), options.reset)
        self._settings = _demo_settings(settings, self._workspace, options.headless)
        self._stop = threading.Event()
        self._failed: list[str] = []
        self._apps: dict[str, Child] = {}
        self._collectors: dict[str, Child] = {}
        self._server: Child | None = None
        self._dashboard: Child | None = None
        self._link: Link | None = None
        self._started = self._ended = 0.0
        self._seen_findings: set[tuple[str, str]] = set()

    def run(self) -> int:
        self._handle_signals()
        try:
            self._start()
            self._play()
        except StartError as err:
            print(f"parallax demo: {err}", file=sys.stderr)
            self._failed.append("start")
        finally:
            self._shutdown()
        return 1 if self._failed else 0

    # --- start ---------------------------------------------------------------------

    def _start(self) -> None:
        ws = self._workspace
        self._plan.save(ws.plan_file)
        write_fleet_policy(ws.fleet_policy_file, None)
        write_settings(ws.settings_file, self._settings)
        print(
            f"parallax demo: {len(self._plan.nodes)} nodes, seed {self._plan.seed}, lake {ws.lake}"
        )
        self._server = self._child("server", self._parallax("server"))
        if not self._options.headless:
            self._dashboard = self._child("dashboard", self._parallax("dashboard"))
        seconds = train_models(ws.models, self._plan.seed)
        print(f"trained {fraud.MODEL_NAME} {', '.join(fraud.VERSIONS)} and {recs.MODEL_NAME} "
              f"{recs.VERSION} in {seconds:.1f}s")  # fmt: skip
        server = self._server.read_line(r"listening on (\S+)", START_TIMEOUT_S)[1]
        self._start_apps(self._start_collectors(server))
        url = self._dashboard_url()
        self._started = time.time() + 1.0
        for app in self._apps.values():
            app.send(f"{self._started!r}\n")
        print(banner(self._plan, ws.lake, url, ws.logs), flush=True)

    def _start_collectors(self, server: str) -> dict[str, str]:
        """Start every node's collector; their OTLP addresses by node id."""
        base = self._settings.collector
        for node in self._plan.nodes:
            backend = server
            if node.outage:
                self._link = Link(server, name=f"{node.node_id} link")
                backend = self._link.address
            config = self._workspace.collector_config(node.node_id)
            write_collector_config(
                config, collector_settings(self._workspace, node, backend, base), self._settings.log
            )
            command = [sys.executable, "-m", "launch.cli", "--config", str(config), "collector"]
            self._collectors[node.node_id] = self._child(f"collector-{node.node_id}", command)
        return {
            node_id: child.read_line(r"listening on (\S+)", START_TIMEOUT_S)[1]
            for node_id, child in self._collectors.items()
        }

    def _start_apps(self, collectors: dict[str, str]) -> None:
        ws = self._workspace
        for node in self._plan.nodes:
            address = collectors[node.node_id]
            command = [
                sys.executable, "-m", "launch.demo.app",
                "--plan", str(ws.plan_file), "--node", node.node_id, "--models", str(ws.models),
                "--collector", address, "--counts", str(ws.counts_file(node.node_id)),
                "--log-format", self._settings.log.format,
            ]  # fmt: skip
            self._apps[node.node_id] = self._child(f"app-{node.node_id}", command, stdin=True)
        for child in self._apps.values():
            child.read_line(r"^ready", START_TIMEOUT_S)

    def _dashboard_url(self) -> str | None:
        if self._dashboard is None:
            return None
        url = self._dashboard.read_line(r"listening on (\S+)", START_TIMEOUT_S)[1]
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(url) and time.monotonic() < deadline and self._dashboard.alive():
            time.sleep(0.25)
        if not self._dashboard.alive():
            raise StartError(f"dashboard exited:\n{self._dashboard.log_tail()}")
        return url

    # --- play ----------------------------------------------------------------------

    def _play(self) -> None:
        events = self._events()
        next_findings, next_status = 0.0, STATUS_EVERY_S
        while not self._stop.is_set():
            elapsed = time.time() - self._started
            while events and events[0][0] <= elapsed:
                at, text, action = events.pop(0)
                action()
                print(f"{at:6.1f}s  {text}", flush=True)
            if self._options.duration_s and elapsed >= self._options.duration_s:
                return
            dead = [c for c in self._children() if not c.alive()]
            if dead:
                for child in dead:
                    print(f"parallax demo: {child.name} exited ({child.proc.returncode}); "
                          f"its log:\n{child.log_tail()}", file=sys.stderr)  # fmt: skip
                    self._failed.append(child.name)
                return
            if elapsed >= next_findings:
                self._print_new_findings(elapsed)
                next_findings = elapsed + FINDINGS_EVERY_S
            if elapsed >= next_status:
                self._print_status(elapsed)
                next_status = elapsed + STATUS_EVERY_S
            self._stop.wait(0.2)

    def _events(self) -> list[tuple[float, str, Callable[[], None]]]:
        events: list[tuple[float, str, Callable[[], None]]] = []
        nothing: Callable[[], None] = lambda: None  # noqa: E731
        for node in self._plan.nodes:
            for switch in node.fraud_versions[1:]:
                events.append((switch.at_s, f"{node.node_id} serves {fraud.MODEL_NAME} "
                               f"{switch.version}", nothing))  # fmt: skip
            if node.outage and self._link is not None:
                start, end = node.outage
                events.append((start, f"{node.node_id}: link down", self._link.cut))
                events.append((end, f"{node.node_id}: link up, backfilling", self._link.restore))
            if node.recs_cold_start:
                events.append((node.recs_from_s, f"{node.node_id}: {recs.MODEL_NAME} cold start",
                               nothing))  # fmt: skip
        policy = self._workspace.fleet_policy_file
        for version, done_at in self._plan.waves:

            def require(version: str = version) -> None:
                write_fleet_policy(policy, (fraud.MODEL_NAME, version))

            events.append((done_at, f"rollout of {version} done: fleet minimum "
                           f"{fraud.MODEL_NAME} {version}", require))  # fmt: skip
        return sorted(events, key=lambda event: event[0])

    def _print_new_findings(self, elapsed: float) -> None:
        for kind, feature, subject, detail in self._query(
            "SELECT kind, feature, subject, detail FROM findings WHERE status = 'open' "
            "AND kind <> 'output drift' ORDER BY first_seen"
        ):
            if (kind, subject) not in self._seen_findings:
                self._seen_findings.add((kind, subject))
                print(f"{elapsed:6.1f}s  finding: {kind} in {feature}: {subject} ({detail})",
                      flush=True)  # fmt: skip

    def _print_status(self, elapsed: float) -> None:
        rows = self._query(
            "SELECT (SELECT count(*) FROM spans WHERE start_time >= to_timestamp(?)), "
            "(SELECT count(*) FROM nodes)",
            [self._started],
        )
        if rows:
            spans, nodes = rows[0]
            print(f"{elapsed:6.1f}s  lake: {spans:,} spans from this run, {nodes} nodes",
                  flush=True)  # fmt: skip

    def _query(self, sql: str, params: list[object] | None = None) -> list[tuple]:
        """Rows of a read-only query; none while the lake is not readable yet."""
        try:
            con = connect(self._settings.store, read_only=True)
        except (StoreError, duckdb.Error):
            return []
        try:
            return con.execute(sql, params or []).fetchall()
        except duckdb.Error:
            return []
        finally:
            con.close()

    # --- stop ----------------------------------------------------------------------

    def _shutdown(self) -> None:
        print("\nstopping: apps, then collectors once delivered, dashboard, server", flush=True)
        if self._link is not None and not self._link.up:
            self._link.restore()
        stop_all(list(self._apps.values()), 30)
        self._ended = time.time()
        if self._server is not None and self._server.alive():
            self._await_delivery()
        stop_all(list(self._collectors.values()), 60)
        if self._link is not None:
            self._link.close()
        if self._dashboard is not None:
            stop_all([self._dashboard], 20)
        if self._server is not None:
            stop_all([self._server], 60)
        exits = {c.name: c.returncode for c in self._children()}
        (self._workspace.root / "exits.json").write_text(json.dumps(exits, indent=2) + "\n")
        unclean = {name: code for name, code in exits.items() if code != 0}
        if unclean:
            print(f"parallax demo: processes that did not exit cleanly: {unclean}", file=sys.stderr)
            self._failed.append("exit")
        if self._server is None or self._server.returncode != 0 or not self._started:
            return
        self._final_reconcile()
        self._summarize()

    def _await_delivery(self) -> None:
        produced = self._produced()
        wanted = sum(produced.values())
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while time.monotonic() < deadline:
            rows = self._query(
                "SELECT count(*) FROM spans WHERE start_time >= to_timestamp(?)", [self._started]
            )
            if rows and rows[0][0] >= wanted:
                return
            time.sleep(0.5)
        print(f"parallax demo: the lake did not receive all {wanted:,} spans within "
              f"{DELIVERY_TIMEOUT_S:.0f}s; the rest stays in the collectors' buffers",
              file=sys.stderr)  # fmt: skip

    def _final_reconcile(self) -> None:
        log_path = self._workspace.log("reconcile")
        with log_path.open("w", encoding="utf-8") as output:
            result = subprocess.run(
                self._parallax("reconcile"), stdout=output, stderr=output, env=_child_env(),
                timeout=300, check=False,
            )  # fmt: skip
        if result.returncode != 0:
            print(f"parallax demo: the final reconciler run failed; see {log_path}",
                  file=sys.stderr)  # fmt: skip
            self._failed.append("reconcile")

    def _summarize(self) -> None:
        summary = summarize(
            self._settings.store, self._plan, self._started, self._ended, self._produced()
        )
        summary.save(self._workspace.root / "summary.json")
        print(summary.text(), flush=True)

    def _produced(self) -> dict[str, int]:
        produced = {}
        for node in self._plan.nodes:
            path = self._workspace.counts_file(node.node_id)
            if path.exists():
                produced[node.node_id] = json.loads(path.read_text(encoding="utf-8"))["total"]
        return produced

    # --- helpers ---------------------------------------------------------------------

    def _children(self) -> list[Child]:
        extra = [c for c in (self._server, self._dashboard) if c is not None]
        return [*extra, *self._collectors.values(), *self._apps.values()]

    def _child(self, name: str, command: list[str], stdin: bool = False) -> Child:
        return Child(name, command, self._workspace.log(name), _child_env(), stdin=stdin)

    def _parallax(self, command: str) -> list[str]:
        config = str(self._workspace.settings_file)
        return [sys.executable, "-m", "launch.cli", "--config", config, command]

    def _handle_signals(self) -> None:
        def on_signal(signum: int, _frame: object) -> None:
            if self._stop.is_set():
                print("\nparallax demo: killing every process", file=sys.stderr)
                for child in self._children():
                    child.kill()
                raise SystemExit(130)
            self._stop.set()

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, on_signal)


def train_models(directory: Path, seed: int) -> float:
    """Train every model of the demo into ``directory``; the seconds it took."""
    started = time.monotonic()
    for version in fraud.VERSIONS:
        fraud.train(version, seed).save(fraud_model_path(directory, version))
    recs.train(seed).save(recs_model_path(directory))
    return time.monotonic() - started


def _demo_settings(settings: Settings, workspace: Workspace, headless: bool) -> Settings:
    """The user's settings with the demo's: short intervals, the policies, a free port."""
    policies = settings.reconciler.policies_file or str(POLICIES_FILE)
    if not Path(policies).exists():
        raise ConfigError(f"reconciler.policies_file: {policies} does not exist")
    dashboard_listen = settings.dashboard.listen
    if not headless and not _port_free(dashboard_listen):
        dashboard_listen = f"127.0.0.1:{_free_port()}"
    return dataclasses.replace(
        settings,
        store=dataclasses.replace(settings.store, path=str(workspace.lake)),
        server=dataclasses.replace(
            settings.server,
            listen="127.0.0.1:0",
            fleet_policy_file=str(workspace.fleet_policy_file),
        ),
        reconciler=dataclasses.replace(
            settings.reconciler, policies_file=policies, interval_s=RECONCILE_INTERVAL_S
        ),
        dashboard=dataclasses.replace(
            settings.dashboard, listen=dashboard_listen, refresh_s=5.0, heartbeat_tolerance_s=15.0
        ),
    )


def _check_fits(plan: Plan, options: DemoOptions) -> None:
    if options.duration_s is None:
        return
    for node in plan.nodes:
        if node.outage and node.outage[1] > options.duration_s - 5:
            raise ConfigError(
                f"--outage-s {options.outage_s:g} does not fit in --duration "
                f"{options.duration_s:g} (the link must be back at least 5 s before the end)"
            )


def _child_env() -> dict[str, str]:
    """The environment without PARALLAX_*: the demo's configuration files say everything."""
    return without_settings_env(os.environ)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read() == b"ok"
    except OSError:
        return False


def _port_free(listen: str) -> bool:
    host, _, port = listen.rpartition(":")
    with socket.socket() as probe:
        try:
            probe.bind((host, int(port)))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
