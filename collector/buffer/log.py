"""SegmentLog: the collector's durable buffer. The contract is in :mod:`collector.buffer`.

Locks, always taken in this order: ``_write_lock`` (one append, flush, roll or close at
a time), the ledger file's write lock (ledger files are written in the order their
contents were taken), ``_lock`` (the in-memory state; held briefly, never across I/O).
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

from collector.buffer.compression import DICTIONARY_DIRECTORY, Decompressor, DictionaryStore
from collector.buffer.errors import (
    BufferClosedError,
    BufferUnusableError,
    BufferWriteError,
    UnknownSequenceError,
)
from collector.buffer.files import (
    PROBE_PREFIX,
    DirectoryLock,
    prepare_directory,
    remove_temporary_files,
)
from collector.buffer.ledger import LEDGER_FILE, LedgerFile, load_ledger
from collector.buffer.reader import PendingReader
from collector.buffer.recovery import recover_segments, resolve_missing_sequences
from collector.buffer.segment import Segment
from collector.buffer.settings import BufferSettings
from collector.buffer.state import BufferState, RecordLocation
from collector.buffer.stats import BufferedBatch, BufferReport
from collector.buffer.writer import RESERVATION_BLOCK, SegmentWriter
from parallax.ratelimit import RateLimitedLog

QUARANTINE_DIRECTORY = "quarantine"

logger = logging.getLogger(__name__)


class SegmentLog:
    """A durable, bounded, compressed FIFO of batches for one writer and one reader/acker.

    The writer (``append``) and the reader (``pending``, ``ack``) may be different threads.
    """

    def __init__(self, settings: BufferSettings) -> None:
        """Open, creating if needed, and recover the buffer in ``settings.directory``.

        Raises :class:`BufferUnusableError` only when the directory itself is unusable
        (or :class:`BufferLockedError` when another process has it open).
        """
        self.settings = settings
        self.directory: Path = settings.directory
        self._write_lock = threading.Lock()
        self._lock = threading.Lock()
        self._data_ready = threading.Condition(self._lock)
        self._closed = False
        self._error_log = RateLimitedLog(logger)
        prepare_directory(self.directory)
        self._directory_lock = DirectoryLock(self.directory)
        self._directory_lock.acquire()
        try:
            self._recover()
        except OSError as err:
            self._directory_lock.release()
            raise BufferUnusableError(f"buffer directory {self.directory}: {err}") from err
        self._writer = SegmentWriter(
            settings,
            self._state,
            self._lock,
            self._data_ready,
            self._ledger_file,
            self._store,
            self._delete_segment_files,
        )
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        if settings.fsync_policy == "interval":
            self._flusher = threading.Thread(
                target=self._flush_periodically, name="buffer-flusher", daemon=True
            )
            self._flusher.start()

    def _recover(self) -> None:
        quarantine = self.directory / QUARANTINE_DIRECTORY
        quarantine.mkdir(exist_ok=True)
        remove_temporary_files(self.directory, LEDGER_FILE)
        remove_temporary_files(self.directory, PROBE_PREFIX + "*")
        ledger = load_ledger(self.directory, quarantine)
        self._store = DictionaryStore(self.directory / DICTIONARY_DIRECTORY)
        self._store.load(quarantine)
        recovered = recover_segments(self.directory, quarantine, ledger)
        next_seq = resolve_missing_sequences(ledger, recovered)
        ledger.reserved_through = next_seq - 1 + RESERVATION_BLOCK
        self._ledger_file = LedgerFile(self.directory, ledger, self._lock)
        self._ledger_file.save(only_if_dirty=False)
        self._state = BufferState(ledger, recovered.segments, next_seq)
        finished = [s for s in list(recovered.segments) if self._state.remove_if_resolved(s)]
        self._delete_segment_files(finished)
        self._remove_unused_dictionaries()
        logger.info(
            "buffer %s opened: %d pending batches in %d segments, next sequence %d",
            self.directory,
            self._state.pending_batches,
            len(self._state.segments),
            next_seq,
        )

    @property
    def buffer_id(self) -> str:
        """Random id of this buffer directory, fixed when it was created."""
        return self._state.ledger.buffer_id

    # --- writing -------------------------------------------------------------------------

    def append(self, payload: bytes, span_count: int = 0) -> int:
        """Store one batch of ``span_count`` spans; returns its sequence number.

        Sequences increase and are never reused, across restarts too. Under fsync
        "always" the batch is on disk when this returns. Raises
        :class:`BatchTooLargeError` (permanent) or :class:`BufferWriteError` (retryable).
        """
        if span_count < 0:
            raise ValueError("span_count must not be negative")
        with self._write_lock:
            self._check_open()
            return self._writer.append(bytes(payload), span_count)

    def flush(self) -> None:
        """Make every appended batch and every acknowledgement durable now."""
        with self._write_lock:
            self._check_open()
            self._writer.sync()
        try:
            self._ledger_file.save()
        except OSError as err:
            raise BufferWriteError(f"write {self._ledger_file.path}: {err}") from err

    def train_dictionary(self) -> int | None:
        """Train a new zstd dictionary from recent small batches; returns its id or None.

        Batches already stored keep naming the dictionary they were compressed with.
        """
        with self._write_lock:
            self._check_open()
            return self._writer.train_dictionary()

    # --- reading and acknowledging -------------------------------------------------------

    def pending(self, after: int = 0) -> Iterator[BufferedBatch]:
        """Unacknowledged batches with a sequence above ``after``, oldest first.

        Reads lazily and stops once caught up (batches appended meanwhile included).
        A batch that fails its checksum now is counted and skipped. To continue later,
        call again with the last sequence received.
        """
        self._check_open()
        reader = PendingReader(
            self._next_location, self._record_unreadable, Decompressor(self._store)
        )
        return reader.read(after)

    def wait_for_pending(self, after: int = 0, timeout: float | None = None) -> bool:
        """Block until a batch above ``after`` is readable; False on timeout or close."""
        with self._data_ready:
            ready = self._data_ready.wait_for(
                lambda: self._closed or self._state.next_visible_after(after) is not None,
                timeout,
            )
            return ready and not self._closed

    def is_pending(self, seq: int) -> bool:
        """True while batch ``seq`` is stored and unacknowledged; False once it is
        acknowledged or dropped by the size bound (a sender should then give it up)."""
        with self._lock:
            return 1 <= seq < self._state.next_seq and seq not in self._state.resolved

    def ack(self, seq: int) -> None:
        """Mark batch ``seq`` delivered; idempotent. See :meth:`ack_many`."""
        self.ack_many((seq,))

    def ack_many(self, seqs: Iterable[int]) -> None:
        """Mark batches delivered, with one ledger write for all of them; idempotent.

        Durable before returning under fsync "always", at the next flush under
        "interval". A segment is deleted once every batch in it is acknowledged.
        Raises :class:`UnknownSequenceError`, acknowledging nothing, if a sequence
        was never assigned.
        """
        finished: list[Segment] = []
        with self._lock:
            self._check_open()
            seqs = [seq for seq in seqs if seq not in self._state.resolved]
            for seq in seqs:
                if not 1 <= seq < self._state.next_seq:
                    raise UnknownSequenceError(
                        f"batch sequence {seq} was never assigned (next is {self._state.next_seq})"
                    )
            if not seqs:
                return
            for seq in seqs:
                segment = self._state.resolve(seq)
                if segment is not None:
                    finished.append(segment)
            self._ledger_file.dirty = True
        if self.settings.fsync_policy == "always":
            try:
                self._ledger_file.save()
            except OSError as err:
                # Only costs a re-send after a crash (the backend drops duplicates).
                self._error_log.log(
                    logging.ERROR, "ack", "buffer could not persist acknowledgements: %s", err
                )
        self._delete_segment_files(finished)

    # --- observing and closing -----------------------------------------------------------

    def stats(self) -> BufferReport:
        free = shutil.disk_usage(self.directory).free
        with self._lock:
            return self._state.stats(self._store.disk_bytes(), self._writer.dictionary_id, free)

    def close(self) -> None:
        """Sync everything, write the ledger and release the directory. Idempotent."""
        self._stop_flusher()
        with self._write_lock:
            if not self._mark_closed():
                return
            self._writer.seal()
            with self._lock:
                # Nothing more is handed out: give back the unused reservation, so that
                # after a clean restart the sequences continue without a gap.
                self._state.ledger.reserved_through = self._state.next_seq - 1
            try:
                self._ledger_file.save(only_if_dirty=False)
            except OSError as err:
                logger.error("buffer %s: final ledger write failed: %s", self.directory, err)
        self._directory_lock.release()

    def __enter__(self) -> SegmentLog:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _simulate_crash(self) -> None:
        """For tests: stop the way a killed process does, without syncing or saving."""
        self._stop_flusher()
        with self._write_lock:
            if not self._mark_closed():
                return
            self._writer.abandon()
        self._directory_lock.release()

    # --- internals -----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise BufferClosedError(f"buffer {self.directory} is closed")

    def _mark_closed(self) -> bool:
        """Close to callers and wake waiters; False if it was closed already."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            self._data_ready.notify_all()
            return True

    def _next_location(self, after: int) -> RecordLocation | None:
        with self._lock:
            return None if self._closed else self._state.next_visible_after(after)

    def _record_unreadable(self, location: RecordLocation, reason: str) -> None:
        """Count and resolve a record found damaged while reading (not at recovery)."""
        with self._lock:
            if location.seq in self._state.resolved:
                return
            finished = self._state.record_unreadable(location)
            self._ledger_file.dirty = True
        self._error_log.log(
            logging.ERROR,
            "corrupt",
            "buffer batch %d in %s is unreadable (%s); skipped",
            location.seq,
            location.segment.path.name,
            reason,
        )
        if finished is not None:
            self._delete_segment_files([finished])

    def _delete_segment_files(self, segments: list[Segment]) -> None:
        for segment in segments:
            segment.path.unlink(missing_ok=True)
        if segments:
            self._remove_unused_dictionaries()

    def _remove_unused_dictionaries(self) -> None:
        with self._lock:
            in_use = self._state.dictionaries_in_use()
        # The newest dictionary is what the writer compresses with: never remove it.
        latest = self._store.latest_id
        for dictionary_id in self._store.ids():
            if dictionary_id not in in_use and dictionary_id != latest:
                self._store.remove(dictionary_id)

    def _flush_periodically(self) -> None:
        while not self._stop.wait(self.settings.fsync_interval_s):
            try:
                self.flush()
            except BufferClosedError:
                return
            except BufferWriteError as err:
                self._error_log.log(logging.ERROR, "flush", "buffer flush failed: %s", err)

    def _stop_flusher(self) -> None:
        self._stop.set()
        if self._flusher is not None and self._flusher is not threading.current_thread():
            self._flusher.join()
