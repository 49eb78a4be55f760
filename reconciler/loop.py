"""The reconciler inside ``parallax server``: an incremental run every ``interval_s``.

Runs on its own session of the server's WriterLake, so ingest keeps committing while a
run computes from its snapshot of the lake; only the commits take turns (each is a
``WriterLake.transaction``). A failed run
is logged (rate-limited) and the next one starts from the same watermark, so nothing is
skipped. The policies file is re-read when it changes; the run after a change is a full
rebuild, because every table depends on the policies. A policies file with an error at
start-up stops the server; a later edit with an error is logged and the previous
policies stay in force.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from parallax.config import ReconcilerSettings
from parallax.interpreter import quick_lock_handoff
from parallax.ratelimit import RateLimitedLog
from parallax.watched import WatchedFile
from reconciler.metrics import ReconcilerMetrics
from reconciler.policy_file import builtin_policies, load_policies
from reconciler.run import RunReport, reconcile

if TYPE_CHECKING:
    from store import WriterLake

log = logging.getLogger("parallax.reconciler")


class ReconcilerLoop:
    """Start with :meth:`start`; :meth:`stop` interrupts a run in progress (it rolls back)."""

    def __init__(
        self,
        lake: WriterLake,
        settings: ReconcilerSettings,
    ) -> None:
        self._lake = lake
        self._settings = settings
        path = settings.policies_file
        self._watched = WatchedFile(Path(path), load_policies, "policies file") if path else None
        self._policies = self._watched.value if self._watched else builtin_policies()
        self._stop = threading.Event()
        self._errors = RateLimitedLog(log, interval_s=300)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._thread = threading.Thread(target=self._loop, name="reconciler", daemon=True)
        self.last_report: RunReport | None = None
        self.metrics = ReconcilerMetrics()

    def start(self) -> None:
        self._con = self._lake.session()
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._con is not None:
            self._con.interrupt()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._con is not None:
            self._con.close()

    def _loop(self) -> None:
        full = False
        while not self._stop.wait(self._settings.interval_s):
            if self._watched is not None and self._watched.refresh():
                log.info("policies changed: the next run rebuilds every table")
                self._policies, full = self._watched.value, True
            try:
                with quick_lock_handoff():  # its queries run beside the busy ingest threads
                    self.last_report = reconcile(
                        self._lake, self._policies, self._settings, full=full, con=self._con
                    )
                full = False
            except Exception as err:  # the loop outlives a failed run; the next one redoes it
                if self._stop.is_set():
                    return
                self.metrics.failed()
                self._errors.log(logging.ERROR, "run", "reconciler run failed: %s", err)
                continue
            try:
                self.metrics.succeeded(self.last_report, self._con)
            except duckdb.Error as err:
                self._errors.log(logging.WARNING, "findings", "cannot count findings: %s", err)
