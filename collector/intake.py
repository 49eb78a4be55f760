"""Intake: group the apps' exports into buffer records, one fsync per group.

Apps export small requests (a BatchSpanProcessor sends up to 512 spans; a
SimpleSpanProcessor, one). Each buffered record becomes one request to the backend with
its own batch sequence, so records should be batch-sized: the intake gathers exports
for up to ``batch_linger_ms``, ``batch_max_spans`` or ``batch_max_bytes`` and appends them
as one record. Serialized OTLP requests concatenate into one valid request (protobuf
merges repeated fields), so grouping costs no parsing. Every app's export is
acknowledged only after the record holding it is durable (the buffer's fsync policy).

Should the intake thread die all the same (a bug, not an input: the buffer's own errors
are answered per group), every export it holds or has queued is answered with the cause
at once and later ones are refused, so no app waits for its deadline; the collector's
liveness then names the death and ``parallax collector`` exits 1 (parallax.supervision).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from collector.buffer import SegmentLog

log = logging.getLogger("parallax.collector")


@dataclass
class _Export:
    payload: bytes
    span_count: int
    future: Future = field(default_factory=Future)


_STOP = object()


class IntakeStopped(RuntimeError):
    """The intake thread is gone: the export was not buffered (the app may retry)."""


class Intake:
    """Accepts serialized exports and resolves each one's future once it is durable."""

    def __init__(self, buffer: SegmentLog, max_spans: int, max_bytes: int, linger_ms: int) -> None:
        self._buffer = buffer
        self._max_spans = max_spans
        self._max_bytes = max_bytes
        self._linger_s = linger_ms / 1000
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="collector-intake", daemon=True)
        self.append_failure: str | None = None  # why the last append failed; None after a success
        self.death: str | None = None  # why the thread ended other than by close()
        self._holding: list[_Export] = []  # taken from the queue, not yet answered
        self._submitting = threading.Lock()  # a submit never lands behind the last drain

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, payload: bytes, span_count: int) -> Future:
        """Queue one export; the future yields its buffer sequence once durable."""
        export = _Export(payload, span_count)
        with self._submitting:
            if self.death is None:
                self._queue.put(export)
                return export.future
        export.future.set_exception(IntakeStopped(self.death))
        return export.future

    def close(self, timeout: float = 30.0) -> None:
        """Buffer everything already submitted, then stop."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while True:
                group, stop = self._next_group()
                if group:
                    self._append(group)
                if stop:
                    return
        except BaseException as err:  # the thread ends here; its traceback goes to the log
            self._die(err)

    def _die(self, err: BaseException) -> None:
        with self._submitting:
            self.death = f"the intake thread died: {err!r}"
            log.critical("%s", self.death, exc_info=err)
            waiting = [*self._holding]
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, _Export):
                    waiting.append(item)
        for export in waiting:
            if not export.future.done():
                export.future.set_exception(IntakeStopped(self.death))

    def _next_group(self) -> tuple[list[_Export], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        self._holding.append(first)
        group, spans, size = [first], first.span_count, len(first.payload)
        deadline = time.monotonic() + self._linger_s
        while spans < self._max_spans and size < self._max_bytes:
            remaining = deadline - time.monotonic()
            try:
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else (self._queue.get_nowait())
                )
            except queue.Empty:
                break
            if item is _STOP:
                return group, True
            self._holding.append(item)
            if (
                spans + item.span_count > self._max_spans
                or size + len(item.payload) > self._max_bytes
            ):
                self._append(group)  # item starts the next group
                group, spans, size = [], 0, 0
                deadline = time.monotonic() + self._linger_s
            group.append(item)
            spans += item.span_count
            size += len(item.payload)
        return group, False

    def _append(self, group: list[_Export]) -> None:
        payload = b"".join(export.payload for export in group)
        try:
            seq = self._buffer.append(payload, sum(export.span_count for export in group))
        except Exception as err:  # disk full, I/O error: the apps retry
            self.append_failure = f"the buffer refused a batch: {err}"
            log.error("could not buffer %d exports: %s", len(group), err)
            self._answer(group, error=err)
            return
        self.append_failure = None
        self._answer(group, seq=seq)

    def _answer(self, group: list[_Export], seq: int = 0, error: Exception | None = None) -> None:
        answered = {id(export) for export in group}
        self._holding = [export for export in self._holding if id(export) not in answered]
        for export in group:
            if error is None:
                export.future.set_result(seq)
            else:
                export.future.set_exception(error)
