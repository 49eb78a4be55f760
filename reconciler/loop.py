"""The reconciler inside ``parallax server``: an incremental run every ``interval_s``.

Runs on its own connection to the server's DuckDB instance, so ingest keeps committing
while a run computes from its snapshot of the lake; only the commits take turns (the
lake's commit lock: two DuckLake commits at once contend for the catalog). A failed run
is logged (rate-limited) and the next one starts from the same watermark, so nothing is
skipped. The policies file is re-read when it changes; the run after a change is a full
rebuild, because every table depends on the policies. A policies file with an error at
start-up stops the server; a later edit with an error is logged and the previous
policies stay in force.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import duckdb

from parallax.config import ReconcilerSettings
from parallax.errors import ConfigError
from parallax.ratelimit import RateLimitedLog
from reconciler.policies import builtin_policies, load_policies
from reconciler.run import RunReport, reconcile

log = logging.getLogger("parallax.reconciler")


class PoliciesSource:
    """The policies in force: the configured file, re-read when its modification time changes."""

    def __init__(self, path: str) -> None:
        self._path = Path(path) if path else None
        self._mtime = self._stat()
        self.policies = load_policies(self._path) if self._path else builtin_policies()

    def refresh(self) -> bool:
        """Re-read a changed file; True when the policies changed."""
        mtime = self._stat()
        if self._path is None or mtime == self._mtime:
            return False
        self._mtime = mtime
        try:
            self.policies = load_policies(self._path)
        except ConfigError as err:
            log.error("policies file changed but cannot be used; keeping the previous: %s", err)
            return False
        log.info("policies file %s changed: the next run rebuilds every table", self._path)
        return True

    def _stat(self) -> float | None:
        try:
            return os.stat(self._path).st_mtime_ns if self._path else None
        except OSError:
            return None


class ReconcilerLoop:
    """Start with :meth:`start`; :meth:`stop` interrupts a run in progress (it rolls back)."""

    def __init__(
        self,
        connect: Callable[[], duckdb.DuckDBPyConnection],
        settings: ReconcilerSettings,
        commit_lock: threading.Lock | None = None,
    ) -> None:
        self._connect = connect
        self._commit_lock = commit_lock
        self._settings = settings
        self._source = PoliciesSource(settings.policies_file)
        self._stop = threading.Event()
        self._errors = RateLimitedLog(log, interval_s=300)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._thread = threading.Thread(target=self._loop, name="reconciler", daemon=True)
        self.last_report: RunReport | None = None

    def start(self) -> None:
        self._con = self._connect()
        self._thread.start()

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
            full = self._source.refresh() or full
            try:
                self.last_report = reconcile(
                    self._con,
                    self._source.policies,
                    self._settings,
                    full=full,
                    commit_lock=self._commit_lock,
                )
                full = False
            except Exception as err:  # the loop outlives a failed run; the next one redoes it
                if self._stop.is_set():
                    return
                self._errors.log(logging.ERROR, "run", "reconciler run failed: %s", err)
