"""The benchmarks' child processes: ``parallax server`` and ``parallax collector`` on free
local ports, and the stock-SDK app (``bench/sdk_app.py``, run as ``bench/collector.py --app
SPEC``).

Each child runs in its own session (Ctrl-C reaches only the benchmark, which stops the
children in order) and gets SIGTERM when the benchmark dies; its stdout is read line by
line (:meth:`Child.expect`), its stderr goes to a log file. :class:`Children` remembers
every child a run started, so that ``finally`` can stop what is left.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.collector_bytes import NODE_ID

PARALLAX = Path(sys.executable).parent / "parallax"
COLLECTOR_BENCH = Path(__file__).resolve().parent / "collector.py"


def _die_with_parent() -> None:
    """In the child before exec: SIGKILLed parent -> SIGTERM here (Linux prctl)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Child:
    """A child process with its stdout pumped into a queue and its stderr in a log file."""

    def __init__(self, name: str, command: list[str], log_path: Path, env: dict[str, str]):
        self.name = name
        self.log_path = log_path
        self.address = ""
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                text=True,
                start_new_session=True,  # Ctrl-C reaches only us; we stop children in order
                preexec_fn=_die_with_parent,
            )
        self.pid = self.proc.pid
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, name=f"{name}-stdout", daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix: str, timeout: float) -> str:
        """The first stdout line containing ``prefix``; raises on exit or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"{self.name}: no {prefix!r} within {timeout:g} s{self.tail()}")
            try:
                line = self.lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"{self.name} exited ({self.proc.wait()}){self.tail()}")
            if prefix in line:
                return line

    def tail(self, chars: int = 1500) -> str:
        with contextlib.suppress(OSError):
            return "\n" + self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 60) -> tuple[int | None, float]:
        """SIGTERM, wait (SIGKILL after ``timeout``); (exit code, seconds)."""
        began = time.monotonic()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode, round(time.monotonic() - began, 2)


def start_server(lake: Path, port: int, workdir: Path, env: dict[str, str]) -> Child:
    command = [str(PARALLAX), "server", "--lake", str(lake), "--listen", f"127.0.0.1:{port}"]
    server = Child("server", command, workdir / "server.log", env)
    try:
        server.expect("listening on", 120)
    except BaseException:
        server.stop(10)
        raise
    return server


def start_collector(backend: str, buffer_dir: Path, workdir: Path, env: dict[str, str]) -> Child:
    command = [
        str(PARALLAX),
        "collector",
        "--backend",
        backend,
        "--buffer-dir",
        str(buffer_dir),
        "--listen",
        "127.0.0.1:0",
        "--node-id",
        NODE_ID,
    ]
    collector = Child("collector", command, workdir / "collector.log", env)
    try:
        line = collector.expect("listening on", 60)
    except BaseException:
        collector.stop(10)
        raise
    collector.address = line.rsplit(" ", 1)[-1]
    return collector


def start_targets(
    variant: str,
    run_dir: Path,
    children: Children,
    server_env: dict[str, str],
    collector_env: dict[str, str],
) -> tuple[Child, Child | None, str, int]:
    """``parallax server`` on ``run_dir/lake`` at a free port and, for the ``collector``
    variant, ``parallax collector`` (buffer in ``run_dir/buffer``) shipping to it:
    (server, collector or None, the endpoint apps export to, the server's port)."""
    port = free_port()
    server = children.add(start_server(run_dir / "lake", port, run_dir, server_env))
    endpoint = f"127.0.0.1:{port}"
    if variant != "collector":
        return server, None, endpoint, port
    collector = children.add(start_collector(endpoint, run_dir / "buffer", run_dir, collector_env))
    return server, collector, collector.address, port


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Children:
    """Every child this run started, so that ``finally`` can stop what is left."""

    def __init__(self) -> None:
        self.all: list[Child] = []

    def add(self, child: Child) -> Child:
        self.all.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self.all):
            if child.alive():
                child.stop(20)


def start_app(
    children: Children, workdir: Path, name: str, endpoint: str, duration: float, rate: int
) -> tuple[Child, float]:
    spec = {"endpoint": endpoint, "duration_s": duration, "rate": rate, "seed": name}
    command = [sys.executable, str(COLLECTOR_BENCH), "--app", json.dumps(spec)]
    app = children.add(Child(f"app-{name}", command, workdir / f"app-{name}.log", dict(os.environ)))
    started = float(app.expect("STARTED", 60).split()[1])
    return app, started


def app_result(app: Child, timeout: float) -> dict[str, Any]:
    line = app.expect("RESULT", timeout)
    app.proc.wait(30)
    return json.loads(line.split(" ", 1)[1])


def log_lines(path: Path, keep: int = 12) -> list[str]:
    text = path.read_text(errors="replace") if path.exists() else ""
    marks = ("WARNING", "ERROR", "Traceback", "dropped", "retry")
    return [line[:300] for line in text.splitlines() if any(m in line for m in marks)][-keep:]
