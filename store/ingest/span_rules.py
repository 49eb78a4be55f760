"""The rules a span's own fields must meet; each broken rule rejects that span alone.

Every check is vectorised over a batch and records ``span -> reason`` in ``problems``
(the first reason found for a span is the one reported).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_ZERO_TRACE_ID, _ZERO_SPAN_ID = bytes(16), bytes(8)
# DuckDB's TIMESTAMP_NS, like Arrow's, is a signed 64-bit count of nanoseconds since
# 1970: an OTLP time (unsigned) at or past 2^63 (the year 2262) cannot be stored.
FIRST_UNREPRESENTABLE_NS = 2**63


def check_ids(trace_ids: pa.Array, span_ids: pa.Array, problems: dict[int, str]) -> None:
    for ids, size, zero, name in (
        (trace_ids, 16, _ZERO_TRACE_ID, "trace_id"),
        (span_ids, 8, _ZERO_SPAN_ID, "span_id"),
    ):
        bad = pc.or_(pc.not_equal(pc.binary_length(ids), size), pc.equal(ids, zero))
        for row in np.flatnonzero(bad.to_numpy(zero_copy_only=False)):
            problems.setdefault(int(row), f"{name} must be {size} bytes and not all zero")


def check_times(starts: np.ndarray, ends: np.ndarray, problems: dict[int, str]) -> None:
    """Starts and ends are OTLP's unsigned nanoseconds (np.uint64)."""
    limit = np.uint64(FIRST_UNREPRESENTABLE_NS)
    for row in np.flatnonzero(starts == 0):
        problems.setdefault(int(row), "start_time_unix_nano is missing")
    for row in np.flatnonzero((starts >= limit) | (ends >= limit)):
        problems.setdefault(int(row), "a time is past 2262-04-11, the last a timestamp can hold")
    for row in np.flatnonzero((ends != 0) & (ends < starts)):
        problems.setdefault(int(row), "end_time_unix_nano is before start_time_unix_nano")


def check_names(names: pa.Array, problems: dict[int, str]) -> None:
    for row in np.flatnonzero(pc.equal(pc.utf8_length(names), 0).to_numpy(zero_copy_only=False)):
        problems.setdefault(int(row), "span name is empty")
