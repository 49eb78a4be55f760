"""From accepted requests to acknowledged commits: admission, grouping, conversion, writing.

    handler -submit-> [requests] -converter thread-> [groups] -writer thread-> lake
       ^                                                                      |
       +-------------------- future resolved after COMMIT --------------------+

Admission control bounds memory: a request is refused (QueueFull, which the service
turns into RESOURCE_EXHAUSTED with RetryInfo) when the spans accepted but not yet
answered would exceed ``queue_max_spans``. The converter forms commit groups as
store.ingest.grouping says (the classic group commit) and converts them; the writer
commits each group in one transaction (store.ingest.committing isolates a request the
lake refuses). Conversion (Python, holding the GIL) and the commit (DuckDB, releasing
it) overlap on two cores.

Isolation: conversion decides every input per span; an exception conversion did not
expect is contained to the request that caused it (answered INVALID_ARGUMENT). The two
threads are supervised: if one dies, or is busy with one piece of work for longer
than ``stall_timeout_s``, ``problem()`` says so, every waiting request is answered
UNAVAILABLE at once, and no new request is accepted; the server then exits non-zero
(launch.server) for its supervisor to restart it, rather than accept and time out.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TypeVar

import duckdb

from parallax.config import ServerSettings
from parallax.ratelimit import RateLimitedLog
from store.ingest import convert, grouping
from store.ingest.chores import Chore, Chores
from store.ingest.committing import GroupCommitter
from store.ingest.convert import Converted, Incoming, InvalidRequest
from store.ingest.grouping import GroupInHand
from store.ingest.metrics import CommitHistograms
from store.ingest.requests import InFlight, PendingRequest
from store.ingest.stats import IngestStats, stats_row, summary_line
from store.ingest.writer import LakeWriter, Written

log = logging.getLogger("parallax.ingest")

WRITE_RETRY_PAUSE_S = 0.5
# Spans converted together at most: the NumPy span walk has no knee up to a whole
# default group (bench/ingest.py: 97k against 101k spans/s with 4096 and 20480).
MAX_CONVERT_SPANS = 20480


class QueueFull(Exception):
    """Too many spans wait for their commit; the client should retry after a pause."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"ingest queue is full; retry in {retry_after_s:.1f}s")
        self.retry_after_s = retry_after_s


class ShuttingDown(Exception):
    """The server is stopping (or its pipeline failed) and accepts no new requests."""


_STOP = object()
_WRITER_IDLE = object()  # the writer tells the converter it waits for work
T = TypeVar("T")


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
        chores: list[Chore] | None = None,
    ) -> None:
        self.settings = settings
        self.stats = IngestStats()
        self.commit_histograms = CommitHistograms()
        self.lake_failure: str | None = None  # why the last commit failed; None after a success
        self._writer = writer
        self._server_id = server_id
        self._chores = Chores(chores or [])
        self._limits = convert.span_limits(settings)
        self._in_flight = InFlight()
        self._committer = GroupCommitter(writer, self.stats, self._in_flight.answer)
        self._requests: queue.Queue = queue.Queue()
        # Unbounded: memory is bounded by admission control (queue_max_spans), and
        # run_in_writer may be called from the event loop, which must never block.
        self._groups: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._closing = False
        self._failure: str | None = None
        self._stopped = threading.Event()
        self._writer_idle = threading.Event()  # set while the writer waits for a group
        self._busy_since: dict[str, float] = {}  # stage -> when its current work began
        self._errors = RateLimitedLog(log)
        self._threads = [
            threading.Thread(target=self._supervised(loop), name=name, daemon=True)
            for name, loop in (
                ("ingest-convert", self._convert_loop),
                ("ingest-write", self._write_loop),
            )
        ]

    @property
    def queued_spans(self) -> int:
        return self._in_flight.spans

    @property
    def queued_requests(self) -> int:
        return len(self._in_flight)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, incoming: Incoming, span_count: int) -> Future:
        """Queue a request; the future yields its Written result once committed."""
        pending = PendingRequest(incoming, span_count)
        with self._lock:
            if self._closing:
                raise ShuttingDown(self._failure or "the server is shutting down")
            if not self._in_flight.admit(pending, self.settings.queue_max_spans):
                self.stats.add(requests_refused=1)
                raise QueueFull(self._retry_after())
        self._requests.put(pending)
        return pending.future

    def run_in_writer(self, job: Callable[[duckdb.DuckDBPyConnection], T]) -> Future:
        """Run ``job(connection)`` on the writer thread, between group commits, as one
        ``WriterLake.transaction`` (committed when it returns, rolled back when it raises).

        How a server component on the event loop (the Fleet service) writes: the writer
        connection stays on one thread and the caller never blocks. The future yields
        the job's result or raises its exception.
        """
        with self._lock:
            if self._closing:
                raise ShuttingDown(self._failure or "the server is shutting down")
        job_future: Future = Future()
        self._groups.put(_Job(job, job_future))
        return job_future

    def problem(self) -> str | None:
        """Why the pipeline cannot serve (a stage died or is stuck); None while healthy."""
        if self._failure:
            return self._failure
        now = time.monotonic()
        for stage, since in list(self._busy_since.items()):
            if now - since > self.settings.stall_timeout_s:
                return f"{stage} has been busy with one piece of work for {now - since:.0f}s"
        return None

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
        return min(5.0, max(0.1, self._in_flight.spans / rate))

    # -- supervision ----------------------------------------------------------------

    def _supervised(self, loop: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            name = threading.current_thread().name
            try:
                loop()
            except BaseException as err:
                log.critical("ingest stage %s died", name, exc_info=True)
                self._fail(f"ingest stage {name} died: {err!r}")

        return run

    def _fail(self, reason: str) -> None:
        """Refuse everything from now on and answer every waiting request at once."""
        with self._lock:
            self._failure = self._failure or reason
            self._closing = True
        self._in_flight.answer_all(ShuttingDown(f"ingest failed: {reason}"))
        with contextlib.suppress(Exception):
            self._refuse_leftover_jobs()

    @contextlib.contextmanager
    def _busy(self, stage: str):
        self._busy_since[stage] = time.monotonic()
        try:
            yield
        finally:
            self._busy_since.pop(stage, None)

    # -- converter thread -------------------------------------------------------------

    def _convert_loop(self) -> None:
        hand = GroupInHand()
        while True:
            now = time.monotonic()
            idle = self._writer_idle.is_set()
            timeout = grouping.next_wake(hand, idle, now, self.settings)
            try:
                item = self._requests.get(timeout=timeout)
            except queue.Empty:
                item = None
            stop = self._gather(hand, item)
            with self._busy("ingest-convert"):
                now, idle = time.monotonic(), self._writer_idle.is_set()
                if stop or grouping.should_hand_over(hand, idle, now, self.settings):
                    self._hand_over(hand)
                    hand = GroupInHand()
                elif grouping.should_convert_now(hand):
                    waiting = hand.take_waiting()
                    hand.converted.append((waiting, self._convert(waiting)))
            if stop:
                self._groups.put(_STOP)
                return

    def _gather(self, hand: GroupInHand, item: object) -> bool:
        """Add the item and everything else already queued to the hand; True at _STOP."""
        while True:
            if item is _STOP:
                return True
            if isinstance(item, PendingRequest):
                hand.add(item, time.monotonic())
            try:
                item = self._requests.get_nowait()
            except queue.Empty:
                return False

    def _hand_over(self, hand: GroupInHand) -> None:
        parts = [*hand.converted]
        if hand.waiting:
            waiting = hand.take_waiting()
            parts.append((waiting, self._convert(waiting)))
        group = [pending for requests, _ in parts for pending in requests]
        converted = [part for _, part in parts if part is not None]
        if group:
            self._groups.put((group, convert.concat(converted)))

    def _convert(self, requests: list[PendingRequest]) -> Converted | None:
        """The requests converted together; a request whose conversion raises is answered
        INVALID_ARGUMENT and removed from ``requests``."""
        try:
            return self._convert_in_chunks(requests)
        except Exception as err:
            self._errors.log(logging.ERROR, "convert", "conversion failed: %r", err)
        survivors = []
        for pending in requests:
            try:
                self._convert_in_chunks([pending])
                survivors.append(pending)
            except Exception as err:
                self.stats.add(requests_invalid=1)
                reason = f"the server could not convert this request: {err!r}"
                self._in_flight.answer(pending, error=InvalidRequest(reason))
        requests[:] = survivors
        return self._convert_in_chunks(survivors) if survivors else None

    def _convert_in_chunks(self, requests: list[PendingRequest]) -> Converted:
        chunks: list[list[Incoming]] = [[]]
        spans = 0
        for pending in requests:
            if chunks[-1] and spans + pending.span_count > MAX_CONVERT_SPANS:
                chunks.append([])
                spans = 0
            chunks[-1].append(pending.incoming)
            spans += pending.span_count
        return convert.concat([convert.convert(chunk, self._limits) for chunk in chunks])

    # -- writer thread ----------------------------------------------------------------

    def _write_loop(self) -> None:
        next_stats = time.monotonic() + self.settings.stats_interval_s
        while True:
            timeout = max(0.0, min(next_stats, self._chores.next_due()) - time.monotonic())
            if self._groups.empty() and not self._writer_idle.is_set():
                self._writer_idle.set()
                self._requests.put(_WRITER_IDLE)  # wakes a converter holding a group
            try:
                item = self._groups.get(timeout=timeout)
            except queue.Empty:
                item = None
            self._writer_idle.clear()
            if item is _STOP:
                self._write_stats()
                return
            with self._busy("ingest-write"):
                if isinstance(item, _Job):
                    self._run_job(item)
                elif item is not None:
                    self._write_group(*item)
                now = time.monotonic()
                if now >= next_stats:
                    self._write_stats()
                    next_stats = now + self.settings.stats_interval_s
                self._chores.run_due()

    def _write_group(self, group: list[PendingRequest], converted: Converted) -> None:
        started = time.monotonic()
        try:
            results = self._committer.commit(group, converted)
        except duckdb.FatalException:
            raise  # the database is invalidated: no later commit can succeed
        except Exception as err:  # the lake refused the commit: clients retry
            self.lake_failure = f"the lake refused a commit: {err}"
            self._errors.log(
                logging.ERROR, "commit", "commit of %d requests failed: %s", len(group), err
            )
            self._stopped.wait(WRITE_RETRY_PAUSE_S)
            return
        seconds = time.monotonic() - started
        self.lake_failure = None
        self.stats.add(commits=1, commit_seconds=seconds)
        for pending, result in results:
            self._count(pending, result)
        # after the counts: a group seen in the histograms is counted in the totals
        self.commit_histograms.observe(seconds, sum(p.span_count for p in group), len(group))

    def _run_job(self, job: _Job) -> None:
        try:
            with self._writer.lake.transaction() as con:
                result = job.run(con)
        except Exception as err:
            job.future.set_exception(err)
            return
        job.future.set_result(result)

    def _count(self, pending: PendingRequest, result: Written) -> None:
        if result.duplicate:
            self.stats.add(duplicate_batches=1)
            return
        outcome = result.outcome
        self.stats.add(
            spans_accepted=outcome.accepted,
            spans_rejected=outcome.rejected,
            batches=1 if pending.batch_id else 0,
            repeated_keys=outcome.repeated_keys,
            attributes_dropped=outcome.attributes_dropped,
            values_truncated=outcome.values_truncated,
        )

    def _write_stats(self) -> None:
        counters, seconds = self.stats.roll()
        queued = self._in_flight.spans
        log.info(summary_line(counters, seconds, queued))
        try:
            self._writer.write_stats(stats_row(self._server_id, counters, seconds, queued))
        except Exception as err:
            log.warning("could not record ingest stats: %s", err)
