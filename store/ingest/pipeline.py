"""From accepted requests to acknowledged commits: admission, batching, conversion, writing.

    handler -submit-> [requests] -converter thread-> [groups] -writer thread-> lake
       ^                                                                      |
       +-------------------- future resolved after COMMIT --------------------+

Admission control bounds memory: a request is refused (QueueFull, which the service
turns into RESOURCE_EXHAUSTED with RetryInfo) when the spans accepted but not yet
committed would exceed ``queue_max_spans``. The converter takes requests until
``flush_rows`` spans or ``flush_interval_ms`` have gathered, or a quarter of
``flush_rows`` while the writer is idle, and converts them together; the writer commits
each group in one transaction. Conversion (Python, holding the GIL)
and the commit (DuckDB, releasing it) overlap on two cores.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TypeVar

import duckdb

from parallax.config import ServerSettings
from store.ingest import convert
from store.ingest.convert import Converted, Incoming, InvalidRequest
from store.ingest.ledger import BatchId
from store.ingest.stats import IngestStats, stats_row, summary_line
from store.ingest.writer import LakeWriter, Written

log = logging.getLogger("parallax.ingest")

WRITE_RETRY_PAUSE_S = 0.5


class QueueFull(Exception):
    """Too many spans wait for their commit; the client should retry after a pause."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"ingest queue is full; retry in {retry_after_s:.1f}s")
        self.retry_after_s = retry_after_s


class ShuttingDown(Exception):
    """The server is stopping and accepts no new requests."""


@dataclass
class _Pending:
    incoming: Incoming
    span_count: int
    future: Future = field(default_factory=Future)

    @property
    def batch_id(self) -> BatchId | None:
        incoming = self.incoming
        if incoming.node_id is None or incoming.batch_seq is None:
            return None
        return BatchId(incoming.node_id, incoming.buffer_id or "", incoming.batch_seq)


_STOP = object()
T = TypeVar("T")
# A group of at least flush_rows / 4 spans is committed as soon as the writer is idle
# rather than at flush_interval_ms: clients waiting for their acknowledgement send
# nothing more, so waiting only adds latency. The quarter keeps commits (one Parquet
# file each) few under light load, where groups still wait for the interval.
EARLY_FLUSH_FRACTION = 4
IDLE_POLL_S = 0.005
# Spans converted together at most. With one Python object per span, chunks of ~4k
# spans were faster than 20k (the working set stayed small); the NumPy walk over raw
# spans (store.ingest.spans) has no such knee (bench/ingest.py: 97k against 101k spans/s
# with 4096 and 20480, the latter ~80 MiB more RSS), so a default group converts at once.
CONVERT_CHUNK_SPANS = 20480


def _convert_in_chunks(incoming: list[Incoming], span_counts: list[int]) -> Converted:
    chunks, chunk, spans = [], [], 0
    for item, count in zip(incoming, span_counts, strict=True):
        if chunk and spans + count > CONVERT_CHUNK_SPANS:
            chunks.append(chunk)
            chunk, spans = [], 0
        chunk.append(item)
        spans += count
    chunks.append(chunk)
    return convert.concat([convert.convert(part) for part in chunks])


@dataclass
class _Job:
    run: Callable[[duckdb.DuckDBPyConnection], object]
    future: Future


class IngestPipeline:
    """Takes parsed requests, converts and commits them in groups, and resolves each
    request's future once its commit has returned."""

    def __init__(
        self,
        writer: LakeWriter,
        settings: ServerSettings,
        server_id: str,
        maintenance: Callable[[], object] | None = None,
        commit_lock: threading.Lock | None = None,
    ) -> None:
        self.settings = settings
        # Taken around every lake write of the writer thread, shared with the other
        # connections of the process that commit (the reconciler's): one commit at a time.
        self._commit_lock = commit_lock or threading.Lock()
        self.stats = IngestStats()
        self._writer = writer
        self._server_id = server_id
        self._maintenance = maintenance
        self._requests: queue.Queue = queue.Queue()
        # Unbounded: memory is bounded by admission control (queue_max_spans), and
        # run_in_writer may be called from the event loop, which must never block.
        self._groups: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._queued_spans = 0
        self._closing = False
        self._stopped = threading.Event()
        self._writer_idle = threading.Event()  # set while the writer waits for a group
        self._threads = [
            threading.Thread(target=self._convert_loop, name="ingest-convert", daemon=True),
            threading.Thread(target=self._write_loop, name="ingest-write", daemon=True),
        ]

    @property
    def queued_spans(self) -> int:
        return self._queued_spans

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, incoming: Incoming, span_count: int) -> Future:
        """Queue a request; the future yields its Written result once committed."""
        with self._lock:
            if self._closing:
                raise ShuttingDown("the server is shutting down")
            limit = self.settings.queue_max_spans
            if self._queued_spans and self._queued_spans + span_count > limit:
                self.stats.add(requests_refused=1)
                raise QueueFull(self._retry_after())
            self._queued_spans += span_count
        pending = _Pending(incoming, span_count)
        self._requests.put(pending)
        return pending.future

    def run_in_writer(self, job: Callable[[duckdb.DuckDBPyConnection], T]) -> Future:
        """Run ``job(connection)`` on the writer thread, between group commits.

        The only way for other server components (e.g. the Fleet service) to write the
        lake: it keeps the single-writer connection on one thread. The job runs inside a
        transaction that is committed when it returns and rolled back when it raises.
        Never blocks. The future yields the job's result or raises its exception.
        """
        with self._lock:
            if self._closing:
                raise ShuttingDown("the server is shutting down")
        job_future: Future = Future()
        self._groups.put(_Job(job, job_future))
        return job_future

    def close(self, timeout: float) -> bool:
        """Stop accepting, commit everything already accepted, stop the threads."""
        with self._lock:
            self._closing = True
        self._requests.put(_STOP)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._stopped.set()
        drained = not any(thread.is_alive() for thread in self._threads)
        if drained:
            self._refuse_leftover_jobs()
        return drained

    def _refuse_leftover_jobs(self) -> None:
        """Jobs queued behind the writer's last group will not run: say so to their callers."""
        while True:
            try:
                item = self._groups.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Job):
                item.future.set_exception(ShuttingDown("the server is shutting down"))

    def _retry_after(self) -> float:
        """About how long the queue takes to drain at the commit rate seen so far."""
        totals = self.stats.totals
        rate = totals.spans_accepted / totals.commit_seconds if totals.commit_seconds else 0.0
        if rate <= 0:
            return 1.0
        return min(5.0, max(0.1, self._queued_spans / rate))

    # -- converter thread ---------------------------------------------------------

    def _convert_loop(self) -> None:
        while True:
            group, stop = self._next_group()
            if group:
                self._groups.put((group, self._convert(group)))
            if stop:
                self._groups.put(_STOP)
                return

    def _next_group(self) -> tuple[list[_Pending], bool]:
        first = self._requests.get()
        if first is _STOP:
            return [], True
        group, rows = [first], first.span_count
        deadline = time.monotonic() + self.settings.flush_interval_ms / 1000
        early = self.settings.flush_rows // EARLY_FLUSH_FRACTION
        while rows < self.settings.flush_rows:
            try:
                item = self._requests.get_nowait()
            except queue.Empty:
                if rows >= early and self._writer_idle.is_set():
                    break  # nothing more is queued and the writer waits: commit now
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._requests.get(timeout=min(remaining, IDLE_POLL_S))
                except queue.Empty:
                    continue
            if item is _STOP:
                return group, True
            group.append(item)
            rows += item.span_count
        return group, False

    def _convert(self, group: list[_Pending]) -> Converted | None:
        try:
            return _convert_in_chunks([p.incoming for p in group], [p.span_count for p in group])
        except InvalidRequest:
            pass
        # One request in the group is malformed: convert one by one to find it.
        for pending in group:
            try:
                convert.convert([pending.incoming])
            except InvalidRequest as err:
                self._finish(pending, error=err)
        survivors = [p for p in group if not p.future.done()]
        group[:] = survivors
        if not survivors:
            return None
        return _convert_in_chunks(
            [p.incoming for p in survivors], [p.span_count for p in survivors]
        )

    # -- writer thread ------------------------------------------------------------

    def _write_loop(self) -> None:
        next_stats = time.monotonic() + self.settings.stats_interval_s
        next_maintenance = time.monotonic() + self.settings.maintenance_interval_s
        while True:
            timeout = max(0.0, min(next_stats, next_maintenance) - time.monotonic())
            if self._groups.empty():
                self._writer_idle.set()
            try:
                item = self._groups.get(timeout=timeout)
            except queue.Empty:
                item = None
            self._writer_idle.clear()
            if item is _STOP:
                self._write_stats()
                return
            if isinstance(item, _Job):
                self._run_job(item)
            elif item is not None:
                self._write_group(*item)
            now = time.monotonic()
            if now >= next_stats:
                self._write_stats()
                next_stats = now + self.settings.stats_interval_s
            if now >= next_maintenance:
                self._run_maintenance()
                next_maintenance = time.monotonic() + self.settings.maintenance_interval_s

    def _write_group(self, group: list[_Pending], converted: Converted | None) -> None:
        if converted is None or not group:
            return
        started = time.monotonic()
        try:
            with self._commit_lock:
                results = self._writer.write(converted, [p.batch_id for p in group])
        except Exception as err:  # the lake refused the commit: clients retry
            log.error("commit of %d requests failed: %s", len(group), err)
            for pending in group:
                self._finish(pending, error=err)
            self._stopped.wait(WRITE_RETRY_PAUSE_S)
            return
        self.stats.add(commits=1, commit_seconds=time.monotonic() - started)
        for pending, result in zip(group, results, strict=True):
            self._count(pending, result)
            self._finish(pending, result=result)

    def _run_job(self, job: _Job) -> None:
        con = self._writer.con
        with self._commit_lock:
            try:
                con.execute("BEGIN")
                result = job.run(con)
                con.execute("COMMIT")
            except Exception as err:
                with contextlib.suppress(duckdb.Error):  # a failed COMMIT has ended it already
                    con.execute("ROLLBACK")
                job.future.set_exception(err)
                return
        job.future.set_result(result)

    def _count(self, pending: _Pending, result: Written) -> None:
        if result.duplicate:
            self.stats.add(duplicate_batches=1)
            return
        self.stats.add(
            spans_accepted=result.outcome.accepted,
            spans_rejected=result.outcome.rejected,
            batches=1 if pending.batch_id else 0,
        )

    def _finish(
        self, pending: _Pending, result: Written | None = None, error: Exception | None = None
    ) -> None:
        with self._lock:
            self._queued_spans -= pending.span_count
        if pending.future.done():  # cancelled by a caller that gave up
            return
        if error is not None:
            pending.future.set_exception(error)
        else:
            pending.future.set_result(result)

    def _write_stats(self) -> None:
        counters, seconds = self.stats.roll()
        queued = self._queued_spans
        log.info(summary_line(counters, seconds, queued))
        try:
            with self._commit_lock:
                self._writer.write_stats(stats_row(self._server_id, counters, seconds, queued))
        except Exception as err:
            log.warning("could not record ingest stats: %s", err)

    def _run_maintenance(self) -> None:
        if self._maintenance is None:
            return
        try:
            with self._commit_lock:
                self._maintenance()
        except Exception as err:
            log.warning("lake maintenance failed (will retry next interval): %s", err)
