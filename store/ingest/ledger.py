"""Which (node id, batch sequence) pairs are committed: the memory behind effectively-once.

The durable record is the ``ingested_batches`` table, written in the same lake
transaction as the batch's spans. This class is its in-memory index for the single
writer: per node, committed sequences as sorted, disjoint intervals. A collector sends
increasing sequences, so a node's history collapses to a handful of intervals (gaps
appear only where a collector dropped data), however many batches it has sent.
A node's intervals are loaded from the lake the first time the node is seen.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable


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
    """Committed batch ids per node, loaded lazily with ``load_node(node_id)``."""

    def __init__(self, load_node: Callable[[str], Iterable[int]]) -> None:
        self._load_node = load_node
        self._nodes: dict[str, SequenceSet] = {}

    def is_committed(self, node_id: str, batch_seq: int) -> bool:
        return batch_seq in self._node(node_id)

    def record(self, node_id: str, batch_seq: int) -> None:
        """Remember a batch whose transaction has committed."""
        self._node(node_id).add(batch_seq)

    def _node(self, node_id: str) -> SequenceSet:
        if node_id not in self._nodes:
            self._nodes[node_id] = SequenceSet(self._load_node(node_id))
        return self._nodes[node_id]
