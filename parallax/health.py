"""What a process says about its own health: alive, ready, draining, and why not.

Alive: the threads the process needs are running (a process that is not alive should be
restarted). Ready: alive, not draining, and able to do its work now (the server's lake
takes commits, the collector's buffer takes batches); a process that is not ready should
get no new work. Each process supplies its checks as functions returning the problems
they see (empty: none). ``Health`` evaluates them on a monitor thread every
``interval_s``, so the answers it gives (gRPC health, /healthz, /readyz) cost nothing
and never wait on the process's locks; ``drain()`` takes effect at once and for good.
Listeners hear every change of readiness.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("parallax.health")

Check = Callable[[], list[str]]
DRAINING = "draining: the process is shutting down"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one evaluation; the reasons are empty when all is well."""

    not_alive: tuple[str, ...] = ()
    not_ready: tuple[str, ...] = ()

    @property
    def alive(self) -> bool:
        return not self.not_alive

    @property
    def ready(self) -> bool:
        return not self.not_ready


class Health:
    """The latest verdict on a process, re-evaluated every ``interval_s`` once started
    (until then: alive and ready, as nothing says otherwise)."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self._liveness: Check = list
        self._readiness: Check = list
        self._interval_s = interval_s
        self._draining = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[bool], None]] = []
        self._thread = threading.Thread(target=self._watch, name="health", daemon=True)
        self.verdict = Verdict()

    @property
    def draining(self) -> bool:
        return self._draining.is_set()

    def listen(self, on_ready_change: Callable[[bool], None]) -> None:
        """Call ``on_ready_change(ready)`` with the current readiness and on every change."""
        with self._lock:
            self._listeners.append(on_ready_change)
            ready = self.verdict.ready
        on_ready_change(ready)

    def start(self, liveness: Check, readiness: Check) -> None:
        """Judge by these checks from now on."""
        self._liveness, self._readiness = liveness, readiness
        self.evaluate()
        self._thread.start()

    def drain(self) -> None:
        """Not ready from now on: the process is shutting down."""
        self._draining.set()
        self.evaluate()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def evaluate(self) -> Verdict:
        """Run the checks now; tell the listeners when readiness changed."""
        not_alive = tuple(self._run(self._liveness))
        not_ready = (DRAINING,) if self.draining else ()
        not_ready += not_alive + tuple(self._run(self._readiness))
        verdict = Verdict(not_alive, not_ready)
        with self._lock:
            changed = verdict.ready != self.verdict.ready
            self.verdict = verdict
            listeners = list(self._listeners)
        if changed:
            if verdict.ready:
                log.info("ready")
            else:
                log.warning("not ready: %s", "; ".join(verdict.not_ready))
            for listener in listeners:
                try:
                    listener(verdict.ready)
                except Exception:  # one listener failing must not keep the news from others
                    log.exception("a health listener failed")
        return verdict

    def _run(self, check: Check) -> list[str]:
        try:
            return check()
        except Exception as err:  # a check that fails says so instead of stopping the monitor
            return [f"health check failed: {err!r}"]

    def _watch(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.evaluate()
