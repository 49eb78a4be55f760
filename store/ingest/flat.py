"""All attributes of a batch of spans as flat arrays, located and decoded without a Python loop.

The lean schema hands each span's attributes over as the raw encodings of OTLP
``KeyValue`` messages. They are joined into one byte buffer (an Arrow binary array, one
element per attribute) and located by arithmetic: the common encoding of a key-value
is a fixed shape

    0x0A <key length> <key bytes> 0x12 <value length> <AnyValue bytes>

with lengths under 128 ("regular" rows). Finding every row of a key is then an Arrow
``starts_with`` on the encoded prefix ``0x0A <len> key 0x12``. An AnyValue in turn is
usually one of

    0x0A <length, 1-2 varint bytes> <utf-8>   string
    0x21 <8 bytes little-endian>               double
    0x10 <0|1>                                 bool
    0x18 <varint>                              int

so values are type-checked and decoded per column at once. Rows of any other shape (a
long key or value, an unusual but valid encoding) are parsed with the standard protobuf
classes, row by row: slower, never wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf.message import DecodeError
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

TAG_STRING, TAG_BOOL, TAG_INT, TAG_DOUBLE = 0x0A, 0x10, 0x18, 0x21


@dataclass
class FlatAttributes:
    """One row per attribute of every span: which span, which key, where its value lies."""

    span_index: np.ndarray  # int64, row -> span
    # binary over data, alternating the bytes between encodings and an encoding: row i
    # is element 2i + 1 (so encodings lying apart in a buffer need no copy)
    encoded: pa.Array
    encoded_start: np.ndarray  # int64, row -> offset of its encoding in data
    data: np.ndarray  # uint8: the encodings (maybe among other bytes), then irregular values
    key_length: np.ndarray  # int64 (regular rows)
    value_start: np.ndarray  # int64, row -> offset of its AnyValue in data
    value_length: np.ndarray  # int64
    regular: np.ndarray  # bool
    irregular_keys: dict[int, str] = field(default_factory=dict)  # row -> key
    broken: list[int] = field(default_factory=list)  # rows protobuf cannot parse
    _key_codes: dict[bytes, int] | None = field(default=None, repr=False)
    _codes: np.ndarray | None = field(default=None, repr=False)

    def key_codes(self) -> tuple[dict[bytes, int], np.ndarray]:
        """Each row's key as a small integer, and the integer of each key (as bytes, which
        need not be UTF-8): promoted columns then find their rows by comparing integers,
        and repeated keys of a span are found by arithmetic. Broken rows get -1."""
        if self._key_codes is None or self._codes is None:
            self._key_codes, self._codes = self._encode_keys()
        return self._key_codes, self._codes

    def _encode_keys(self) -> tuple[dict[bytes, int], np.ndarray]:
        lengths = np.where(self.regular, self.key_length, 0)
        keys = ranges(pa.py_buffer(self.data), self.encoded_start + 2, lengths)
        encoded = pc.dictionary_encode(keys.take(pa.array(np.arange(1, 2 * len(self), 2))))
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        key_codes = {key: code for code, key in enumerate(encoded.dictionary.to_pylist())}
        for row, key in self.irregular_keys.items():
            codes[row] = key_codes.setdefault(key.encode("utf-8"), len(key_codes))
        codes[self.broken] = -1
        return key_codes, codes

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

    def rows_of_key(self, key: str) -> np.ndarray:
        """Rows whose key is ``key``, in span order."""
        key_codes, codes = self.key_codes()
        code = key_codes.get(key.encode("utf-8"))
        return np.zeros(0, dtype=np.int64) if code is None else np.flatnonzero(codes == code)

    def encodings(self, rows: np.ndarray) -> pa.Array:
        """The KeyValue encodings of the given rows, as a binary array."""
        return self.encoded.take(pa.array(2 * rows + 1))

    def keys_of(self, rows: np.ndarray) -> pa.Array:
        """The keys of the given rows, as a string array in the same order."""
        regular = self.regular[rows]
        starts = self.encoded_start[rows] + 2
        keys = gather_strings(self.data, starts, np.where(regular, self.key_length[rows], 0))
        if regular.all():
            return keys
        irregular = [self.irregular_keys[int(row)] for row in rows[~regular]]
        return pc.replace_with_mask(keys, pa.array(~regular), pa.array(irregular, pa.string()))


def flatten(per_span: list[list[bytes]]) -> FlatAttributes:
    """Locate keys and values in the raw KeyValue encodings of each span's attributes.

    Rows protobuf cannot parse are listed in ``broken``.
    """
    counts = np.fromiter(map(len, per_span), dtype=np.int64, count=len(per_span))
    encoded = [kv for attributes in per_span for kv in attributes]
    span_index = np.repeat(np.arange(len(per_span), dtype=np.int64), counts)
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    starts = np.cumsum(lengths) - lengths
    return locate(b"".join(encoded), span_index, starts, lengths)


def locate(
    buffer: bytes, span_index: np.ndarray, starts: np.ndarray, lengths: np.ndarray
) -> FlatAttributes:
    """As ``flatten``, for encodings lying in ``buffer`` at increasing, disjoint offsets
    (in span order); nothing is copied."""
    data = np.frombuffer(buffer, dtype=np.uint8)
    binary = ranges(pa.py_buffer(buffer), starts, lengths)
    key_length, value_start, value_length, regular = _fixed_shape(data, starts, lengths)
    flat = FlatAttributes(
        span_index, binary, starts, data, key_length, value_start, value_length, regular
    )
    irregular = np.flatnonzero(~regular)
    if len(irregular):
        raw = flat.encodings(irregular).to_pylist()
        _parse_irregular(flat, raw, irregular)
    return flat


def ranges(buffer: pa.Buffer, starts: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """A binary array over ``buffer`` (no copy): the bytes before the first range, the
    first range, the bytes up to the second, ...; range i is element 2i + 1. The ranges
    must be increasing and disjoint."""
    offsets = np.zeros(2 * len(starts) + 1, dtype=np.int32)  # a group is far below 2 GiB
    offsets[1::2] = starts
    offsets[2::2] = starts + lengths
    return pa.BinaryArray.from_buffers(
        pa.binary(), 2 * len(starts), [None, pa.py_buffer(offsets), buffer]
    )


def _fixed_shape(
    data: np.ndarray, starts: np.ndarray, lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Key length, value start and value length of rows in the common shape; and which are."""
    if len(data) == 0:
        empty = np.zeros(len(starts), dtype=np.int64)
        return empty, empty, empty, np.zeros(len(starts), dtype=bool)
    last = len(data) - 1

    def peek(offsets: np.ndarray) -> np.ndarray:
        return data[np.minimum(offsets, last)].astype(np.int64)

    key_length = peek(starts + 1)
    value_tag_at = starts + 2 + key_length
    value_length = peek(value_tag_at + 1)
    regular = (
        (lengths >= 4)
        & (peek(starts) == 0x0A)
        & (key_length < 0x80)
        & (peek(value_tag_at) == 0x12)
        & (value_length < 0x80)
        & (lengths == 4 + key_length + value_length)
    )
    return key_length, value_tag_at + 2, value_length, regular


def _parse_irregular(flat: FlatAttributes, encodings: list[bytes], rows: np.ndarray) -> None:
    """Parse irregular rows with protobuf; their values are appended to ``flat.data``.

    A row protobuf refuses (malformed, a key or string that is not UTF-8, nesting past
    protobuf's depth limit) is recorded in ``flat.broken`` with an empty value."""
    extra, offset = [], len(flat.data)
    for row, raw in zip(rows, encodings, strict=True):
        try:
            kv = KeyValue.FromString(raw)
        except DecodeError:
            flat.broken.append(int(row))
            flat.irregular_keys[int(row)] = ""
            flat.value_start[row], flat.value_length[row] = offset, 0
            continue
        value = kv.value.SerializeToString()
        flat.irregular_keys[int(row)] = kv.key
        flat.value_start[row], flat.value_length[row] = offset, len(value)
        extra.append(value)
        offset += len(value)
    flat.data = np.concatenate([flat.data, np.frombuffer(b"".join(extra), dtype=np.uint8)])


def gather_strings(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """A string array of the byte ranges; raises pyarrow.ArrowInvalid on invalid UTF-8."""
    offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    picks = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)
    strings = pa.LargeStringArray.from_buffers(
        len(starts), pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data[picks]))
    )
    strings.validate(full=True)
    return strings.cast(pa.string())


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
    for i in range(int(length.max(initial=1)) - 1):
        inside = i < length - 1
        byte = data[np.minimum(start + 1 + i, last)].astype(np.uint64)
        result |= np.where(inside, (byte & np.uint64(0x7F)) << np.uint64(7 * i), np.uint64(0))
    return result.view(np.int64)


def single_varints(data: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Per tagged AnyValue at ``start`` of ``length`` bytes: whether the bytes after the
    tag are exactly one varint of at most 10 bytes (every byte but the last continues)."""
    ok = (length >= 2) & (length <= 11)
    last = len(data) - 1
    for i in range(int(length.max(initial=1)) - 1):
        inside = i < length - 1
        continues = data[np.minimum(start + 1 + i, last)] >= 0x80
        is_last = i == length - 2
        ok &= ~inside | (continues != is_last)
    return ok
