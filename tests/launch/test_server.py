"""``parallax server`` as a process: how it runs and stops (run_server, in-process)."""

from __future__ import annotations

import os
import signal
import sys

import pytest

from launch.server import INTERPRETER_SWITCH_INTERVAL_S, run_server
from parallax.config import ServerSettings, Settings


@pytest.fixture
def switch_interval_restored():
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


def test_the_server_hands_the_interpreter_lock_on_quickly_and_stops_cleanly_on_sigterm(
    store_settings, switch_interval_restored
):
    """DuckDB's client retakes the lock between tasks: the reconciler and maintenance
    must not wait 5 ms each time beside the ingest threads."""
    seen = []

    def ready(running) -> None:
        seen.append(sys.getswitchinterval())
        os.kill(os.getpid(), signal.SIGTERM)

    server = ServerSettings(listen="127.0.0.1:0", http_listen="", metrics_listen="")
    assert run_server(Settings(store=store_settings, server=server), on_ready=ready) == 0
    assert seen == [pytest.approx(INTERPRETER_SWITCH_INTERVAL_S)]
