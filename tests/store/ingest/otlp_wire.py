"""Hypothesis strategies for OTLP trace messages assembled byte by byte.

Every encoding drawn here is valid protobuf that any conforming writer may send, not
only what the common serializers send: fields in any order, singular fields repeated
(the last wins, a message field merges), unknown fields of every wire type, default
values written out, tags and varints longer than needed (up to their limits of 5 and 10
bytes), negative int32 and int64 values as 10-byte varints, empty and long strings, every
AnyValue kind nested, doubles with any bit pattern (NaN, infinities), duplicate keys.
OTLP's trace messages have no repeated scalar fields, so nothing here is packed.

Each span is drawn either "plain" (mostly what the NumPy walk in store/ingest/spans.py
handles itself) or "odd" (anything else valid, which the walk leaves to protobuf), so
both paths are exercised in every run. Strings are valid UTF-8 throughout.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from hypothesis import strategies as st

VARINT, FIXED64, LENGTH, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5
Draw = Callable[[st.SearchStrategy], object]

# Span fields (opentelemetry/proto/trace/v1/trace.proto).
TRACE_ID, SPAN_ID, TRACE_STATE, PARENT_SPAN_ID, NAME, KIND, START, END = range(1, 9)
ATTRIBUTES, DROPPED_ATTRIBUTES, EVENTS, DROPPED_EVENTS, LINKS, DROPPED_LINKS = range(9, 15)
STATUS, FLAGS = 15, 16
DECLARED_WIRE_TYPES = {
    **dict.fromkeys([TRACE_ID, SPAN_ID, TRACE_STATE, PARENT_SPAN_ID, NAME], LENGTH),
    **dict.fromkeys([ATTRIBUTES, EVENTS, LINKS, STATUS], LENGTH),
    **dict.fromkeys([KIND, DROPPED_ATTRIBUTES, DROPPED_EVENTS, DROPPED_LINKS], VARINT),
    START: FIXED64,
    END: FIXED64,
    FLAGS: FIXED32,
}


def varint(value: int, padding: int = 0) -> bytes:
    """``value`` (0 <= value < 2**64) as a varint with ``padding`` redundant zero groups,
    never longer than 10 bytes."""
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append(value & 0x7F)
        value >>= 7
    groups += [0] * min(padding, 10 - len(groups))
    return bytes(group | 0x80 for group in groups[:-1]) + bytes([groups[-1]])


def tag(number: int, wire_type: int, padding: int = 0) -> bytes:
    """A field tag, at most 5 bytes long however much padding is asked for."""
    encoded = varint((number << 3) | wire_type)
    return varint((number << 3) | wire_type, min(padding, 5 - len(encoded)))


def as_uint64(value: int) -> int:
    """A signed value as protobuf writes int32 and int64 fields: two's complement in 64 bits."""
    return value & (2**64 - 1)


class Writer:
    """Encodes fields for one message. ``odd`` allows the encodings the walk leaves alone;
    a third of writers pad tags and varints (to at most 2 and 3 bytes unless odd)."""

    def __init__(self, draw: Draw, odd: bool) -> None:
        self.draw = draw
        self.odd = odd
        self.padded = draw(st.sampled_from([False, False, True]))

    def _tag_padding(self) -> int:
        if not self.padded:
            return 0
        return self.draw(st.integers(0, 4) if self.odd else st.integers(0, 1))

    def _varint_padding(self) -> int:
        if not self.padded:
            return 0
        return self.draw(st.integers(0, 9) if self.odd else st.integers(0, 1))

    def tag(self, number: int, wire_type: int) -> bytes:
        return tag(number, wire_type, self._tag_padding())

    def varint(self, number: int, value: int) -> bytes:
        return self.tag(number, VARINT) + varint(value, self._varint_padding())

    def length_delimited(self, number: int, payload: bytes) -> bytes:
        length = varint(len(payload))  # protobuf reads lengths of at most 5 bytes
        padding = min(self._varint_padding(), 5 - len(length))
        return self.tag(number, LENGTH) + varint(len(payload), padding) + payload

    def fixed64(self, number: int, payload: bytes) -> bytes:
        return self.tag(number, FIXED64) + payload

    def fixed32(self, number: int, payload: bytes) -> bytes:
        return self.tag(number, FIXED32) + payload

    def string(self, number: int, strategy: st.SearchStrategy[str] | None = None) -> bytes:
        text = self.draw(strategy if strategy is not None else texts)
        return self.length_delimited(number, text.encode("utf-8"))

    def unknown(self, lowest: int, allow_groups: bool = True) -> bytes:
        """A field whose number the message does not declare, of any wire type."""
        number = self.draw(
            st.one_of(
                st.sampled_from([lowest, 100, 2047, 2048, 2**29 - 1]),
                st.integers(lowest, 2**29 - 1),
            )
        )
        return self.any_wire_type(number, allow_groups)

    def any_wire_type(
        self, number: int, allow_groups: bool = True, declared: int | None = None
    ) -> bytes:
        """A field of the given number with a value of any wire type but ``declared``:
        protobuf keeps it as an unknown field."""
        kinds = [VARINT, FIXED64, LENGTH, FIXED32] + ([START_GROUP] if allow_groups else [])
        wire_type = self.draw(st.sampled_from([kind for kind in kinds if kind != declared]))
        if wire_type == VARINT:
            return self.varint(number, self.draw(uint64s))
        if wire_type == FIXED64:
            return self.fixed64(number, self.draw(st.binary(min_size=8, max_size=8)))
        if wire_type == FIXED32:
            return self.fixed32(number, self.draw(st.binary(min_size=4, max_size=4)))
        if wire_type == LENGTH:
            return self.length_delimited(number, self.draw(st.binary(max_size=40)))
        count = self.draw(st.integers(0, 2))
        inside = b"".join(self.unknown(1, allow_groups=False) for _ in range(count))
        return self.tag(number, START_GROUP) + inside + self.tag(number, END_GROUP)

    def message(
        self, required: list[bytes], optional: list[tuple[bool, Callable[[], bytes]]]
    ) -> bytes:
        """The fields in a drawn order; each optional one is (may repeat?, a drawer of a
        new encoding of it), so a repeated field holds a value of its own each time."""
        fields = list(required)
        for repeatable, encode in optional:
            if self.draw(st.booleans()):
                fields.append(encode())
                while repeatable and self.draw(st.booleans()):
                    fields.append(encode())
        return b"".join(self.draw(st.permutations(fields)))


uint64s = st.one_of(
    st.integers(0, 2**7 - 1),
    st.sampled_from([0, 2**7, 2**14 - 1, 2**14, 2**21 - 1, 2**21, 2**32 - 1, 2**63, 2**64 - 1]),
    st.integers(0, 2**64 - 1),
)
int64s = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([-1, 0, 1, -(2**63)]))
texts = st.one_of(
    st.text(max_size=20),
    st.text(max_size=20).map(lambda text: "m" * 115 + text),  # around the one-byte length limit
)
names = st.one_of(texts, st.just("x" * 20_000))  # a three-byte length
keys = st.one_of(
    st.sampled_from(["", "dup", "service.name", "gen_ai.request.model", "k" * 130]),
    st.text(max_size=12),
)
doubles = st.one_of(
    st.floats().map(lambda value: struct.pack("<d", value)),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), -0.0]).map(
        lambda value: struct.pack("<d", value)
    ),
    st.binary(min_size=8, max_size=8),  # any bit pattern, NaN payloads included
)


@st.composite
def scalar_any_value(draw: Draw) -> bytes:
    """An AnyValue encoding without nesting: each kind, several kinds (the last set wins),
    unknown fields, or nothing set at all."""
    writer = Writer(draw, odd=draw(st.booleans()))
    kind = draw(st.sampled_from(["string", "bool", "int", "double", "bytes", "empty"]))
    fields = {
        "string": lambda: writer.string(1),
        "bool": lambda: writer.varint(2, draw(st.sampled_from([0, 1, 2, 2**64 - 1]))),
        "int": lambda: writer.varint(3, as_uint64(draw(int64s))),
        "double": lambda: writer.fixed64(4, draw(doubles)),
        "bytes": lambda: writer.length_delimited(7, draw(st.binary(max_size=200))),
        "empty": lambda: b"",
    }
    encoding = fields[kind]()
    if writer.odd:
        for _ in range(draw(st.integers(0, 2))):
            extra = draw(st.sampled_from(sorted(fields)))
            encoding += fields[extra]() if draw(st.booleans()) else writer.unknown(8)
    return encoding


@st.composite
def nested_any_value(draw: Draw, children: st.SearchStrategy[bytes]) -> bytes:
    """An array or key-value list of drawn AnyValues (each element a field of its own)."""
    writer = Writer(draw, odd=draw(st.booleans()))
    values = draw(st.lists(children, max_size=3))
    if draw(st.booleans()):
        inner = b"".join(writer.length_delimited(1, value) for value in values)
        return writer.length_delimited(5, inner)
    pairs = b"".join(writer.length_delimited(1, key_value_from(writer, value)) for value in values)
    return writer.length_delimited(6, pairs)


def nested_to(depth: int) -> st.SearchStrategy[bytes]:
    """AnyValues nested at most ``depth`` arrays or key-value lists deep."""
    if depth == 0:
        return scalar_any_value()
    return st.one_of(scalar_any_value(), nested_any_value(nested_to(depth - 1)))


any_values = nested_to(3)


def key_value_from(writer: Writer, value: bytes) -> bytes:
    """A KeyValue encoding with a drawn key; odd writers reorder, repeat and add fields."""
    key = writer.string(1, keys)
    if not writer.odd:
        return key + writer.length_delimited(2, value)
    optional = [(True, lambda: writer.string(1, keys)), (True, lambda: writer.unknown(3))]
    return writer.message([key, writer.length_delimited(2, value)], optional)


@st.composite
def key_values(draw: Draw) -> bytes:
    writer = Writer(draw, odd=draw(st.sampled_from([False, False, True])))
    return key_value_from(writer, draw(any_values))


def fixed_bytes(size: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=size, max_size=size)


@st.composite
def event_encodings(draw: Draw) -> bytes:
    """Events and links stay raw encodings in the decoded spans: only their bounds matter."""
    writer = Writer(draw, odd=draw(st.booleans()))
    return writer.message(
        [],
        [
            (True, lambda: writer.fixed64(1, draw(fixed_bytes(8)))),
            (True, lambda: writer.string(2)),
            (True, lambda: writer.unknown(5)),
        ],
    )


@st.composite
def link_encodings(draw: Draw) -> bytes:
    writer = Writer(draw, odd=draw(st.booleans()))
    return writer.message(
        [],
        [
            (True, lambda: writer.length_delimited(1, draw(st.binary(max_size=16)))),
            (True, lambda: writer.length_delimited(4, draw(key_values()))),
            (True, lambda: writer.unknown(7)),
        ],
    )


@st.composite
def status_encodings(draw: Draw) -> bytes:
    writer = Writer(draw, odd=draw(st.booleans()))
    codes = st.one_of(st.integers(0, 2), st.integers(-(2**31), 2**31 - 1))
    return writer.message(
        [],
        [
            (True, lambda: writer.string(2)),
            (True, lambda: writer.varint(3, as_uint64(draw(codes)))),
        ],
    )


@st.composite
def span_encodings(draw: Draw) -> bytes:
    """One span's encoding; about one in four is odd."""
    writer = Writer(draw, odd=draw(st.sampled_from([False, False, False, True])))
    ids = st.one_of(fixed_bytes(16), st.binary(max_size=40))
    short_ids = st.one_of(fixed_bytes(8), st.binary(max_size=20))
    kinds = st.one_of(st.integers(0, 5), st.integers(0, 2**21 - 1))
    counts = st.integers(0, 2**21 - 1)
    if writer.odd:
        kinds = st.one_of(kinds, st.integers(-(2**31), 2**31 - 1), uint64s)
        counts = uint64s
    singular = [
        lambda: writer.length_delimited(TRACE_ID, draw(ids)),
        lambda: writer.length_delimited(SPAN_ID, draw(short_ids)),
        lambda: writer.string(TRACE_STATE),
        lambda: writer.length_delimited(PARENT_SPAN_ID, draw(short_ids)),
        lambda: writer.string(NAME, names),
        lambda: writer.varint(KIND, as_uint64(draw(kinds))),
        lambda: writer.fixed64(START, draw(fixed_bytes(8))),
        lambda: writer.fixed64(END, draw(fixed_bytes(8))),
    ]
    optional = [(writer.odd, encode) for encode in singular] + [
        (True, lambda: writer.varint(DROPPED_ATTRIBUTES, draw(counts))),
        (True, lambda: writer.varint(DROPPED_EVENTS, draw(counts))),
        (True, lambda: writer.varint(DROPPED_LINKS, draw(counts))),
        (True, lambda: writer.length_delimited(STATUS, draw(status_encodings()))),
        (True, lambda: writer.fixed32(FLAGS, draw(fixed_bytes(4)))),
        (True, lambda: writer.length_delimited(EVENTS, draw(event_encodings()))),
        (True, lambda: writer.length_delimited(LINKS, draw(link_encodings()))),
    ]
    attributes = [
        writer.length_delimited(ATTRIBUTES, kv) for kv in draw(st.lists(key_values(), max_size=6))
    ]
    if writer.odd:
        attributes += [writer.unknown(17) for _ in range(draw(st.integers(0, 2)))]
        wrong = draw(st.lists(st.sampled_from(sorted(DECLARED_WIRE_TYPES)), max_size=2))
        attributes += [
            writer.any_wire_type(number, declared=DECLARED_WIRE_TYPES[number]) for number in wrong
        ]
    return writer.message(attributes, optional)
