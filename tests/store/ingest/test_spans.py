"""The NumPy walk over raw span encodings reads every span exactly as protobuf does."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from store.ingest import convert, spans
from store.ingest.otlp_lean_pb2 import Span as LeanSpan
from tests.otlp import attributes, export_request, inference_span

BINARY_FIELDS = ("trace_id", "span_id", "parent_span_id", "trace_state", "name")


def assert_same(walked: spans.SpanFields, parsed: spans.SpanFields) -> None:
    for name in BINARY_FIELDS:
        assert getattr(walked, name).equals(getattr(parsed, name)), name
    for name in ("kind", "start", "end"):
        assert np.array_equal(getattr(walked, name), getattr(parsed, name)), name
    rows = np.arange(len(parsed.attributes))
    assert walked.attributes.encodings(rows).equals(parsed.attributes.encodings(rows))
    assert np.array_equal(walked.attributes.span_index, parsed.attributes.span_index)
    assert (walked.status, walked.events, walked.links) == (
        parsed.status,
        parsed.events,
        parsed.links,
    )


def by_protobuf(encodings: list[bytes]) -> spans.SpanFields:
    return spans.from_messages([LeanSpan.FromString(raw) for raw in encodings])


texts = st.text(max_size=200)
span_strategy = st.builds(
    Span,
    trace_id=st.binary(min_size=0, max_size=16),
    span_id=st.binary(min_size=0, max_size=8),
    parent_span_id=st.binary(max_size=8),
    trace_state=texts,
    name=texts,
    kind=st.integers(0, 5),
    start_time_unix_nano=st.integers(0, 2**64 - 1),
    end_time_unix_nano=st.integers(0, 2**64 - 1),
    attributes=st.dictionaries(
        st.text(min_size=1, max_size=150), st.one_of(texts, st.floats(), st.booleans()), max_size=6
    ).map(attributes),
    events=st.lists(st.builds(Span.Event, name=texts), max_size=2),
    links=st.lists(st.builds(Span.Link, trace_id=st.binary(max_size=16)), max_size=2),
    status=st.builds(Status, code=st.integers(0, 2), message=texts),
    flags=st.integers(0, 2**32 - 1),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(span_strategy, max_size=12))
def test_random_spans_read_the_same_by_the_walk_and_by_protobuf(generated):
    encodings = [span.SerializeToString() for span in generated]
    assert_same(spans.from_encodings(encodings), by_protobuf(encodings))


def test_inference_spans_take_the_walk_not_the_fallback():
    encodings = [inference_span().SerializeToString() for _ in range(50)]
    assert_same(spans.from_encodings(encodings), by_protobuf(encodings))


@pytest.mark.parametrize(
    "unusual",
    [
        Span(name="x", kind=-1).SerializeToString(),  # ten-byte varint
        Span(name="a").SerializeToString() + Span(name="b").SerializeToString(),  # twice
        Span(name="x", dropped_attributes_count=2**30).SerializeToString(),  # long varint
        Span(name="x").SerializeToString() + b"\xa0\x06\x01",  # unknown field 100
    ],
    ids=["negative kind", "a singular field twice", "a long varint", "an unknown field"],
)
def test_encodings_the_walk_leaves_alone_are_read_by_protobuf(unusual):
    encodings = [inference_span().SerializeToString(), unusual]
    with pytest.raises(spans.Unusual):
        spans.from_encodings(encodings)
    assert_same(spans.decode(encodings), by_protobuf(encodings))


def test_a_span_cut_short_is_rejected_alone_and_its_sibling_is_kept():
    request = convert.parse(
        export_request([inference_span(), inference_span()]).SerializeToString()
    )
    whole = request.resource_spans[0].scope_spans[0].spans[0]
    request.resource_spans[0].scope_spans[0].spans[0] = whole[:-3]
    cut = convert.parse(request.SerializeToString())
    [outcome] = convert.convert([convert.Incoming(cut)]).outcomes
    assert (outcome.accepted, outcome.rejected) == (1, 1)
    assert "span is not valid OTLP" in outcome.error_message()
