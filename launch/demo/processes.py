"""The demo's child processes: started with their own log, stopped in order, never orphaned.

Each child runs in a session of its own, so a Ctrl-C in the terminal reaches only the
orchestrator, which then stops the children in the order that loses nothing (apps,
then collectors, then the server). On Linux each child also gets SIGTERM from the
kernel if the orchestrator dies without stopping it (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

log = logging.getLogger("parallax.demo")
_PR_SET_PDEATHSIG = 1
# Resolved once here: after fork, the child may only do what needs no lock.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


class StartError(RuntimeError):
    """A child did not start; the message names it and ends with its log's tail."""


class Child:
    """One process of the demo; its stderr (and stdout once started) goes to ``log_path``."""

    def __init__(
        self,
        name: str,
        command: list[str],
        log_path: Path,
        env: dict[str, str],
        stdin: bool = False,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._log: IO[str] = log_path.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
            start_new_session=True,
            preexec_fn=functools.partial(_die_with_parent, os.getpid()) if _PRCTL else None,
        )
        self.returncode: int | None = None

    def read_line(self, pattern: str, timeout_s: float) -> re.Match[str]:
        """Wait for the first stdout line matching ``pattern``; then stdout goes to the log."""
        found: list[re.Match[str]] = []
        lines: list[str] = []

        def read() -> None:
            for line in self.proc.stdout:  # type: ignore[union-attr]
                lines.append(line)
                match = re.search(pattern, line)
                if match:
                    found.append(match)
                    break

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout_s)
        if not found:
            self.kill()
            raise StartError(f"{self.name} did not start: {''.join(lines)}{self.log_tail()}")
        threading.Thread(target=self._copy_stdout, daemon=True).start()
        return found[0]

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def terminate(self) -> None:
        """Send SIGTERM (if still running); :meth:`wait` for the exit."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s``, then SIGKILL; the exit code (negative: a signal)."""
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0fs: killed", self.name, timeout_s)
            self.proc.kill()
            self.proc.wait()
        return self._finish()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._finish()

    def log_tail(self, lines: int = 15) -> str:
        self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def _finish(self) -> int:
        self.returncode = self.proc.returncode
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self._log.close()
        return self.returncode

    def _copy_stdout(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            try:
                self._log.write(line)
                self._log.flush()
            except ValueError:  # the log was closed: the child has exited
                return


def stop_all(children: list[Child], timeout_s: float) -> None:
    """SIGTERM every child at once, then wait for each (SIGKILL after ``timeout_s``)."""
    for child in children:
        child.terminate()
    for child in children:
        child.wait(timeout_s)


def _die_with_parent(parent: int) -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux)."""
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)  # type: ignore[misc]
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)
