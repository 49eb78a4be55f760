"""Which batches are committed: the memory behind effectively-once delivery.

A batch is identified by (node id, buffer id, sequence): a collector numbers the batches
of its buffer 1, 2, 3, ... and a buffer that is wiped and created anew gets a new random
id, so its sequences never collide with the old ones. The durable record is the
``ingested_batches`` table, written in the same lake transaction as the batch's spans.
This class is its in-memory index for the single writer: per (node, buffer) stream,
committed sequences as a parallax.sequences.SequenceSet. A collector sends increasing
sequences, so a stream's history collapses to a handful of intervals (gaps appear only
where a collector dropped data), however many batches it has sent. At start-up the
writer loads every stream's intervals with one query (DuckDB computes the intervals),
so a fleet reconnecting after a server restart costs no per-node lookups.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from parallax.sequences import SequenceSet


class BatchId(NamedTuple):
    """A collector batch; ``buffer_id`` is "" for senders that do not send one."""

    node_id: str
    buffer_id: str
    seq: int

    @property
    def stream(self) -> tuple[str, str]:
        return (self.node_id, self.buffer_id)


class BatchLedger:
    """Committed batch ids per (node, buffer) stream."""

    def __init__(self, intervals: Iterable[tuple[str, str, int, int]] = ()) -> None:
        """``intervals``: (node id, buffer id, first seq, last seq), sorted by stream and seq."""
        self._streams: dict[tuple[str, str], SequenceSet] = {}
        for node_id, buffer_id, first, last in intervals:
            self._stream((node_id, buffer_id)).add_range(first, last)

    @property
    def stream_count(self) -> int:
        return len(self._streams)

    def is_committed(self, batch: BatchId) -> bool:
        sequences = self._streams.get(batch.stream)
        return sequences is not None and batch.seq in sequences

    def record(self, batch: BatchId) -> None:
        """Remember a batch whose transaction has committed."""
        self._stream(batch.stream).add(batch.seq)

    def _stream(self, stream: tuple[str, str]) -> SequenceSet:
        if stream not in self._streams:
            self._streams[stream] = SequenceSet(floor=-1)  # a sequence may be 0
        return self._streams[stream]
