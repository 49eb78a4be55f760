"""Damaged requests are refused whole or decided span by span, never anything else.

Valid ExportTraceServiceRequest bytes, or single spans inside an intact request, are
damaged the ways a wire or a buggy client damages them: bits flipped, bytes overwritten,
inserted or cut off, a stretch repeated.
Parsing and converting the result must raise InvalidRequest (INVALID_ARGUMENT) or
account for every span of the request as accepted or rejected; any other exception is a
bug. A healthy request converted in the same group keeps all its spans whenever the
group converts. Run longer with ``HYPOTHESIS_PROFILE=long`` (docs/testing.md).
"""

from __future__ import annotations

import os

from hypothesis import event, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from parallax import conventions as conv
from store.ingest import convert
from tests.otlp import BASE_TIME_NS, attributes, export_request
from tests.store.ingest import otlp_wire as wire

# "ci" or "long" (tests/store/ingest/conftest.py)
FUZZING = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def inference_span(n: int) -> bytes:
    """A valid span with promoted attributes of every column type, identified by ``n``."""
    span = Span(
        trace_id=n.to_bytes(16, "big"),
        span_id=n.to_bytes(8, "big"),
        name=f"inference {n}",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=BASE_TIME_NS + n,
        end_time_unix_nano=BASE_TIME_NS + n + 12_500_000,
    )
    span.attributes.extend(
        attributes(
            {
                conv.FEATURE: "fraud-scoring",
                conv.GEN_AI_REQUEST_MODEL: "fraud-gbm",
                conv.OUTPUT_SCORE: n / 7,
                conv.COLD_START: n % 2 == 0,
                conv.OUTPUT_TOPK: ["a", "b"],
                "app.count": n,
                "app.nested": {"list": [1, "two", 3.0], "flag": True},
            }
        )
    )
    span.events.add(time_unix_nano=BASE_TIME_NS + n, name="token").attributes.extend(
        attributes({"index": n})
    )
    span.links.add(trace_id=bytes(range(16)), span_id=bytes(range(8)))
    span.status.code = n % 3
    span.status.message = "fine" if n % 2 else ""
    return span.SerializeToString()


INFERENCE_SPANS = [inference_span(n) for n in range(1, 5)]


VALID_SPANS = st.one_of(st.sampled_from(INFERENCE_SPANS), wire.span_encodings())


@st.composite
def requests(draw, spans: st.SearchStrategy[bytes] = VALID_SPANS) -> bytes:
    """A request of one to two resources with scopes of a few spans each, all valid but
    for what ``spans`` draws."""
    writer = wire.Writer(draw, odd=False)
    resources = []
    for _ in range(draw(st.integers(1, 2))):
        resource = b"".join(
            writer.length_delimited(1, kv) for kv in draw(st.lists(wire.key_values(), max_size=2))
        )
        scopes = []
        for _ in range(draw(st.integers(1, 2))):
            scope = writer.string(1) + writer.string(2)
            encoded = [
                writer.length_delimited(2, span) for span in draw(st.lists(spans, max_size=2))
            ]
            scopes.append(writer.length_delimited(1, scope) + b"".join(encoded))
        resources.append(
            writer.length_delimited(1, resource)
            + b"".join(writer.length_delimited(2, scope) for scope in scopes)
        )
    return b"".join(writer.length_delimited(1, resource) for resource in resources)


@st.composite
def damaged(draw, valid: st.SearchStrategy[bytes]) -> bytes:
    """``valid`` bytes with one to three kinds of damage applied in turn."""
    data = bytearray(draw(valid))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        damage = draw(st.sampled_from(["flip", "overwrite", "insert", "cut", "repeat", "drop"]))
        if damage == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif damage == "overwrite" and at < len(data):
            data[at] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF, 0xC0, 0xED]))
        elif damage == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif damage == "cut":
            del data[at:]
        elif damage == "repeat":
            end = draw(st.integers(at, min(len(data), at + 64)))
            data[at:at] = data[at:end]
        elif damage == "drop":
            del data[at : at + draw(st.integers(1, 8))]
    return bytes(data)


def span_count(request) -> int:
    return sum(len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans)


HEALTHY = convert.parse(
    export_request([Span.FromString(raw) for raw in INFERENCE_SPANS]).SerializeToString()
)


@FUZZING
@given(st.one_of(damaged(requests()), requests(spans=damaged(VALID_SPANS))))
def test_a_damaged_request_is_refused_or_every_span_is_accepted_or_rejected(data):
    try:
        request = convert.parse(data)
        converted = convert.convert([convert.Incoming(request), convert.Incoming(HEALTHY)])
    except convert.InvalidRequest:
        event("refused")
        return
    damaged_outcome, healthy_outcome = converted.outcomes
    event("converted, some spans accepted" if damaged_outcome.accepted else "converted")
    assert damaged_outcome.accepted + damaged_outcome.rejected == span_count(request)
    assert (healthy_outcome.accepted, healthy_outcome.rejected) == (span_count(HEALTHY), 0)
    assert converted.table.num_rows == damaged_outcome.accepted + healthy_outcome.accepted


@FUZZING
@given(requests())
def test_an_undamaged_request_converts(data):
    request = convert.parse(data)
    [outcome] = convert.convert([convert.Incoming(request)]).outcomes
    assert outcome.accepted + outcome.rejected == span_count(request)
