"""Differential test: spans.decode reads every valid span encoding exactly as protobuf does.

The encodings are assembled byte by byte (tests/store/ingest/otlp_wire.py), so they cover
what protobuf writers may send, not only what they usually send. The reference parses
each span with the standard ``opentelemetry.proto.trace.v1.Span`` and reads its fields
straightforwardly; the decoded columns must hold the same values, attributes included
(span, key and value, in order). Run longer with ``HYPOTHESIS_PROFILE=long``
(docs/testing.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest
from google.protobuf.message import DecodeError
from hypothesis import event, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from store.ingest import spans
from tests.store.ingest import otlp_wire as wire

# "ci" or "long" (tests/store/ingest/conftest.py)
FUZZING = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@dataclass
class SpanView:
    """One span's decoded content as plain Python values; messages as canonical bytes."""

    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    trace_state: str
    name: str
    kind: int
    start: int
    end: int
    attributes: list[tuple[str, bytes]]
    status: bytes
    events: list[bytes]
    links: list[bytes]


def canonical(message) -> bytes:
    return message.SerializeToString(deterministic=True)


def by_reference(encodings: list[bytes]) -> list[SpanView]:
    """Each span as the standard OTLP message reads it."""
    views = []
    for raw in encodings:
        span = Span.FromString(raw)
        views.append(
            SpanView(
                span.trace_id,
                span.span_id,
                span.parent_span_id,
                span.trace_state,
                span.name,
                span.kind,
                span.start_time_unix_nano,
                span.end_time_unix_nano,
                [(kv.key, canonical(kv.value)) for kv in span.attributes],
                canonical(span.status),
                [canonical(e) for e in span.events],
                [canonical(link) for link in span.links],
            )
        )
    return views


def decoded(fields: spans.SpanFields) -> list[SpanView]:
    """The same view of the decoded columns."""
    attributes = fields.attributes
    rows = np.arange(len(attributes))
    keys = attributes.keys_of(rows).to_pylist()
    per_span: list[list[tuple[str, bytes]]] = [[] for _ in range(len(fields))]
    for row, (span, key) in enumerate(zip(attributes.span_index, keys, strict=True)):
        value = AnyValue.FromString(attributes.raw_value(row))
        per_span[int(span)].append((key, canonical(value)))
    return [
        SpanView(
            fields.trace_id[i].as_py(),
            fields.span_id[i].as_py(),
            fields.parent_span_id[i].as_py(),
            fields.trace_state[i].as_py(),
            fields.name[i].as_py(),
            int(fields.kind[i]),
            int(fields.start[i]),
            int(fields.end[i]),
            per_span[i],
            canonical(Status.FromString(fields.status.get(i, b""))),
            [canonical(Span.Event.FromString(e)) for e in fields.events.get(i, [])],
            [canonical(Span.Link.FromString(link)) for link in fields.links.get(i, [])],
        )
        for i in range(len(fields))
    ]


def assert_keys_found(fields: spans.SpanFields) -> None:
    """rows_of_key finds exactly the rows holding each key, in span order."""
    attributes = fields.attributes
    keys = attributes.keys_of(np.arange(len(attributes))).to_pylist()
    for key in set(keys):
        expected = [row for row, name in enumerate(keys) if name == key]
        assert attributes.rows_of_key(key).tolist() == expected, key


@FUZZING
@given(st.lists(wire.span_encodings(), max_size=6))
def test_every_valid_span_encoding_decodes_as_protobuf_reads_it(encodings):
    try:
        spans.from_encodings(encodings)
        event("the NumPy walk")
    except spans.Unusual:
        event("protobuf, as the walk declined")
    fields = spans.decode(encodings)
    assert decoded(fields) == by_reference(encodings)
    assert_keys_found(fields)


@pytest.mark.parametrize("field", [wire.TRACE_STATE, wire.NAME])
def test_a_span_string_that_is_not_utf8_fails_decoding_as_in_protobuf(field):
    plain = wire.tag(wire.NAME, wire.LENGTH) + b"\x02ok"
    broken = wire.tag(field, wire.LENGTH) + b"\x02\xff\xfe"
    with pytest.raises(DecodeError):
        Span.FromString(broken)
    with pytest.raises(DecodeError):
        spans.decode([plain, broken])
