"""Which batches are committed: the memory behind effectively-once delivery.

A batch is identified by (node id, buffer id, sequence): a collector numbers the batches
of its buffer 1, 2, 3, ... and a buffer that is wiped and created anew gets a new random
id, so its sequences never collide with the old ones. The durable record is the
``ingested_batches`` table, written in the same lake transaction as the batch's spans.
This class is its in-memory index for the single writer: per (node, buffer) stream,
committed sequences as sorted, disjoint intervals. A collector sends increasing
sequences, so a stream's history collapses to a handful of intervals (gaps appear only
where a collector dropped data), however many batches it has sent. At start-up the
writer loads every stream's intervals with one query (DuckDB computes the intervals),
so a fleet reconnecting after a server restart costs no per-node lookups.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import NamedTuple


class BatchId(NamedTuple):
    """A collector batch; ``buffer_id`` is "" for senders that do not send one."""

    node_id: str
    buffer_id: str
    seq: int

    @property
    def stream(self) -> tuple[str, str]:
        return (self.node_id, self.buffer_id)


class SequenceSet:
    """A set of non-negative integers stored as sorted disjoint closed intervals."""

    def __init__(self, values: Iterable[int] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for value in sorted(set(values)):
            self.add(value)

    def __contains__(self, value: int) -> bool:
        i = bisect.bisect_right(self._starts, value) - 1
        return i >= 0 and value <= self._ends[i]

    def __len__(self) -> int:
        return sum(end - start + 1 for start, end in zip(self._starts, self._ends, strict=True))

    @property
    def interval_count(self) -> int:
        return len(self._starts)

    def add_interval(self, start: int, end: int) -> None:
        """Add every value from start to end (inclusive); intervals must arrive in order
        and must not overlap what is already there (as a bulk load provides them)."""
        if self._ends and start <= self._ends[-1] + 1:
            self._ends[-1] = max(self._ends[-1], end)
        else:
            self._starts.append(start)
            self._ends.append(end)

    def add(self, value: int) -> None:
        if value in self:
            return
        i = bisect.bisect_right(self._starts, value)
        joins_left = i > 0 and self._ends[i - 1] == value - 1
        joins_right = i < len(self._starts) and self._starts[i] == value + 1
        if joins_left and joins_right:
            self._ends[i - 1] = self._ends[i]
            del self._starts[i], self._ends[i]
        elif joins_left:
            self._ends[i - 1] = value
        elif joins_right:
            self._starts[i] = value
        else:
            self._starts.insert(i, value)
            self._ends.insert(i, value)


class BatchLedger:
    """Committed batch ids per (node, buffer) stream."""

    def __init__(self, intervals: Iterable[tuple[str, str, int, int]] = ()) -> None:
        """``intervals``: (node id, buffer id, first seq, last seq), sorted by stream and seq."""
        self._streams: dict[tuple[str, str], SequenceSet] = {}
        for node_id, buffer_id, first, last in intervals:
            self._streams.setdefault((node_id, buffer_id), SequenceSet()).add_interval(first, last)

    @property
    def stream_count(self) -> int:
        return len(self._streams)

    def is_committed(self, batch: BatchId) -> bool:
        sequences = self._streams.get(batch.stream)
        return sequences is not None and batch.seq in sequences

    def record(self, batch: BatchId) -> None:
        """Remember a batch whose transaction has committed."""
        self._streams.setdefault(batch.stream, SequenceSet()).add(batch.seq)
