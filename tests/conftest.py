"""Fixtures shared by the whole suite: the repository root, a real lake, a real server."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from parallax.config import ServerSettings, Settings, StoreSettings

# Servers and collectors the tests start as processes take free ports, never the
# defaults (OTLP/HTTP 4318, /metrics 9464 and 9465) another test or program may hold.
for _section in ("SERVER", "COLLECTOR"):
    for _key in ("HTTP_LISTEN", "METRICS_LISTEN"):
        os.environ.setdefault(f"PARALLAX_{_section}_{_key}", "127.0.0.1:0")


@pytest.fixture(autouse=True)
def _no_leftover_processes() -> Iterator[None]:
    """Processes a test starts never outlive it, even when it fails half-way."""
    from tests.servers import kill_leftover_processes

    yield
    kill_leftover_processes()


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def store_settings(tmp_path) -> StoreSettings:
    return StoreSettings(path=str(tmp_path / "lake"))


def start_test_server(store_settings: StoreSettings, **overrides):
    """An in-process server on free ports; keyword arguments override ServerSettings."""
    from launch.server import start_server

    server_settings = dataclasses.replace(
        ServerSettings(
            listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            metrics_listen="127.0.0.1:0",
            flush_interval_ms=20,
            stats_interval_s=3600,
        ),
        **overrides,
    )
    return start_server(Settings(store=store_settings, server=server_settings))


@pytest.fixture
def make_server(store_settings) -> Iterator[Callable]:
    """Start an in-process server on a free port; keyword arguments override ServerSettings."""
    started = []

    def start(**overrides):
        server = start_test_server(store_settings, **overrides)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(make_server):
    return make_server()
