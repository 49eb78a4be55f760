"""Long commands show their phases and a progress bar on a terminal, and nothing but their
normal output and log lines through a pipe. Real commands, a real pseudo-terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PARALLAX = [sys.executable, "-m", "launch.cli"]
BUILD_LAKE = [sys.executable, str(ROOT / "bench" / "fleet_data.py"), "--nodes", "20"]
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING) parallax[.\w]*: ")
TERMINAL_CONTROL = re.compile(r"\x1b|\r")


def command_env() -> dict[str, str]:
    """This environment without PARALLAX_* settings, as a terminal with colour would have."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARALLAX_")}
    return env | {"TERM": "xterm-256color", "PYTHONIOENCODING": "utf-8"}


def on_a_terminal(command: list[str]) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal (120 columns); (exit code, stdout, terminal)."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=command_env(),
        cwd=ROOT,
    )
    os.close(terminal)
    shown = bytearray()
    while True:
        try:
            data = os.read(controller, 65536)
        except OSError:  # EIO: every writer of the terminal has closed it
            break
        if not data:
            break
        shown += data
    os.close(controller)
    stdout = process.stdout.read().decode()
    return process.wait(timeout=120), stdout, shown.decode("utf-8", "replace")


def through_a_pipe(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, env=command_env(), cwd=ROOT, timeout=120
    )


def test_on_a_terminal_long_commands_show_their_phases_and_counts(tmp_path):
    lake = str(tmp_path / "lake")
    code, stdout, shown = on_a_terminal([*BUILD_LAKE, "--spans", "3000", "--path", lake])
    assert code == 0 and "3,000 spans" in stdout
    assert "write the inventory" in shown and "write spans" in shown and "3000/3000" in shown

    code, stdout, shown = on_a_terminal([*PARALLAX, "reconcile", "--full", "--lake", lake])
    assert code == 0 and stdout.startswith("reconcile run 1 (full): 3000 new spans")
    for phase in ("read every span", "reconcile the groups, slice by slice", "write the results"):
        assert phase in shown
    assert "1/1" in shown  # slice i/n of the full rebuild
    assert "INFO parallax.reconciler: reconcile run 1" in shown  # the log line, above the bar

    code, stdout, shown = on_a_terminal([*PARALLAX, "maintain", "--lake", lake])
    assert code == 0 and "merged" in stdout
    for step in ("merge adjacent files", "expire snapshots", "cleanup old files"):
        assert step in shown


def test_through_a_pipe_only_the_normal_output_and_log_lines_appear(tmp_path):
    lake = str(tmp_path / "lake")
    built = through_a_pipe([*BUILD_LAKE, "--spans", "200", "--path", lake])
    assert built.returncode == 0 and "200 spans" in built.stdout
    assert built.stderr == ""

    for command in (["reconcile", "--full"], ["maintain"]):
        result = through_a_pipe([*PARALLAX, *command, "--lake", lake])
        assert result.returncode == 0
        assert len(result.stdout.splitlines()) == 1  # the command's summary
        assert not TERMINAL_CONTROL.search(result.stderr + result.stdout)
        lines = result.stderr.splitlines()
        assert lines and all(LOG_LINE.match(line) for line in lines), result.stderr
