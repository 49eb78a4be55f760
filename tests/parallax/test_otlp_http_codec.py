"""OTLP/HTTP bodies: what a body decodes to, what is refused, and what decoding costs."""

from __future__ import annotations

import gzip
import json
import tracemalloc

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from parallax.calls import CallRefused, Refusal
from parallax.otlp_http_codec import (
    JSON,
    PROTOBUF,
    decode_export,
    encode,
    inflate,
    media_type,
    retry_after_header,
)
from tests.otlp import gzip_bomb

LIMIT = 1024 * 1024


def test_a_gzip_bomb_is_refused_after_inflating_no_more_than_the_limit():
    bomb = gzip_bomb(128)
    tracemalloc.start()
    try:
        with pytest.raises(CallRefused) as refused:
            inflate(bomb, "gzip", LIMIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.refusal is Refusal.TOO_LARGE
    assert peak < 4 * LIMIT  # 128 MiB had it been inflated


def test_concatenated_gzip_members_are_one_body_and_count_together():
    assert inflate(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip", 4) == b"abcd"
    with pytest.raises(CallRefused) as refused:
        inflate(gzip.compress(b"ab") + gzip.compress(b"cde"), "gzip", 4)
    assert refused.value.refusal is Refusal.TOO_LARGE


def test_otlp_json_ids_are_hex_and_every_other_field_follows_protobufs_json_mapping():
    document = {
        "resource_spans": [  # proto field names are accepted as well as lowerCamelCase
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5B8EFFF798038103D269B633813FC60C",
                                "spanId": "eee19b7ec3c1b174",
                                "parentSpanId": "",
                                "kind": "SPAN_KIND_CLIENT",
                                "startTimeUnixNano": 1790000000000000000,
                                "links": [{"traceId": "01" * 16, "spanId": "02" * 8}],
                                "futureField": {"ignored": True},
                            }
                        ]
                    }
                ]
            }
        ]
    }
    data = decode_export(json.dumps(document).encode(), JSON, "", LIMIT)
    span = ExportTraceServiceRequest.FromString(data).resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == "5b8efff798038103d269b633813fc60c"
    assert span.span_id.hex() == "eee19b7ec3c1b174" and span.parent_span_id == b""
    assert span.kind == 3 and span.start_time_unix_nano == 1790000000000000000
    assert (span.links[0].trace_id, span.links[0].span_id) == (b"\x01" * 16, b"\x02" * 8)


@pytest.mark.parametrize(
    "body",
    [
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "\\ud800"}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 7}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
        b"\xef\xbb\xbf\xff{}",
        b"",
    ],
    ids=["lone-surrogate", "id-not-a-string", "not-a-number", "bom", "empty"],
)
def test_every_malformed_json_body_is_refused_as_invalid_and_nothing_else(body):
    with pytest.raises(CallRefused) as refused:
        decode_export(body, JSON, "", LIMIT)
    assert refused.value.refusal is Refusal.INVALID


def test_answers_are_in_the_request_media_type_and_retry_after_is_whole_seconds():
    response = ExportTraceServiceResponse()
    response.partial_success.rejected_spans = 2
    assert json.loads(encode(response, JSON)) == {"partialSuccess": {"rejectedSpans": "2"}}
    assert ExportTraceServiceResponse.FromString(encode(response, PROTOBUF)) == response
    assert retry_after_header(CallRefused(Refusal.BUSY, "busy", 0.2)) == {"Retry-After": "1"}
    assert retry_after_header(CallRefused(Refusal.BUSY, "busy", 2.5)) == {"Retry-After": "3"}
    assert retry_after_header(CallRefused(Refusal.INVALID, "no")) == {}
    assert media_type("Application/JSON; charset=utf-8") == JSON
    assert media_type("application/protobuf") is None
