"""Where the demo keeps its files, and the configuration files it writes for its processes.

Everything lives under the lake directory (``store.path``, ``./parallax-data`` by
default), so ``--reset`` or ``make clean`` removes one directory::

    parallax-data/                 the lake: catalog.sqlite, data/, writer.lock
    parallax-data/demo/
        parallax.toml              settings of the server, reconciler and dashboard
        fleet-policy.toml          the directive heartbeats carry (server.fleet_policy_file)
        plan.json                  the script every app follows (launch.demo.plan)
        models/                    the trained models, one .npz per model version
        logs/                      one log per process
        nodes/<node>/collector.toml, buffer/, counts.json (spans the app produced)

The configuration files are ordinary Parallax configuration: the processes are started
with ``--config`` on them, exactly as an operator would.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from launch.demo.plan import NodePlan
from parallax.config import CollectorSettings, Settings
from parallax.errors import ConfigError
from parallax.sections import LogSettings

_LAKE_ENTRIES = {"catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm", "data", "demo",
                 "writer.lock"}  # fmt: skip


@dataclass(frozen=True)
class Workspace:
    """The demo's directories and files."""

    lake: Path

    @property
    def root(self) -> Path:
        return self.lake / "demo"

    @property
    def settings_file(self) -> Path:
        return self.root / "parallax.toml"

    @property
    def fleet_policy_file(self) -> Path:
        return self.root / "fleet-policy.toml"

    @property
    def plan_file(self) -> Path:
        return self.root / "plan.json"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def node_dir(self, node_id: str) -> Path:
        return self.root / "nodes" / node_id

    def counts_file(self, node_id: str) -> Path:
        return self.node_dir(node_id) / "counts.json"

    def collector_config(self, node_id: str) -> Path:
        return self.node_dir(node_id) / "collector.toml"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


def prepare(lake: Path, reset: bool) -> Workspace:
    """Create the workspace; with ``reset``, delete the lake first (only a Parallax lake)."""
    lake = lake.expanduser().resolve()
    if reset and lake.exists():
        unknown = sorted(entry.name for entry in lake.iterdir() if entry.name not in _LAKE_ENTRIES)
        if unknown:
            raise ConfigError(
                f"--reset: {lake} holds files a Parallax lake does not ({', '.join(unknown)}); "
                "not deleting it"
            )
        shutil.rmtree(lake)
    workspace = Workspace(lake)
    for directory in (workspace.models, workspace.logs):
        directory.mkdir(parents=True, exist_ok=True)
    return workspace


def write_settings(path: Path, settings: Settings) -> None:
    """``settings`` as a complete Parallax TOML file (every section and key)."""
    lines = ["# Written by `parallax demo`: the settings of its server, reconciler and dashboard."]
    for section, values in dataclasses.asdict(settings).items():
        lines.append(f"\n[{section}]")
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
    _write(path, "\n".join(lines) + "\n")


def write_collector_config(path: Path, settings: CollectorSettings, log: LogSettings) -> None:
    """One node's collector configuration (the ``[collector]`` and ``[log]`` sections)."""
    lines = ["# Written by `parallax demo`: this node's collector."]
    for section, values in (("collector", settings), ("log", log)):
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml(value)}" for key, value in dataclasses.asdict(values).items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, "\n".join(lines) + "\n")


def collector_settings(
    workspace: Workspace, node: NodePlan, backend: str, base: CollectorSettings
) -> CollectorSettings:
    """The collector settings of ``node``: its identity, its buffer, short demo intervals."""
    return dataclasses.replace(
        base,
        listen="127.0.0.1:0",
        http_listen="",  # the demo's apps export over gRPC; many nodes share one machine
        metrics_listen="127.0.0.1:0",  # one machine, many nodes: each its own port
        backend=backend,
        node_id=node.node_id,
        hardware_tier=node.tier,
        accelerator=node.accelerator,
        region=node.region,
        buffer_dir=str(workspace.node_dir(node.node_id) / "buffer"),
        heartbeat_interval_s=5.0,
        retry_max_s=5.0,
        shutdown_flush_s=15.0,
    )


def write_fleet_policy(path: Path, min_version: tuple[str, str] | None) -> None:
    """The fleet directive: 5 s heartbeats, and the rollout's minimum version once done."""
    lines = [
        "# Written by `parallax demo` (server.fleet_policy_file); rewritten as the rollout",
        "# completes, and re-read by the server within a second.",
        "sampling_ratio = 1.0",
        "heartbeat_interval_s = 5.0",
        'prewarm = ["fraud-gbm"]',
        "[min_versions]",
    ]
    if min_version is not None:
        lines.append(f"{min_version[0]} = {_toml(min_version[1])}")
    _write(path, "\n".join(lines) + "\n")


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a TOML basic string is a JSON string


def _write(path: Path, text: str) -> None:
    """Replace ``path`` atomically, so a reader never sees half a file."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
