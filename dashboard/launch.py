"""``parallax dashboard``: resolve settings once, then become ``streamlit run dashboard/app.py``.

The Streamlit app runs in its own interpreter (Streamlit's server owns the process), so
the settings the command resolved (defaults < file < environment < flags) travel to it
as ``PARALLAX_STORE_*`` and ``PARALLAX_DASHBOARD_*`` environment variables holding the
final values; ``PARALLAX_CONFIG`` is dropped so nothing is resolved twice. The app reads
them back with :func:`dashboard.settings.current`.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from parallax.config import CONFIG_FILE_ENV, ENV_PREFIX, Settings

APP = Path(__file__).resolve().parent / "app.py"
SECTIONS = ("store", "dashboard")


def settings_environment(settings: Settings, base: Mapping[str, str]) -> dict[str, str]:
    """``base`` without any PARALLAX_* variable, plus the resolved store and dashboard keys."""
    env = {k: v for k, v in base.items() if not k.startswith(ENV_PREFIX) and k != CONFIG_FILE_ENV}
    for section in SECTIONS:
        for key, value in dataclasses.asdict(getattr(settings, section)).items():
            env[f"{ENV_PREFIX}{section.upper()}_{key.upper()}"] = str(value)
    return env


def streamlit_command(settings: Settings) -> list[str]:
    host, _, port = settings.dashboard.listen.rpartition(":")
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        port,
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]


def run_dashboard(settings: Settings) -> int:
    """Replace this process with the Streamlit server (signals then reach it directly)."""
    print(f"parallax dashboard listening on http://{settings.dashboard.listen}", flush=True)
    command = streamlit_command(settings)
    os.execve(command[0], command, settings_environment(settings, os.environ))
    return 0  # not reached
