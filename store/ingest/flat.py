"""All attributes of a batch of spans as flat NumPy arrays, decoded without a Python loop.

The lean schema hands each span's attributes over as the raw encodings of OTLP
``KeyValue`` messages. For a whole scope they are joined into one byte buffer and
located by arithmetic: the common encoding of a key-value is a fixed shape

    0x0A <key length> <key bytes> 0x12 <value length> <AnyValue bytes>

with lengths under 128. An AnyValue in turn is usually one of

    0x0A <length, 1-2 varint bytes> <utf-8>   string
    0x21 <8 bytes little-endian>               double
    0x10 <0|1>                                 bool
    0x18 <varint>                              int

so keys and values are located, type-checked and decoded for every row at once. Rows
of any other shape (a long key, an array value, an unusual but valid encoding) are
parsed with the standard protobuf classes, row by row: slower, never wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

TAG_STRING, TAG_BOOL, TAG_INT, TAG_DOUBLE = 0x0A, 0x10, 0x18, 0x21
TAG_NAMES = {
    TAG_STRING: "string",
    TAG_BOOL: "bool",
    TAG_INT: "int",
    TAG_DOUBLE: "double",
    0x2A: "array",
    0x32: "key-value list",
    0x3A: "bytes",
}


@dataclass
class FlatAttributes:
    """One row per attribute of every span: which span, which key, where its value lies."""

    span_index: np.ndarray  # int64, row -> span
    keys: pa.Array  # string, row -> key
    data: np.ndarray  # uint8, every value's AnyValue bytes
    value_start: np.ndarray  # int64, row -> offset of its AnyValue in data
    value_length: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.span_index)

    def tags(self) -> np.ndarray:
        """First byte of each value (its AnyValue field tag); 0 for an empty AnyValue."""
        tags = np.zeros(len(self), dtype=np.uint8)
        present = self.value_length > 0
        tags[present] = self.data[self.value_start[present]]
        return tags

    def raw_value(self, row: int) -> bytes:
        start = int(self.value_start[row])
        return self.data[start : start + int(self.value_length[row])].tobytes()


def flatten(per_span: list[list[bytes]]) -> FlatAttributes:
    """Locate keys and values in the raw KeyValue encodings of each span's attributes."""
    counts = np.fromiter(map(len, per_span), dtype=np.int64, count=len(per_span))
    encoded = [kv for attributes in per_span for kv in attributes]
    span_index = np.repeat(np.arange(len(per_span), dtype=np.int64), counts)
    if not encoded:
        empty = np.zeros(0, dtype=np.int64)
        return FlatAttributes(
            span_index, pa.array([], pa.string()), np.zeros(0, np.uint8), empty, empty
        )
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    starts = np.zeros(len(encoded), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)

    key_length, value_start, value_length, regular = _fixed_shape(data, starts, lengths)
    key_start = starts + 2
    irregular = np.flatnonzero(~regular)
    if len(irregular):
        data, key_start, key_length, value_start, value_length = _append_parsed(
            data, encoded, irregular, key_start, key_length, value_start, value_length
        )
    keys = pa.StringArray.from_buffers(len(encoded), *_gather_buffers(data, key_start, key_length))
    keys.validate(full=True)  # keys arrive as proto3 strings: UTF-8 was checked on parse
    return FlatAttributes(span_index, keys, data, value_start, value_length)


def _fixed_shape(
    data: np.ndarray, starts: np.ndarray, lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Key length, value start and value length of rows in the common shape; and which are."""
    last = len(data) - 1
    at = lambda offsets: data[np.minimum(offsets, last)]  # noqa: E731 - bounds-safe peek
    key_length = at(starts + 1).astype(np.int64)
    value_tag_at = starts + 2 + key_length
    value_length = at(value_tag_at + 1).astype(np.int64)
    regular = (
        (lengths >= 4)
        & (at(starts) == 0x0A)
        & (key_length < 0x80)
        & (at(value_tag_at) == 0x12)
        & (value_length < 0x80)
        & (lengths == 4 + key_length + value_length)
    )
    return key_length, value_tag_at + 2, value_length, regular


def _append_parsed(
    data: np.ndarray,
    encoded: list[bytes],
    rows: np.ndarray,
    key_start: np.ndarray,
    key_length: np.ndarray,
    value_start: np.ndarray,
    value_length: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Parse irregular rows with protobuf and append their key and value bytes to data.

    google.protobuf.message.DecodeError propagates: the request is malformed.
    """
    key_start, key_length = key_start.copy(), key_length.copy()
    value_start, value_length = value_start.copy(), value_length.copy()
    extra, offset = [], len(data)
    for row in rows:
        kv = KeyValue.FromString(encoded[row])
        key, value = kv.key.encode("utf-8"), kv.value.SerializeToString()
        key_start[row], key_length[row] = offset, len(key)
        value_start[row], value_length[row] = offset + len(key), len(value)
        extra += [key, value]
        offset += len(key) + len(value)
    data = np.concatenate([data, np.frombuffer(b"".join(extra), dtype=np.uint8)])
    return data, key_start, key_length, value_start, value_length


def _gather_buffers(
    data: np.ndarray, starts: np.ndarray, lengths: np.ndarray
) -> tuple[pa.Buffer, pa.Buffer]:
    """Arrow offsets and data buffers for the byte ranges (starts, lengths) of data."""
    offsets = np.zeros(len(starts) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    picks = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)
    return pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data[picks]))


def gather_strings(
    data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, valid: np.ndarray | None = None
) -> pa.Array:
    """A string array of the byte ranges; raises pyarrow.ArrowInvalid on invalid UTF-8."""
    if valid is not None:
        lengths = np.where(valid, lengths, 0)
    offsets, values = _gather_buffers(data, starts, lengths)
    mask = None if valid is None else pa.array(~valid)
    strings = pa.StringArray.from_buffers(len(starts), offsets, values)
    strings.validate(full=True)
    if mask is None:
        return strings
    return pa.compute.if_else(mask, pa.scalar(None, pa.string()), strings)


def string_payload(
    data: np.ndarray, start: np.ndarray, length: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For string AnyValues: (payload start, payload length, well-formed?) per row."""
    last = len(data) - 1
    first = data[np.minimum(start + 1, last)].astype(np.int64)
    second = data[np.minimum(start + 2, last)].astype(np.int64)
    short = (first < 0x80) & (length == first + 2)
    long_length = (first & 0x7F) | (second << 7)
    long = (first >= 0x80) & (second < 0x80) & (length == long_length + 3)
    payload_start = np.where(short, start + 2, start + 3)
    payload_length = np.where(short, first, np.where(long, long_length, 0))
    return payload_start, payload_length, short | long


def doubles(data: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Doubles from 0x21-tagged AnyValues starting at ``start``."""
    picks = start[:, None] + np.arange(1, 9)
    return data[picks].copy().view("<f8").ravel()


def varints(data: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """int64 values of 0x18-tagged AnyValues (varint of length-1 bytes after the tag)."""
    result = np.zeros(len(start), dtype=np.uint64)
    last = len(data) - 1
    for i in range(10):
        inside = i < length - 1
        byte = data[np.minimum(start + 1 + i, last)].astype(np.uint64)
        result |= np.where(inside, (byte & np.uint64(0x7F)) << np.uint64(7 * i), np.uint64(0))
    return result.view(np.int64)
