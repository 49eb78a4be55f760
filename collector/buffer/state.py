"""The buffer's in-memory bookkeeping: live segments, resolved sequences, pending totals.

Pure data and arithmetic, no I/O and no locking: :class:`~collector.buffer.log.SegmentLog`
holds its lock around every call. The invariant everything relies on: every sequence
below ``next_seq`` is either resolved or a record (not a hole) in a live segment.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from dataclasses import dataclass

from collector.buffer.ledger import Ledger
from collector.buffer.segment import Segment
from collector.buffer.stats import BufferReport
from parallax.sequences import SequenceSet


@dataclass(frozen=True, slots=True)
class RecordLocation:
    """Where a pending record is, for the reader."""

    segment: Segment
    seq: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class Removed:
    """Pending records taken out of the totals when a segment is dropped."""

    batches: int
    spans: int
    bytes: int


class BufferState:
    def __init__(self, ledger: Ledger, segments: list[Segment], next_seq: int) -> None:
        self.ledger = ledger
        self.segments = segments  # oldest first; the last one may be the active segment
        self.next_seq = next_seq
        # Readers see records up to this sequence: under fsync "always" a record
        # becomes visible only once it is durable.
        self.visible_through = next_seq - 1
        self.pending_batches = 0
        self.pending_spans = 0
        self.pending_bytes = 0
        for segment in segments:
            removed = self._unresolved_in(segment)
            self.pending_batches += removed.batches
            self.pending_spans += removed.spans
            self.pending_bytes += removed.bytes

    @property
    def resolved(self) -> SequenceSet:
        return self.ledger.resolved

    def segment_holding(self, seq: int) -> Segment | None:
        index = bisect_right(self.segments, seq, key=lambda segment: segment.base_seq) - 1
        if index >= 0 and self.segments[index].holds(seq):
            return self.segments[index]
        return None

    def record_appended(
        self,
        segment: Segment,
        offset: int,
        record_size: int,
        span_count: int,
        written_at_s: float,
        dictionary_id: int,
        *,
        visible: bool,
    ) -> int:
        """Index a record just written at ``next_seq``; returns its sequence."""
        seq = self.next_seq
        segment.index_record(offset, record_size, span_count, written_at_s, dictionary_id)
        self.next_seq += 1
        self.pending_batches += 1
        self.pending_spans += span_count
        self.pending_bytes += record_size
        if visible:
            self.visible_through = seq
        return seq

    def resolve(self, seq: int) -> Segment | None:
        """Mark one sequence resolved; returns its segment if that is now deletable."""
        if seq in self.resolved:
            return None
        self.resolved.add(seq)
        segment = self.segment_holding(seq)
        if segment is None:
            return None  # never stored (a failed write): nothing to subtract
        index = seq - segment.base_seq
        self.pending_batches -= 1
        self.pending_spans -= segment.span_counts[index]
        self.pending_bytes -= segment.record_sizes[index]
        return segment if self.remove_if_resolved(segment) else None

    def remove_if_resolved(self, segment: Segment) -> bool:
        """Take a sealed segment out if every sequence in it is resolved."""
        if segment.sealed and self.resolved.covers(segment.base_seq, segment.last_seq):
            self.segments.remove(segment)
            self.ledger.counted_corruption.pop(segment.path.name, None)
            return True
        return False

    def record_unreadable(self, location: RecordLocation) -> Segment | None:
        """Count (once, across restarts) and resolve a record that failed its checks when
        read; returns its segment if that is now deletable."""
        counted = self.ledger.counted_corruption.setdefault(location.segment.path.name, [])
        if location.offset not in counted:  # recovery may have counted it already
            counted.append(location.offset)
            self.ledger.counters.corrupt_records += 1
        return self.resolve(location.seq)

    def drop_oldest(self) -> tuple[Segment, Removed] | None:
        """Take the oldest sealed segment out whole, resolving what it still held."""
        if not self.segments or not self.segments[0].sealed:
            return None
        segment = self.segments.pop(0)
        removed = self._unresolved_in(segment)
        self.resolved.add_range(segment.base_seq, segment.last_seq)
        self.pending_batches -= removed.batches
        self.pending_spans -= removed.spans
        self.pending_bytes -= removed.bytes
        counters = self.ledger.counters
        counters.dropped_batches += removed.batches
        counters.dropped_spans += removed.spans
        self.ledger.counted_corruption.pop(segment.path.name, None)
        return segment, removed

    def next_visible_after(self, seq: int) -> RecordLocation | None:
        """The first pending, visible record after ``seq``, or None when caught up."""
        while True:
            candidate = self.resolved.first_unresolved_after(seq)
            if candidate > self.visible_through:
                return None
            segment = self.segment_holding(candidate)
            if segment is not None and not segment.is_hole(candidate):
                index = candidate - segment.base_seq
                return RecordLocation(
                    segment, candidate, segment.offsets[index], segment.record_sizes[index]
                )
            # Breaks the invariant; resolve it rather than loop on it forever.
            self.resolved.add(candidate)
            seq = candidate

    def oldest_pending_age_s(self, now: float | None = None) -> float:
        seq = self.resolved.first_unresolved_after(0)
        segment = self.segment_holding(seq) if seq < self.next_seq else None
        if segment is None:
            return 0.0
        written_at = segment.written_at[seq - segment.base_seq]
        return max(0.0, (time.time() if now is None else now) - written_at)

    def stats(
        self, dictionary_bytes: int, dictionary_id: int, disk_free_bytes: int
    ) -> BufferReport:
        counters = self.ledger.counters
        return BufferReport(
            pending_batches=self.pending_batches,
            pending_spans=self.pending_spans,
            pending_bytes=self.pending_bytes,
            oldest_pending_age_s=self.oldest_pending_age_s(),
            dropped_batches=counters.dropped_batches,
            dropped_spans=counters.dropped_spans,
            corrupt_records=counters.corrupt_records,
            torn_tails_truncated=counters.torn_tails_truncated,
            quarantined_segments=counters.quarantined_segments,
            disk_bytes=self.segment_bytes() + dictionary_bytes,
            segment_count=len(self.segments),
            dictionary_id=dictionary_id,
            next_seq=self.next_seq,
            disk_free_bytes=disk_free_bytes,
        )

    def segment_bytes(self) -> int:
        return sum(segment.size for segment in self.segments)

    def dictionaries_in_use(self) -> set[int]:
        in_use: set[int] = set()
        for segment in self.segments:
            in_use |= segment.dictionary_ids
        return in_use

    def _unresolved_in(self, segment: Segment) -> Removed:
        batches = spans = size = 0
        for low, high in self.resolved.unresolved_ranges(segment.base_seq, segment.last_seq):
            first, last = low - segment.base_seq, high - segment.base_seq + 1
            batches += last - first
            spans += sum(segment.span_counts[first:last])
            size += sum(segment.record_sizes[first:last])
        return Removed(batches, spans, size)
