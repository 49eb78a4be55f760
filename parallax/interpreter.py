"""Handing the interpreter lock on quickly while DuckDB work runs beside busy threads.

DuckDB's Python client takes the interpreter lock between execution tasks (to check for
Ctrl-C). At Python's default switch interval (5 ms) each of those waits for whichever
thread holds the lock: beside a thread busy in Python, a query that takes 0.27 s alone
took 10.2 s, and a full reconcile of 200k spans 9.0 s instead of 3.2 s (3.8 s at 0.5 ms).
A short interval costs the threads busy in Python (two of them competing: ~1% at 0.5 ms,
8% at 0.2 ms; ingest at 64 requests in flight: ~8% more CPU per span), so the interval
is short only while such work runs: ``with quick_lock_handoff(): ...``.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator

QUICK_SWITCH_INTERVAL_S = 0.0005


class _Handoff:
    """The process's switch interval, short while any thread is inside the context."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self._usual = sys.getswitchinterval()

    @contextlib.contextmanager
    def quick(self) -> Iterator[None]:
        with self._lock:
            if self._inside == 0:
                self._usual = sys.getswitchinterval()
                sys.setswitchinterval(QUICK_SWITCH_INTERVAL_S)
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if self._inside == 0:
                    sys.setswitchinterval(self._usual)


_HANDOFF = _Handoff()
quick_lock_handoff = _HANDOFF.quick
