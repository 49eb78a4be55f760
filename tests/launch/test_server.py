"""``parallax server`` as a process: how it runs and stops (run_server, in-process)."""

from __future__ import annotations

import os
import signal

from launch.server import run_server
from parallax.config import ServerSettings, Settings


def test_sigterm_stops_the_server_cleanly_with_exit_0(store_settings):
    def ready(running) -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    server = ServerSettings(listen="127.0.0.1:0", http_listen="", metrics_listen="")
    assert run_server(Settings(store=store_settings, server=server), on_ready=ready) == 0
