"""Which attribute rows of a batch of spans are stored: the per-span rules of the wire contract.

Decided per span, never per request (docs/wire-contract.md):

- a row protobuf cannot parse (malformed, a string that is not UTF-8, nesting past
  protobuf's depth limit) or a key that is not UTF-8 rejects its span;
- a key repeated within a span keeps its last value; the earlier rows are dropped and
  counted (OTLP forbids repeated keys; protobuf maps keep the last value too);
- a span keeps at most ``max_attributes`` attributes besides the promoted convention
  keys, the first ones in the order sent (as the OpenTelemetry SDK's span limits);
  the rest are dropped and counted.

Everything is arithmetic over the rows' key codes, so a span with 100,000 attributes
costs about what its rows cost to locate, not a Python loop over them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from store.ingest.flat import FlatAttributes

# Above this many (span, key) cells, repeated keys are found by sorting instead of counting.
_COUNTING_CELLS = 1 << 21


@dataclass(frozen=True)
class SpanLimits:
    """How much of one span is stored (server.max_attributes_per_span and
    server.max_attribute_value_bytes)."""

    max_attributes: int
    max_value_bytes: int


class AttributeRules:
    """Applies the rules to every row; the results are per-row and per-span arrays."""

    def __init__(
        self,
        attributes: FlatAttributes,
        span_count: int,
        promoted_keys: list[str],
        limits: SpanLimits,
    ) -> None:
        self.flat = attributes
        self.n = span_count
        self.problems: dict[int, str] = {}  # span -> why it is rejected
        self.excluded = np.zeros(len(attributes), dtype=bool)  # rows that are not stored
        key_codes, self.codes = attributes.key_codes()
        self._reject_unreadable(key_codes)
        self.deduplicated = self._drop_earlier_repeats()
        promoted = [key_codes[k.encode()] for k in promoted_keys if k.encode() in key_codes]
        self.dropped = self._drop_beyond_limit(np.isin(self.codes, promoted), limits.max_attributes)

    def _reject_unreadable(self, key_codes: dict[bytes, int]) -> None:
        flat = self.flat
        for row in flat.broken:
            self._reject_row(
                row,
                "an attribute is not a valid OTLP KeyValue (malformed, not "
                "UTF-8, or nested deeper than protobuf's limit of 100 messages)",
            )
        invalid = _codes_not_utf8(key_codes)
        for row in np.flatnonzero(np.isin(self.codes, invalid)) if invalid else ():
            self._reject_row(int(row), "an attribute key is not valid UTF-8")

    def _reject_row(self, row: int, reason: str) -> None:
        self.excluded[row] = True
        self.problems.setdefault(int(self.flat.span_index[row]), reason)

    def _drop_earlier_repeats(self) -> np.ndarray:
        """Exclude every row whose key appears again later in its span; count them per span."""
        rows = np.flatnonzero(~self.excluded)
        if len(rows) < 2:
            return np.zeros(self.n, dtype=np.int64)
        cells = self.flat.span_index[rows] * (int(self.codes.max()) + 1) + self.codes[rows]
        if not _has_repeats(cells, self.n * (int(self.codes.max()) + 1)):
            return np.zeros(self.n, dtype=np.int64)
        _, last_from_end = np.unique(cells[::-1], return_index=True)
        earlier = np.ones(len(rows), dtype=bool)
        earlier[len(rows) - 1 - last_from_end] = False
        self.excluded[rows[earlier]] = True
        return np.bincount(self.flat.span_index[rows[earlier]], minlength=self.n)

    def _drop_beyond_limit(self, promoted: np.ndarray, limit: int) -> np.ndarray:
        """Exclude the rows past the first ``limit`` counted rows of each span."""
        counted = ~self.excluded & ~promoted
        spans = self.flat.span_index
        per_span = np.bincount(spans[counted], minlength=self.n)
        if per_span.max(initial=0) <= limit:
            return np.zeros(self.n, dtype=np.int64)
        before_span = np.cumsum(per_span) - per_span  # counted rows of earlier spans
        rank = np.cumsum(counted) - 1 - before_span[spans]
        beyond = counted & (rank >= limit)
        self.excluded |= beyond
        return np.bincount(spans[beyond], minlength=self.n)


def _has_repeats(cells: np.ndarray, cell_count: int) -> bool:
    if cell_count <= _COUNTING_CELLS:
        return bool(np.bincount(cells, minlength=cell_count).max() > 1)
    ordered = np.sort(cells)
    return bool((ordered[1:] == ordered[:-1]).any())


def _codes_not_utf8(key_codes: dict[bytes, int]) -> list[int]:
    """Codes of the keys that are not UTF-8 (checked at once; one by one only if one is not)."""
    try:
        pa.array(list(key_codes), pa.binary()).cast(pa.string())
        return []
    except pa.ArrowInvalid:
        pass
    invalid = []
    for key, code in key_codes.items():
        try:
            key.decode("utf-8")
        except UnicodeDecodeError:
            invalid.append(code)
    return invalid
