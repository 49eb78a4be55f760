"""The append path: compress, reserve a sequence, roll segments, keep within the size bound."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from collector.buffer.compression import Compressor, DictionaryStore
from collector.buffer.errors import BatchTooLargeError, BufferWriteError
from collector.buffer.ledger import LedgerFile
from collector.buffer.record import HEADER_SIZE, encode_record
from collector.buffer.segment import SEGMENT_HEADER_SIZE, Segment
from collector.buffer.settings import BufferSettings
from collector.buffer.state import BufferState
from parallax.ratelimit import RateLimitedLog

# Sequences are reserved in the ledger this many at a time, before use, so that no
# crash can make the buffer hand out a sequence twice; a restart skips the unused rest.
RESERVATION_BLOCK = 4096

logger = logging.getLogger(__name__)


class SegmentWriter:
    """Writes batches into the active segment. One caller at a time (the log's write lock).

    ``lock`` guards ``state``; ``data_ready`` (a condition on ``lock``) is notified when
    a record becomes readable; ``delete_segments`` removes finished segment files.
    """

    def __init__(
        self,
        settings: BufferSettings,
        state: BufferState,
        lock: threading.Lock,
        data_ready: threading.Condition,
        ledger_file: LedgerFile,
        store: DictionaryStore,
        delete_segments: Callable[[list[Segment]], None],
    ) -> None:
        self._settings = settings
        self._state = state
        self._lock = lock
        self._data_ready = data_ready
        self._ledger_file = ledger_file
        self._store = store
        self._delete_segments = delete_segments
        self._sync_each_append = settings.fsync_policy == "always"
        self._compressor = Compressor(
            store,
            level=settings.zstd_level,
            use_dictionary=settings.dictionary,
            dictionary_size=settings.dictionary_size,
            train_after_samples=settings.dictionary_train_samples,
        )
        self._active: Segment | None = None  # created by the first append after opening
        self._unsynced = False
        self._drop_log = RateLimitedLog(logger)

    @property
    def dictionary_id(self) -> int:
        return self._compressor.dictionary_id

    def append(self, payload: bytes, span_count: int) -> int:
        codec, dictionary_id, stored = self._compressor.compress(payload)
        record_size = HEADER_SIZE + len(stored)
        if SEGMENT_HEADER_SIZE + record_size > self._settings.max_segment_bytes:
            raise BatchTooLargeError(
                f"batch of {len(payload)} bytes ({record_size} stored) does not fit in a "
                f"segment of {self._settings.max_segment_bytes} bytes"
            )
        with self._lock:
            seq = self._state.next_seq
            reserved_through = self._state.ledger.reserved_through
        if seq > reserved_through:
            self._reserve_sequences_from(seq)
        written_at_ns = time.time_ns()
        record = encode_record(
            seq=seq,
            written_at_ns=written_at_ns,
            span_count=span_count,
            dictionary_id=dictionary_id,
            codec=codec,
            payload=stored,
        )
        segment = self._segment_with_room(record_size, seq)
        try:
            offset = segment.write(record)
        except OSError as err:
            # A segment that could not grow (disk full) takes no more records: sealed, it
            # is deleted like any other once its batches are delivered, freeing the space.
            self.seal()
            raise BufferWriteError(f"write batch {seq} to {segment.path}: {err}") from err
        sync_error: OSError | None = None
        if self._sync_each_append:
            try:
                segment.sync()
            except OSError as err:
                sync_error = err
        with self._lock:
            self._state.record_appended(
                segment,
                offset,
                record_size,
                span_count,
                written_at_ns / 1e9,
                dictionary_id,
                visible=sync_error is None,
            )
            if sync_error is None:
                self._unsynced = not self._sync_each_append
                self._data_ready.notify_all()
            else:
                # Not durable, so the caller is told it failed and will retry under a
                # new sequence: this copy must never be shipped.
                self._state.resolve(seq)
        if sync_error is not None:
            # After a failed fsync the file's cached pages are in doubt: stop using it.
            self.retire_without_sync()
            raise BufferWriteError(f"sync batch {seq} to {segment.path}: {sync_error}")
        return seq

    def sync(self) -> None:
        """fsync the active segment if anything was written since the last sync."""
        if self._active is None or not self._unsynced:
            return
        try:
            self._active.sync()
        except OSError as err:
            raise BufferWriteError(f"sync {self._active.path}: {err}") from err
        self._unsynced = False

    def seal(self) -> None:
        """Sync and close the active segment; the next append starts a new one."""
        segment, self._active = self._active, None
        if segment is None:
            return
        try:
            segment.seal()
        except OSError as err:
            logger.error("buffer segment %s could not be synced when sealed: %s", segment.path, err)
        self._unsynced = False
        self._delete_if_resolved(segment)

    def _delete_if_resolved(self, segment: Segment | None) -> None:
        if segment is None:
            return
        with self._lock:
            finished = self._state.remove_if_resolved(segment)
        if finished:
            self._delete_segments([segment])

    def abandon(self) -> None:
        """Close the active segment without syncing it."""
        segment, self._active = self._active, None
        if segment is not None:
            segment.abandon()
        self._unsynced = False

    def retire_without_sync(self) -> None:
        """Close the active segment without syncing it; delete it if nothing in it is
        pending any more."""
        segment = self._active
        self.abandon()
        self._delete_if_resolved(segment)

    def train_dictionary(self) -> int | None:
        return self._compressor.train()

    def _segment_with_room(self, record_size: int, seq: int) -> Segment:
        """The segment the record goes to: rolls when full, drops old data for room."""
        active = self._active
        if active is not None and active.size + record_size > self._settings.max_segment_bytes:
            self.seal()
            active = None
        self._make_room(record_size + (SEGMENT_HEADER_SIZE if active is None else 0))
        if active is None:
            try:
                active = Segment.create(self._settings.directory, seq)
            except OSError as err:
                raise BufferWriteError(
                    f"create a segment in {self._settings.directory}: {err}"
                ) from err
            with self._lock:
                self._state.segments.append(active)
            self._active = active
        return active

    def _make_room(self, needed: int) -> None:
        """Drop the oldest sealed segments, whole, until ``needed`` more bytes fit."""
        limit = self._settings.max_total_bytes
        while True:
            with self._lock:
                used = self._state.segment_bytes() + self._store.disk_bytes()
            if used + needed <= limit:
                return
            with self._lock:
                dropped = self._state.drop_oldest()
                self._ledger_file.dirty = True
            if dropped is None:
                return  # only the active segment is left, and the settings make it fit
            try:
                # The drop and its counts reach the ledger before the file goes.
                self._ledger_file.save()
            except OSError as err:
                # Space must be freed regardless; the ledger stays dirty for the next flush.
                logger.error("buffer ledger write failed while dropping: %s", err)
            segment, removed = dropped
            self._delete_segments([segment])
            counters = self._state.ledger.counters
            self._drop_log.log(
                logging.WARNING,
                "drop",
                "buffer full (%d bytes): dropped segment %s with %d unacknowledged batches "
                "(%d spans); %d batches (%d spans) dropped in total",
                limit,
                segment.path.name,
                removed.batches,
                removed.spans,
                counters.dropped_batches,
                counters.dropped_spans,
            )

    def _reserve_sequences_from(self, seq: int) -> None:
        def reserve() -> None:
            self._state.ledger.reserved_through = seq - 1 + RESERVATION_BLOCK

        try:
            self._ledger_file.update(reserve)
        except OSError as err:
            raise BufferWriteError(f"reserve sequences in {self._ledger_file.path}: {err}") from err
