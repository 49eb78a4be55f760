"""``parallax dashboard``: resolve settings once, then become ``streamlit run dashboard/app.py``.

The Streamlit app runs in its own interpreter (Streamlit's server owns the process), so
the settings the command resolved (defaults < file < environment < flags) travel to it
as ``PARALLAX_STORE_*`` and ``PARALLAX_DASHBOARD_*`` environment variables holding the
final values, plus ``PARALLAX_SERVER_INSECURE`` for the insecure-deployment banner;
``PARALLAX_CONFIG`` is dropped so nothing is resolved twice. The app reads them back
once per script run (``parallax.config.load_settings``) and passes them down.

Before that, the start is refused when it would let people in unchecked
(:func:`dashboard.access.check_exposure`), and with ``dashboard.auth = "oidc"`` the
provider's settings and secrets go to Streamlit as its ``[auth]`` secrets, in a file
only this user can read (:func:`dashboard.access.write_oidc_secrets`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from dashboard.access import check_exposure, write_oidc_secrets
from parallax.config import Settings, env_name, without_settings_env

APP = Path(__file__).resolve().parent / "app.py"
SECTIONS = ("store", "dashboard")


def settings_environment(settings: Settings, base: Mapping[str, str]) -> dict[str, str]:
    """``base`` without any PARALLAX_* variable, plus the resolved store and dashboard keys."""
    env = without_settings_env(base)
    for section in SECTIONS:
        for key, value in dataclasses.asdict(getattr(settings, section)).items():
            env[env_name(section, key)] = str(value)
    env[env_name("server", "insecure")] = str(settings.server.insecure)
    return env


def streamlit_command(settings: Settings, secrets_file: Path | None = None) -> list[str]:
    """The Streamlit server's command line; ``secrets_file`` holds its ``[auth]`` secrets."""
    host, _, port = settings.dashboard.listen.rpartition(":")
    secrets = ["--secrets.files", str(secrets_file)] if secrets_file else []
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
        *secrets,
    ]


def run_dashboard(settings: Settings) -> int:
    """Replace this process with the Streamlit server (signals then reach it directly)."""
    check_exposure(settings.dashboard)
    secrets_file = None
    if settings.dashboard.auth == "oidc":
        secrets_file = write_oidc_secrets(settings.dashboard)
    print(f"parallax dashboard listening on http://{settings.dashboard.listen}", flush=True)
    command = streamlit_command(settings, secrets_file)
    os.execve(command[0], command, settings_environment(settings, os.environ))
    return 0  # not reached
