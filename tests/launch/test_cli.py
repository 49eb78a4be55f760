"""The `parallax` command: help, subcommands, errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from launch.cli import main


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("server", "collector", "dashboard", "demo", "reconcile", "sql", "maintain"):
        assert command in out


def test_a_bad_config_fails_at_start_up_naming_key_and_file(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text("[server]\nmax_concurrent_requests = -1\n")
    assert main(["--config", str(config), "server"]) == 2
    err = capsys.readouterr().err
    assert "server.max_concurrent_requests" in err and str(config) in err


def test_the_installed_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "launch.cli", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout.startswith("parallax ")
