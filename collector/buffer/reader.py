"""Reading pending batches back, in sequence order, for the shipper."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from collector.buffer.compression import Decompressor
from collector.buffer.errors import CorruptRecordError
from collector.buffer.record import Status, decode_at
from collector.buffer.segment import Segment
from collector.buffer.state import RecordLocation
from collector.buffer.stats import BufferedBatch


class PendingReader:
    """Walks the pending records through callbacks into the log, holding no lock itself.

    ``next_location(seq)`` gives the first pending, readable record after ``seq`` (or
    None when caught up); ``report_unreadable(location, reason)`` counts and resolves a
    record that fails its checks now (damage that appeared after the buffer opened).
    """

    def __init__(
        self,
        next_location: Callable[[int], RecordLocation | None],
        report_unreadable: Callable[[RecordLocation, str], None],
        decompressor: Decompressor,
    ) -> None:
        self._next_location = next_location
        self._report_unreadable = report_unreadable
        self._decompressor = decompressor
        self._segment: Segment | None = None
        self._descriptor: int | None = None

    def read(self, after: int) -> Iterator[BufferedBatch]:
        try:
            cursor = after
            while (location := self._next_location(cursor)) is not None:
                cursor = location.seq
                batch = self._read(location)
                if batch is not None:
                    yield batch
        finally:
            self._close()

    def _read(self, location: RecordLocation) -> BufferedBatch | None:
        try:
            data = self._pread(location)
        except FileNotFoundError:
            return None  # deleted meanwhile: every record in it was acknowledged or dropped
        except OSError as err:
            self._report_unreadable(location, f"read failed: {err}")
            return None
        decoded = decode_at(data, 0)
        header = decoded.header
        if decoded.status is not Status.VALID or header is None:
            self._report_unreadable(location, decoded.status.value)
            return None
        if header.seq != location.seq:
            self._report_unreadable(location, f"holds sequence {header.seq}")
            return None
        try:
            payload = self._decompressor.decompress(
                header.codec, header.dictionary_id, decoded.payload
            )
        except CorruptRecordError as err:
            self._report_unreadable(location, str(err))
            return None
        return BufferedBatch(
            seq=header.seq,
            payload=payload,
            span_count=header.span_count,
            written_at=header.written_at_ns / 1e9,
        )

    def _pread(self, location: RecordLocation) -> bytes:
        if location.segment is not self._segment:
            self._close()
            self._descriptor = os.open(location.segment.path, os.O_RDONLY)
            self._segment = location.segment
        assert self._descriptor is not None
        return os.pread(self._descriptor, location.size, location.offset)

    def _close(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
        self._descriptor = None
        self._segment = None
