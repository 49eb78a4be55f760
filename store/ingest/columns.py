"""Typed Arrow columns from flat attributes: promoted columns and the remaining-attributes map.

Only rows the attribute rules keep are used (store.ingest.attribute_rules: repeated
keys, the attribute count limit, unreadable rows). Each promoted column takes the rows
of its key; when every such row has the expected fixed-shape encoding the column is
decoded at once (see store.ingest.flat), otherwise value by value through
store.ingest.anyvalue, which also reports values of the wrong type or not UTF-8 per
span. Values that are not promoted become text in a MAP(VARCHAR, VARCHAR). String
values longer than the size limit are cut at a character boundary and counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf.message import DecodeError

from store.ingest import anyvalue, flat
from store.ingest.attribute_rules import AttributeRules, SpanLimits
from store.ingest.flat import TAG_BOOL, TAG_DOUBLE, TAG_INT, TAG_STRING, FlatAttributes

STRING, DOUBLE, BOOL, STRING_LIST = pa.string(), pa.float64(), pa.bool_(), pa.list_(pa.string())
TEXT_MAP = pa.map_(pa.string(), pa.string())
_EXPECTED = {STRING: "a string", DOUBLE: "a double", BOOL: "a bool", STRING_LIST: "a string array"}


def coerce(key: str, value: Any, arrow_type: pa.DataType) -> tuple[Any, str | None]:
    """A decoded value in the column's type, or (None, reason) when it does not fit."""
    if value is anyvalue.UNSET or value is None:
        return None, None
    if arrow_type == STRING and isinstance(value, str):
        return value, None
    if arrow_type == DOUBLE and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value), None
    if arrow_type == BOOL and isinstance(value, bool):
        return value, None
    if (
        arrow_type == STRING_LIST
        and isinstance(value, list)
        and all(isinstance(v, str) for v in value)
    ):
        return value, None
    return None, f"attribute {key!r} must be {_EXPECTED[arrow_type]}, got {type(value).__name__}"


class ColumnBuilder:
    """Builds the columns of a batch of spans from their flat attributes."""

    def __init__(
        self,
        attributes: FlatAttributes,
        span_count: int,
        promoted_keys: list[str],
        limits: SpanLimits,
    ) -> None:
        self.flat = attributes
        self.n = span_count
        self.limits = limits
        self.tags = attributes.tags()
        self.rules = AttributeRules(attributes, span_count, promoted_keys, limits)
        self.problems = self.rules.problems  # span -> why it is rejected
        self.truncated = np.zeros(span_count, dtype=np.int64)  # values cut to the size limit
        self.promoted_rows = np.zeros(len(attributes), dtype=bool)

    def promoted(self, key: str, arrow_type: pa.DataType) -> pa.Array:
        """The column of one promoted key; values of the wrong type are recorded in problems."""
        rows = self.flat.rows_of_key(key)
        rows = rows[~self.rules.excluded[rows]]
        self.promoted_rows[rows] = True
        if len(rows) == 0:
            return pa.nulls(self.n, arrow_type)
        fast = {STRING: self._strings, DOUBLE: self._doubles, BOOL: self._bools}.get(arrow_type)
        column = fast(rows, len(key.encode("utf-8"))) if fast else None
        column = column if column is not None else self._one_by_one(rows, key, arrow_type)
        if arrow_type == STRING:
            return self._within_size_limit(column, np.arange(self.n))
        return column

    def remaining(self) -> pa.Array:
        """MAP(VARCHAR, VARCHAR) per span of the attributes that are not promoted."""
        rows = np.flatnonzero(~self.promoted_rows & ~self.rules.excluded)
        offsets = np.zeros(self.n + 1, dtype=np.int32)
        np.cumsum(np.bincount(self.flat.span_index[rows], minlength=self.n), out=offsets[1:])
        keys = self.flat.keys_of(rows) if len(rows) else pa.array([], STRING)
        texts = self._within_size_limit(self._texts(rows), self.flat.span_index[rows])
        return pa.MapArray.from_arrays(pa.array(offsets), keys, texts)

    def _within_size_limit(self, values: pa.Array, spans: np.ndarray) -> pa.Array:
        """Strings longer than the limit cut at the last whole character within it."""
        limit = self.limits.max_value_bytes
        over = pc.fill_null(pc.greater(pc.binary_length(values), limit), False)
        over = over.to_numpy(zero_copy_only=False)
        if not over.any():
            return values
        cut = [
            text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")
            for text in values.filter(pa.array(over)).to_pylist()
        ]
        np.add.at(self.truncated, spans[over], 1)
        return pc.replace_with_mask(values, pa.array(over), pa.array(cut, STRING))

    # -- fast paths: return None to fall back to one-by-one ------------------------

    def _strings(self, rows: np.ndarray, key_length: int) -> pa.Array | None:
        flat = self.flat
        if not flat.regular[rows].all() or not np.all(self.tags[rows] == TAG_STRING):
            return None
        declared = flat.data[flat.value_start[rows] + 1].astype(np.int64)
        if not np.all((declared < 0x80) & (flat.value_length[rows] == declared + 2)):
            return None  # a string of 128 bytes or more: one by one
        # Regular rows of one key share their layout: the payload starts at a fixed offset
        # (tag, key length, key, value tag, value length, string tag, string length).
        # An explicit stop: pyarrow's default one fails ("Negative buffer resize").
        payloads = pc.binary_slice(flat.encodings(rows), 6 + key_length, 2**31 - 1)
        try:
            strings = payloads.cast(STRING)  # validates UTF-8
        except pa.ArrowInvalid:
            return None  # one by one names the span with invalid UTF-8
        return self._spread(rows, strings)

    def _spread(self, rows: np.ndarray, values: pa.Array) -> pa.Array:
        """Values of rows placed at their spans (NULL where a span lacks the key; last wins)."""
        spans = self.flat.span_index[rows]
        if len(rows) == self.n and np.array_equal(spans, np.arange(self.n)):
            return values
        index = np.full(self.n, -1, dtype=np.int64)
        index[spans] = np.arange(len(rows))
        return values.take(pa.array(index, mask=index < 0))

    def _doubles(self, rows: np.ndarray, key_length: int) -> pa.Array | None:
        tags, lengths = self.tags[rows], self.flat.value_length[rows]
        if not np.all(((tags == TAG_DOUBLE) & (lengths == 9)) | (tags == TAG_INT)):
            return None
        starts = self.flat.value_start[rows]
        if not self._varints_well_formed(starts[tags == TAG_INT], lengths[tags == TAG_INT]):
            return None
        is_double = tags == TAG_DOUBLE
        values = np.empty(len(rows), dtype=np.float64)
        values[is_double] = flat.doubles(self.flat.data, starts[is_double])
        if not is_double.all():
            ints = ~is_double
            values[ints] = flat.varints(self.flat.data, starts[ints], lengths[ints])
        return self._spread(rows, pa.array(values, DOUBLE))

    def _bools(self, rows: np.ndarray, key_length: int) -> pa.Array | None:
        lengths, starts = self.flat.value_length[rows], self.flat.value_start[rows]
        if not np.all((self.tags[rows] == TAG_BOOL) & (lengths == 2)):
            return None
        flags = self.flat.data[starts + 1]
        if not np.all(flags <= 1):
            return None
        return self._spread(rows, pa.array(flags == 1, BOOL))

    def _varints_well_formed(self, starts: np.ndarray, lengths: np.ndarray) -> bool:
        return bool(flat.single_varints(self.flat.data, starts, lengths).all())

    # -- slow path -------------------------------------------------------------------

    def _one_by_one(self, rows: np.ndarray, key: str, arrow_type: pa.DataType) -> pa.Array:
        values: list[Any] = [None] * self.n
        for row in rows:
            span = int(self.flat.span_index[row])
            try:
                value, problem = coerce(key, anyvalue.decode(self.flat.raw_value(row)), arrow_type)
            except (UnicodeDecodeError, DecodeError) as err:
                value, problem = None, _unreadable(key, err)
            if problem:
                self.problems.setdefault(span, problem)
            values[span] = value
        return pa.array(values, arrow_type)

    def _texts(self, rows: np.ndarray) -> pa.Array:
        """Values of the given rows as text, in row order."""
        data, tags = self.flat.data, self.tags[rows]
        starts, lengths = self.flat.value_start[rows], self.flat.value_length[rows]
        texts: list[str | None] = [None] * len(rows)
        done = np.zeros(len(rows), dtype=bool)
        pieces = []
        is_string = tags == TAG_STRING
        p_start, p_length, ok = flat.string_payload(data, starts, lengths)
        is_string &= ok
        is_int = (tags == TAG_INT) & flat.single_varints(data, starts, lengths)
        is_double = (tags == TAG_DOUBLE) & (lengths == 9)
        is_bool = (tags == TAG_BOOL) & (lengths == 2)
        is_bool &= data[np.minimum(starts + 1, len(data) - 1)] <= 1  # others: protobuf reads
        if is_string.any():
            try:
                pieces.append(
                    (is_string, flat.gather_strings(data, p_start[is_string], p_length[is_string]))
                )
            except pa.ArrowInvalid:
                is_string[:] = False  # leave them to the one-by-one path below
        if is_int.any():
            ints = flat.varints(data, starts[is_int], lengths[is_int])
            pieces.append((is_int, pa.array(ints).cast(STRING)))
        if is_double.any():
            pieces.append((is_double, pa.array(flat.doubles(data, starts[is_double])).cast(STRING)))
        if is_bool.any():
            flags = data[starts[is_bool] + 1]
            pieces.append((is_bool, pa.array(np.where(flags == 1, "true", "false"), STRING)))
        for mask, _ in pieces:
            done |= mask
        result = pa.nulls(len(rows), STRING)
        for mask, values in pieces:
            result = pc.replace_with_mask(result, pa.array(mask), values)
        leftover = np.flatnonzero(~done & (lengths > 0))
        if len(leftover):
            for index in leftover:
                row = int(rows[index])
                try:
                    texts[index] = anyvalue.as_text(anyvalue.decode(self.flat.raw_value(row)))
                except (UnicodeDecodeError, DecodeError) as err:
                    key = self.flat.keys_of(np.array([row]))[0].as_py()
                    self.problems.setdefault(int(self.flat.span_index[row]), _unreadable(key, err))
            fill = pa.array([texts[i] for i in leftover], STRING)
            mask = np.zeros(len(rows), dtype=bool)
            mask[leftover] = True
            result = pc.replace_with_mask(result, pa.array(mask), fill)
        return result


def _unreadable(key: str, err: Exception) -> str:
    if isinstance(err, UnicodeDecodeError):
        return f"attribute {key!r} is not valid UTF-8"
    return f"attribute {key!r} is not a valid AnyValue"
