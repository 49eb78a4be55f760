"""Splitting a tagged export into pieces the backend accepts."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.splitting import split_request
from tests.otlp import export_request, inference_span


def spans_of(payloads: list[bytes]) -> list[bytes]:
    merged = ExportTraceServiceRequest.FromString(b"".join(payloads))
    return [
        span.span_id
        for resource_spans in merged.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]


def test_a_request_within_the_limit_is_one_piece_unchanged():
    request = export_request([inference_span() for _ in range(3)])

    split = split_request(request, 3, request.ByteSize())

    assert [piece.payload for piece in split.pieces] == [request.SerializeToString()]
    assert split.spans_too_large == 0


def test_pieces_stay_within_the_limit_and_keep_every_span_in_order():
    request = export_request([inference_span(attrs={"app.input": "x" * n}) for n in range(300)])
    request.MergeFrom(export_request([inference_span() for _ in range(40)], scope="other"))
    limit = 4096

    split = split_request(request, 340, limit)

    assert all(len(piece.payload) <= limit for piece in split.pieces)
    assert sum(piece.span_count for piece in split.pieces) == 340
    assert spans_of([piece.payload for piece in split.pieces]) == spans_of(
        [request.SerializeToString()]
    )
    merged = ExportTraceServiceRequest.FromString(split.pieces[-1].payload)
    assert merged.resource_spans[0].scope_spans[0].scope.name == "other"
    assert merged.resource_spans[0].resource == request.resource_spans[1].resource


def test_a_span_that_alone_exceeds_the_limit_is_left_out_and_counted():
    small = [inference_span() for _ in range(4)]
    huge = inference_span(attrs={"app.input": "h" * 10_000})
    request = export_request([small[0], small[1], huge, small[2], small[3]])

    split = split_request(request, 5, 8192)

    assert split.spans_too_large == 1
    assert spans_of([piece.payload for piece in split.pieces]) == [s.span_id for s in small]
