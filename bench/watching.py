"""What the benchmarks watch while a run goes: the lake's span count, the CPU and peak
memory of the processes they started, and the machine's load."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Any

from bench.procfs import CLOCK_TICKS, machine_jiffies, status_kib, tree_cpu_s


class LakeCounter:
    """A read-only lake connection kept open (a count(*) costs ~10 ms)."""

    def __init__(self, lake: Path) -> None:
        self.lake = lake
        self.con: Any = None
        self.lock = threading.Lock()

    def count(self, distinct: bool = False) -> int | None:
        from parallax.config import StoreSettings
        from store.lake import connect

        sql = (
            "SELECT count(*) FROM (SELECT DISTINCT trace_id, span_id FROM spans)"
            if distinct
            else "SELECT count(*) FROM spans"
        )
        with self.lock:
            try:
                if self.con is None:
                    self.con = connect(StoreSettings(path=str(self.lake)), read_only=True)
                return int(self.con.execute(sql).fetchone()[0])
            except Exception:
                self.close_unlocked()
                return None

    def close_unlocked(self) -> None:
        if self.con is not None:
            with contextlib.suppress(Exception):
                self.con.close()
            self.con = None

    def close(self) -> None:
        with self.lock:
            self.close_unlocked()


class Watch(threading.Thread):
    """Once a second: the lake's span count, CPU and peak RSS of the watched processes."""

    def __init__(self, counter: LakeCounter, t0: float) -> None:
        super().__init__(name="watch", daemon=True)
        self.counter = counter
        self.t0 = t0
        self.pids: dict[str, int] = {}
        self.peak_kib: dict[str, int] = {}
        self.samples: list[dict[str, Any]] = []
        self.stop_event = threading.Event()

    def watch(self, role: str, pid: int) -> None:
        self.pids[role] = pid

    def run(self) -> None:
        while not self.stop_event.wait(1.0):
            self.sample()

    def sample(self) -> None:
        row: dict[str, Any] = {"t": round(time.monotonic() - self.t0, 2)}
        for role, pid in list(self.pids.items()):
            hwm = status_kib(pid, "VmHWM")
            self.peak_kib[role] = max(self.peak_kib.get(role, 0), hwm)
        row["lake"] = self.counter.count()
        self.samples.append(row)

    def stop(self) -> None:
        self.stop_event.set()
        if self.ident is not None:
            self.join(10)

    def lake_at(self, t: float) -> tuple[float, int] | None:
        """The sample nearest to ``t`` seconds with a lake count."""
        rows = [s for s in self.samples if s["lake"] is not None]
        if not rows:
            return None
        best = min(rows, key=lambda s: abs(s["t"] - t))
        return best["t"], best["lake"]


class MachineMeter:
    """Busy cores of the whole machine vs of the processes we started, over a phase."""

    def __init__(self) -> None:
        self.busy0, self.total0 = machine_jiffies()
        self.ours0 = self.cpu_of_ours()
        self.wall0 = time.monotonic()
        self.load_before = round(os.getloadavg()[0], 2)

    @staticmethod
    def cpu_of_ours() -> float:
        return tree_cpu_s(os.getpid())  # this process and every child (reaped ones included)

    def result(self) -> dict[str, Any]:
        busy, total = machine_jiffies()
        wall = time.monotonic() - self.wall0
        ncpu = os.cpu_count() or 1
        busy_s = (busy - self.busy0) / CLOCK_TICKS
        ours = self.cpu_of_ours() - self.ours0
        return {
            "load_1min_before": self.load_before,
            "load_1min_after": round(os.getloadavg()[0], 2),
            "machine_busy_pct": round(100 * (busy - self.busy0) / max(1, total - self.total0), 1),
            "benchmark_cores_avg": round(ours / wall, 2),
            "other_processes_cores_avg": round(max(0.0, busy_s - ours) / wall, 2),
            "cores": ncpu,
        }


def wait_for_load(max_load: float, max_wait_s: float) -> dict[str, Any]:
    """Wait (bounded) for the 1-minute load average to drop below ``max_load``."""
    began = time.monotonic()
    first = os.getloadavg()[0]
    announced = False
    while True:
        load = os.getloadavg()[0]
        waited = time.monotonic() - began
        if load < max_load or waited >= max_wait_s:
            return {
                "load_1min_at_first_check": round(first, 2),
                "load_1min_at_start": round(load, 2),
                "load_avg_1_5_15_at_start": [round(x, 2) for x in os.getloadavg()],
                "waited_s": round(waited, 1),
                "threshold": max_load,
                "below_threshold": load < max_load,
            }
        if not announced:
            print(
                f"  load average {load:.2f} >= {max_load}: waiting up to {max_wait_s:g} s...",
                flush=True,
            )
            announced = True
        time.sleep(min(5.0, max(0.1, max_wait_s - waited)))


def wait_lake(
    counter: LakeCounter, target: int, timeout: float, settle_s: float
) -> tuple[int, float]:
    """Poll until the lake holds ``target`` spans, or it stops growing for ``settle_s``,
    or ``timeout``; (count, seconds waited)."""
    began = time.monotonic()
    last, last_change = -1, began
    while True:
        count = counter.count()
        now = time.monotonic()
        if count is not None and count != last:
            last, last_change = count, now
        if (count is not None and count >= target) or now - began >= timeout:
            break
        if now - last_change >= settle_s:
            break
        time.sleep(0.5)
    return max(last, 0), round(time.monotonic() - began, 2)
