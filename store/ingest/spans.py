"""The fields of many spans at once, decoded with NumPy from the spans' raw encodings.

Giving every span's fields to Python one object at a time (trace id, span id, name,
times, a bytes object per attribute, ...) would be most of the conversion's cost per
span (measured: ~3.5 of ~5.7 us). The request is parsed with a view that leaves each span as its raw
encoding (``otlp_lean.proto``: ``ScopeSpansRaw``); the encodings of a group are joined
into one buffer and walked field by field for all spans together: each pass reads the
next field's tag and length of every span that has fields left, so the number of
passes is the largest field count of one span (~20), not the number of spans.

The walk handles the encodings protobuf serializers produce: tags of one or two bytes,
lengths and varints of at most three bytes, each singular field at most once, the
wire type each field is declared with. Anything else (a negative kind, a huge dropped
count, a repeated singular field, an unknown wire type) raises ``Unusual`` and the
caller decodes those spans with the protobuf classes instead (``from_messages``):
slower, and exactly protobuf's semantics. A Status that appears more than once is
merged, as protobuf merges a message field, on both paths.

A span whose name or trace_state is not UTF-8 fails to decode as it fails to parse with
the standard OTLP ``Span``: the walk leaves the group to protobuf, whose parser raises
DecodeError (store.ingest.convert then rejects that span alone). Attribute keys and
values, events and links are not checked for UTF-8 here; they are checked span by span
where they are decoded. tests/store/ingest/test_span_walk_differential.py holds both
paths to the standard ``Span`` on encodings assembled byte by byte.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from google.protobuf.empty_pb2 import Empty
from google.protobuf.unknown_fields import UnknownFieldSet

from store.ingest import flat
from store.ingest.flat import FlatAttributes
from store.ingest.otlp_lean_pb2 import Span as LeanSpan

(TRACE_ID, SPAN_ID, TRACE_STATE, PARENT_SPAN_ID, NAME, KIND, START, END) = range(1, 9)
ATTRIBUTES, EVENTS, LINKS, STATUS, FLAGS = 9, 11, 13, 15, 16
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5
# The wire type each Span field is declared with (opentelemetry/proto/trace/v1/trace.proto).
_WIRE_TYPE = np.full(17, -1, dtype=np.int64)
_WIRE_TYPE[[1, 2, 3, 4, 5, 9, 11, 13, 15]] = _LENGTH
_WIRE_TYPE[[6, 10, 12, 14]] = _VARINT
_WIRE_TYPE[[7, 8]] = _FIXED64
_WIRE_TYPE[16] = _FIXED32
_STATUS_TAG = STATUS << 3 | _LENGTH
# A pass costs the same for one span as for thousands: a span with many more fields
# than an inference span (tens) goes to protobuf's parser, which costs per field.
MAX_WALK_PASSES = 256
_PADDING = bytes(16)  # lets every pass peek a few bytes past the end without a bounds check


class Unusual(Exception):
    """Some spans' encodings are valid protobuf the fast walk does not handle (or not
    protobuf at all): ``rows`` are those spans, the others walk normally."""

    def __init__(self, message: str, rows: np.ndarray) -> None:
        super().__init__(message)
        self.rows = rows


@dataclass
class SpanFields:
    """The fields of n spans, as columns; events, links and status only where present."""

    trace_id: pa.Array  # binary
    span_id: pa.Array  # binary
    parent_span_id: pa.Array  # binary
    trace_state: pa.Array  # string
    name: pa.Array  # string
    kind: np.ndarray  # int32
    start: np.ndarray  # uint64
    end: np.ndarray  # uint64
    attributes: FlatAttributes
    status: dict[int, bytes]  # span -> Status encoding
    events: dict[int, list[bytes]]  # span -> Event encodings
    links: dict[int, list[bytes]]  # span -> Link encodings

    def __len__(self) -> int:
        return len(self.kind)


def decode(encodings: list[bytes]) -> SpanFields:
    """The fields of the given span encodings; protobuf's own parser when the walk cannot."""
    try:
        return from_encodings(encodings)
    except Unusual:
        return _from_protobuf(encodings)


def decode_in_parts(encodings: list[bytes]) -> list[tuple[np.ndarray, SpanFields]]:
    """The spans' fields as (span indexes, fields) parts: the spans the walk handles in
    one part, the few it leaves to protobuf in another, so that one unusual span costs
    its own decoding, not its whole group's."""
    everything = np.arange(len(encodings))
    try:
        return [(everything, from_encodings(encodings))]
    except Unusual as unusual:
        odd = unusual.rows
    usual = np.setdiff1d(everything, odd)
    if len(usual) == 0:
        return [(everything, _from_protobuf(encodings))]
    try:
        walked = from_encodings([encodings[i] for i in usual])
    except Unusual:  # not expected: the first walk named every span it could not handle
        return [(everything, _from_protobuf(encodings))]
    return [(usual, walked), (odd, _from_protobuf([encodings[i] for i in odd]))]


def _from_protobuf(encodings: list[bytes]) -> SpanFields:
    fields = from_messages([LeanSpan.FromString(raw) for raw in encodings])
    # The lean schema keeps the last Status of a span, where protobuf merges them all. Each
    # encoding of the Status tag begins with one of two bytes: a span with at most one of
    # those bytes has at most one Status.
    for row, raw in enumerate(encodings):
        if raw.count(_STATUS_TAG) + raw.count(_STATUS_TAG | 0x80) > 1:
            merged = b"".join(
                part.data
                for part in UnknownFieldSet(Empty.FromString(raw))
                if part.field_number == STATUS and part.wire_type == _LENGTH
            )
            fields.status.pop(row, None)
            if merged:
                fields.status[row] = merged
    return fields


def from_encodings(encodings: list[bytes]) -> SpanFields:
    """Walk the joined encodings; raises Unusual for anything the walk does not handle
    (including broken protobuf: the protobuf parser then names the problem); attributes
    protobuf cannot parse are listed in ``attributes.broken``."""
    walked = _Walked.of(encodings)
    kind = walked.kind()
    attributes = walked.attributes()
    # Protobuf merges a message field that appears more than once: the joined encodings
    # parse as that merge. An empty Status reads as no status.
    status = {row: b"".join(parts) for row, parts in walked.sparse(STATUS).items() if any(parts)}
    return SpanFields(
        walked.binary(TRACE_ID),
        walked.binary(SPAN_ID),
        walked.binary(PARENT_SPAN_ID),
        walked.strings(TRACE_STATE),
        walked.strings(NAME),
        kind,
        walked.fixed64(START),
        walked.fixed64(END),
        attributes,
        status,
        walked.sparse(EVENTS),
        walked.sparse(LINKS),
    )


@dataclass
class _Walked:
    """The joined encodings of n spans and one record per field found in them: the span
    it belongs to, its number, where its value starts, its length and (varints) value.
    ``singles`` holds the records of each singular field, at most one per span."""

    n: int
    joined: bytes
    data: np.ndarray
    span: np.ndarray
    field: np.ndarray
    value_start: np.ndarray
    value_length: np.ndarray
    value: np.ndarray
    singles: dict[int, np.ndarray]

    @classmethod
    def of(cls, encodings: list[bytes]) -> _Walked:
        """Walk ``encodings``; raises Unusual for the spans the walk leaves to protobuf."""
        n = len(encodings)
        lengths = np.fromiter(map(len, encodings), dtype=np.int64, count=n)
        ends = np.cumsum(lengths)
        starts = ends - lengths
        joined = b"".join(encodings) + _PADDING
        data = np.frombuffer(joined, dtype=np.uint8)
        span, field, value_start, value_length, value, odd = _walk(data, starts, ends)
        singles = {}
        for number in (TRACE_ID, SPAN_ID, TRACE_STATE, PARENT_SPAN_ID, NAME, KIND, START, END):
            rows = np.flatnonzero(field == number)
            if len(rows):
                odd |= np.bincount(span[rows], minlength=n) > 1  # protobuf: the last one wins
            singles[number] = rows
        if odd.any():
            raise Unusual("spans the walk leaves to protobuf", np.flatnonzero(odd))
        return cls(n, joined, data, span, field, value_start, value_length, value, singles)

    def binary(self, number: int) -> pa.Array:
        rows = self.singles[number]
        rows = rows[np.argsort(self.span[rows])]  # increasing offsets, as ranges() needs
        # One more range, empty, at the end: where spans without the field point.
        end = np.array([len(self.joined)], np.int64)
        values = flat.ranges(
            pa.py_buffer(self.joined),
            np.concatenate([self.value_start[rows], end]),
            np.concatenate([self.value_length[rows], [0]]),
        )
        picks = np.full(self.n, 2 * len(rows) + 1, np.int64)
        picks[self.span[rows]] = 2 * np.arange(len(rows)) + 1
        return values.take(pa.array(picks))

    def strings(self, number: int) -> pa.Array:
        raw = self.binary(number)
        try:
            return raw.cast(pa.string())
        except pa.ArrowInvalid as err:  # protobuf's parser says what is wrong
            raise Unusual(f"span field {number} is not valid UTF-8", _not_utf8(raw)) from err

    def fixed64(self, number: int) -> np.ndarray:
        rows = self.singles[number]
        out = np.zeros(self.n, np.uint64)
        picks = self.value_start[rows][:, None] + np.arange(8)
        out[self.span[rows]] = self.data[picks].copy().view("<u8").ravel()
        return out

    def kind(self) -> np.ndarray:
        rows = self.singles[KIND]
        kind = np.zeros(self.n, np.int32)
        kind[self.span[rows]] = self.value[rows]
        return kind

    def attributes(self) -> FlatAttributes:
        rows = np.flatnonzero(self.field == ATTRIBUTES)
        # Records come pass by pass; a stable sort puts them in span order, each span's in
        # its own order (the order FlatAttributes and the attributes map rely on).
        rows = rows[np.argsort(self.span[rows], kind="stable")]
        return flat.locate(
            self.joined, self.span[rows], self.value_start[rows], self.value_length[rows]
        )

    def sparse(self, number: int) -> dict[int, list[bytes]]:
        """Each span's values of a repeated (or merged) field, in their order."""
        found: dict[int, list[bytes]] = {}
        rows = np.flatnonzero(self.field == number)
        for row in rows[np.argsort(self.span[rows], kind="stable")]:
            begin = int(self.value_start[row])
            found.setdefault(int(self.span[row]), []).append(
                self.joined[begin : begin + int(self.value_length[row])]
            )
        return found


def _walk(
    data: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every field of every span: (span, field number, value start, value length, varint),
    and which spans the walk does not handle (a tag over two bytes, an unexpected wire
    type or number, a varint over three bytes, a field past the end of its span, more
    than MAX_WALK_PASSES fields): those leave the walk at once, their records unused.

    Records come out pass by pass; within one span they keep their order.
    """
    spans, fields, value_starts, value_lengths, values = [], [], [], [], []
    odd = np.zeros(len(starts), dtype=bool)
    position = starts.copy()
    active = np.flatnonzero(position < ends)
    passes = 0
    while len(active):
        passes += 1
        if passes > MAX_WALK_PASSES:
            odd[active] = True
            break
        at = position[active]
        first, second = data[at].astype(np.int64), data[at + 1].astype(np.int64)
        two_bytes = first >= 0x80
        tag = np.where(two_bytes, (first & 0x7F) | (second << 7), first)
        number, wire = tag >> 3, tag & 7
        after_tag = at + 1 + two_bytes
        length, varint_bytes = _short_varint(data, after_tag)
        is_length, is_varint = wire == _LENGTH, wire == _VARINT
        value_start = np.where(is_length, after_tag + varint_bytes, after_tag)
        value_length = np.select(
            [is_length, is_varint, wire == _FIXED64], [length, varint_bytes, 8], default=4
        )
        following = value_start + value_length
        span_end = ends[active]
        unusual = (
            (two_bytes & (second >= 0x80))
            | (_WIRE_TYPE[np.minimum(number, 16)] != wire)
            | (number > 16)
            | ((is_length | is_varint) & (varint_bytes == 0))
            | (following > span_end)
        )
        if unusual.any():
            odd[active[unusual]] = True
        spans.append(active)
        fields.append(number)
        value_starts.append(value_start)
        value_lengths.append(np.where(is_length, length, 0))
        values.append(np.where(is_varint, length, 0))
        position[active] = following
        active = active[(following < span_end) & ~unusual]
    if not spans:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty, empty, empty, odd
    span, field, value_start, value_length, value = (
        np.concatenate(parts) for parts in (spans, fields, value_starts, value_lengths, values)
    )
    return span, field, value_start, value_length, value, odd


def _not_utf8(values: pa.Array) -> np.ndarray:
    """The rows of a binary array that are not UTF-8 (one by one: only after a failure)."""
    rows = []
    for row, value in enumerate(values.to_pylist()):
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            rows.append(row)
    return np.array(rows, dtype=np.int64)


def _short_varint(data: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value, byte count) of the varint at each offset; byte count 0 when over 3 bytes."""
    b0, b1, b2 = (data[at + i].astype(np.int64) for i in range(3))
    count = np.where(b0 < 0x80, 1, np.where(b1 < 0x80, 2, np.where(b2 < 0x80, 3, 0)))
    value = (b0 & 0x7F) | np.where(count >= 2, (b1 & 0x7F) << 7, 0)
    value |= np.where(count == 3, (b2 & 0x7F) << 14, 0)
    return value, count


def from_messages(spans: list[LeanSpan]) -> SpanFields:
    """The same columns from parsed spans, one Python object per field; a span's status
    is the last Status encoding the lean schema kept (``decode`` merges them all)."""
    n = len(spans)
    return SpanFields(
        pa.array([s.trace_id for s in spans], pa.binary()),
        pa.array([s.span_id for s in spans], pa.binary()),
        pa.array([s.parent_span_id for s in spans], pa.binary()),
        pa.array([s.trace_state for s in spans], pa.string()),
        pa.array([s.name for s in spans], pa.string()),
        np.fromiter((s.kind for s in spans), dtype=np.int32, count=n),
        np.fromiter((s.start_time_unix_nano for s in spans), dtype=np.uint64, count=n),
        np.fromiter((s.end_time_unix_nano for s in spans), dtype=np.uint64, count=n),
        flat.flatten([list(s.attributes) for s in spans]),
        {i: s.status for i, s in enumerate(spans) if s.status},
        {i: list(s.events) for i, s in enumerate(spans) if s.events},
        {i: list(s.links) for i, s in enumerate(spans) if s.links},
    )
