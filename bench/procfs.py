"""What /proc says about processes and the machine: CPU seconds, memory, threads, load."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int | str, tid: int | str | None = None) -> tuple[str, list[str]]:
    path = f"/proc/{pid}/task/{tid}/stat" if tid is not None else f"/proc/{pid}/stat"
    text = Path(path).read_text()
    comm = text[text.index("(") + 1 : text.rindex(")")]
    return comm, text[text.rindex(")") + 2 :].split()


def process_tree(pid: int) -> list[int]:
    """The process and its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            _, fields = _stat_fields(entry.name)
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_cpu_s(pid: int) -> float:
    """utime+stime of the process tree (plus reaped children) in seconds."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            _, fields = _stat_fields(member)
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / CLOCK_TICKS


def status_kib(pid: int, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """Per-thread (name, cpu seconds) of one process."""
    threads = {}
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                comm, fields = _stat_fields(pid, task.name)
                threads[int(task.name)] = (comm, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return threads


def top_threads(
    before: dict[int, tuple[str, float]],
    after: dict[int, tuple[str, float]],
    wall_s: float | None = None,
    top: int = 8,
) -> list[dict]:
    """The ``top`` threads by CPU seconds between two ``thread_cpu`` readings; with
    ``wall_s``, each one's cores too."""
    rows = []
    for tid, (name, cpu) in after.items():
        used = cpu - before.get(tid, (name, 0.0))[1]
        if used > 0:
            rows.append({"tid": tid, "name": name, "cpu_s": round(used, 2)})
    rows.sort(key=lambda row: -row["cpu_s"])
    if wall_s:
        for row in rows:
            row["cores"] = round(row["cpu_s"] / wall_s, 2)
    return rows[:top]


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class Monitor(threading.Thread):
    """Samples the server process tree once a second: CPU, RSS, peak RSS, machine load."""

    def __init__(self, pid: int) -> None:
        super().__init__(name="monitor", daemon=True)
        self.pid = pid
        self.samples: list[dict[str, float]] = []
        self.peak_kib: dict[int, int] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(1.0)

    def sample(self) -> None:
        busy, total = machine_jiffies()
        members = process_tree(self.pid)
        for member in members:
            self.peak_kib[member] = max(self.peak_kib.get(member, 0), status_kib(member, "VmHWM"))
        self.samples.append(
            {
                "t": time.time(),
                "server_cpu_s": tree_cpu_s(self.pid),
                "rss_kib": sum(status_kib(m, "VmRSS") for m in members),
                "machine_busy": busy,
                "machine_total": total,
            }
        )

    def stop(self) -> None:
        if self.ident is None or self._stop_event.is_set():
            return
        self._stop_event.set()
        self.join(5)
        with contextlib.suppress(Exception):
            self.sample()
