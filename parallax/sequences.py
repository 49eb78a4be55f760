"""A set of batch sequences that arrive almost in order, kept as a floor and a few ranges.

Used for the collector buffer's *resolved* sequences (acknowledged, dropped, or known not
to exist) and the ingest ledger's committed ones. Sequences arrive almost in order (a
few requests in flight), so the set is kept as a floor (every sequence up to it is in)
plus a short list of disjoint ranges above it; memory grows with the number of gaps,
not with the number of batches.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator


class SequenceSet:
    """Every sequence up to ``floor`` plus disjoint, non-adjacent ranges above it.

    The default floor 0 suits sequences numbered from 1; a floor of -1 holds none of 0, 1, ...
    """

    def __init__(self, floor: int = 0, ranges: Iterable[tuple[int, int]] = ()) -> None:
        self._floor = floor
        self._starts: list[int] = []
        self._ends: list[int] = []
        for low, high in ranges:
            self.add_range(low, high)

    @property
    def floor(self) -> int:
        """Every sequence up to and including this one is in the set."""
        return self._floor

    def ranges(self) -> list[tuple[int, int]]:
        """The ranges above the floor, in order."""
        return list(zip(self._starts, self._ends, strict=True))

    def add(self, seq: int) -> None:
        self.add_range(seq, seq)

    def add_range(self, low: int, high: int) -> None:
        """Add ``low..high`` (inclusive); merges with neighbours and the floor."""
        low = max(low, self._floor + 1)
        if high < low:
            return
        # Ranges that overlap [low, high] or touch it merge into one.
        first = bisect_left(self._ends, low - 1)
        last = bisect_right(self._starts, high + 1)
        if first < last:
            low = min(low, self._starts[first])
            high = max(high, self._ends[last - 1])
        self._starts[first:last] = [low]
        self._ends[first:last] = [high]
        if self._starts[0] == self._floor + 1:
            self._floor = self._ends[0]
            del self._starts[0], self._ends[0]

    def __contains__(self, seq: int) -> bool:
        if seq <= self._floor:
            return True
        index = bisect_right(self._starts, seq) - 1
        return index >= 0 and self._ends[index] >= seq

    def first_unresolved_after(self, seq: int) -> int:
        """The smallest sequence greater than ``seq`` that is not in the set."""
        candidate = max(seq + 1, self._floor + 1)
        index = bisect_right(self._starts, candidate) - 1
        if index >= 0 and self._ends[index] >= candidate:
            # Ranges never touch, so the sequence after a range's end is not in the set.
            candidate = self._ends[index] + 1
        return candidate

    def covers(self, low: int, high: int) -> bool:
        """Whether every sequence in ``low..high`` is in the set."""
        return self.first_unresolved_after(low - 1) > high

    def unresolved_ranges(self, low: int, high: int) -> Iterator[tuple[int, int]]:
        """The maximal sub-ranges of ``low..high`` that are not in the set, in order."""
        cursor = low - 1
        while True:
            start = self.first_unresolved_after(cursor)
            if start > high:
                return
            index = bisect_right(self._starts, start)
            end = self._starts[index] - 1 if index < len(self._starts) else high
            end = min(end, high)
            yield start, end
            cursor = end

    def to_json(self) -> dict[str, object]:
        return {"floor": self._floor, "ranges": [[low, high] for low, high in self.ranges()]}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> SequenceSet:
        floor = data.get("floor", 0)
        ranges = data.get("ranges", [])
        if not isinstance(floor, int) or not isinstance(ranges, list):
            raise ValueError("resolved sequences: floor must be an integer and ranges a list")
        return cls(floor, ((int(low), int(high)) for low, high in ranges))
