"""The fleet policy from a TOML file, re-read when the file changes (no restart needed).

Format (every key optional; absent keys take FleetPolicy's defaults)::

    sampling_ratio = 0.25          # share of inputs nodes keep, 0..1
    heartbeat_interval_s = 15.0
    prewarm = ["fraud-gbm"]        # models nodes should load and warm up
    [min_versions]                 # forced-upgrade signal: lowest version per model
    fraud-gbm = "2.3"

A file with an error stops the server at start-up, naming the file, the key and the
problem; a later edit with an error is logged and the previous policy stays in force.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from parallax.config import read_toml
from parallax.errors import ConfigError
from parallax.watched import WatchedFile
from store.fleet.policy import FleetPolicy

log = logging.getLogger("parallax.fleet")

KEYS = {"sampling_ratio", "heartbeat_interval_s", "prewarm", "min_versions"}
CHECK_EVERY_S = 1.0


def load_policy(path: Path) -> FleetPolicy:
    """Read and validate a policy file; raise ConfigError naming the file and key."""
    data = read_toml(path, "fleet policy file")
    unknown = set(data) - KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    _expect(path, data, "sampling_ratio", (int, float))
    _expect(path, data, "heartbeat_interval_s", (int, float))
    _expect(path, data, "prewarm", list)
    _expect(path, data, "min_versions", dict)
    if not all(isinstance(v, str) for v in data.get("min_versions", {}).values()):
        raise ConfigError(f"{path}: min_versions: every version must be a string")
    try:
        return FleetPolicy(
            sampling_ratio=float(data.get("sampling_ratio", 1.0)),
            heartbeat_interval_s=float(data.get("heartbeat_interval_s", 15.0)),
            min_versions=data.get("min_versions", {}),
            prewarm=tuple(data.get("prewarm", ())),
        )
    except ValueError as err:
        raise ConfigError(f"{path}: {err}") from err


def _expect(path: Path, data: dict, key: str, kind: type | tuple[type, ...]) -> None:
    if key in data and (not isinstance(data[key], kind) or isinstance(data[key], bool)):
        raise ConfigError(f"{path}: {key}: wrong type {type(data[key]).__name__}")


class PolicyFile(WatchedFile[FleetPolicy]):
    """Watches a policy file: ``current()`` re-reads it at most once a second when its
    modification time changed, keeping the last good policy when an edit is broken."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, load_policy, "fleet policy file")
        self._checked = time.monotonic()

    def current(self) -> FleetPolicy:
        now = time.monotonic()
        if now - self._checked >= CHECK_EVERY_S:
            self._checked = now
            self.refresh()
        return self.value
