"""OTLP/HTTP ingest end to end: real server on loopback, real lake, real HTTP clients.

The HTTP port answers as the OTLP specification says (200 with partial_success, 400,
413, 415, 429 with Retry-After) and keeps the gRPC port's guarantees: acknowledged after
commit, a batch sent twice stored once, whichever transport carried each copy.
"""

from __future__ import annotations

import gzip
import itertools
import json
import zlib
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from launch.server import RunningServer
from parallax import conventions as conv
from parallax.config import StoreSettings
from tests.conftest import start_test_server
from tests.otlp import export_request, gzip_bomb, inference_span
from tests.otlp_http import JSON, post
from tests.servers import OtlpClient, lake_rows
from tests.waiting import wait_until

TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"
GZIP = {"Content-Encoding": "gzip"}
MAX_MESSAGE_BYTES = 1024 * 1024


def json_span(trace_id: str = TRACE_ID, span_id: str = SPAN_ID, **fields) -> dict:
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "inference fraud-scoring",
        "kind": 2,
        "startTimeUnixNano": "1790000000000000000",
        "endTimeUnixNano": "1790000000012500000",
        "attributes": [
            {"key": conv.FEATURE, "value": {"stringValue": "fraud-scoring"}},
            {"key": conv.MODEL_VERSION, "value": {"stringValue": "2.3"}},
            {"key": "app.batch", "value": {"intValue": "42"}},
        ],
        **fields,
    }


def json_export(*spans: dict, host: str = "edge-json") -> bytes:
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": conv.HOST_ID, "value": {"stringValue": host}}]},
                "scopeSpans": [{"scope": {"name": "tests"}, "spans": list(spans)}],
            }
        ]
    }
    return json.dumps(document).encode()


_nodes = itertools.count(1)


def new_node() -> str:
    """A node id of its own, so tests sharing a lake count only their own spans."""
    return f"edge-{next(_nodes)}"


def protobuf_export(node: str, spans: int = 1) -> bytes:
    resource = {conv.HOST_ID: node}
    return export_request([inference_span() for _ in range(spans)], resource).SerializeToString()


def spans_of(store: StoreSettings, node: str) -> int:
    return lake_rows(store, "SELECT count(*) FROM spans WHERE node_id = ?", [node])[0][0]


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Iterator[tuple[RunningServer, StoreSettings]]:
    """One server for the tests that need no settings of their own."""
    store = StoreSettings(path=str(tmp_path_factory.mktemp("http") / "lake"))
    server = start_test_server(store, max_message_bytes=MAX_MESSAGE_BYTES)
    yield server, store
    server.stop()


def test_spans_from_the_stock_sdk_http_exporter_land_in_the_lake(shared):
    server, store = shared
    resource = Resource.create({conv.SERVICE_NAME: "fraud-app", conv.HOST_ID: "edge-sdk"})
    provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(
        endpoint=f"http://{server.http_address}/v1/traces", compression=Compression.Gzip
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("fraud-app")
    for i in range(3):
        with tracer.start_as_current_span("inference", kind=trace.SpanKind.SERVER) as span:
            span.set_attribute(conv.FEATURE, "fraud-scoring")
            span.set_attribute(conv.INPUT_FINGERPRINT, f"input-{i}")
    provider.shutdown()

    assert lake_rows(
        store,
        "SELECT service_name, feature, input_fingerprint, kind FROM inferences "
        "WHERE node_id = 'edge-sdk' ORDER BY input_fingerprint",
    ) == [("fraud-app", "fraud-scoring", f"input-{i}", "server") for i in range(3)]


def test_an_otlp_json_body_lands_with_hex_ids_enum_integers_and_string_int64(shared):
    server, store = shared
    answer = post(server.http_address, json_export(json_span()), JSON)
    assert (answer.status, answer.headers["content-type"], answer.body) == (200, JSON, b"{}")
    assert lake_rows(
        store,
        "SELECT trace_id, span_id, kind, feature, attributes['app.batch'], "
        "epoch_ns(start_time) FROM spans WHERE node_id = 'edge-json'",
    ) == [(TRACE_ID, SPAN_ID, "server", "fraud-scoring", "42", 1790000000000000000)]


def test_invalid_spans_are_named_in_partial_success_in_the_request_content_type(shared):
    server, store = shared
    short_id = json_span(trace_id="abcd", span_id="0102030405060708")
    other = json_span(trace_id="0" * 31 + "1", span_id="0" * 15 + "1")
    answer = post(server.http_address, json_export(other, short_id, host="edge-partial"), JSON)
    assert answer.status == 200
    partial = json.loads(answer.body)["partialSuccess"]
    assert partial["rejectedSpans"] == "1" and "trace_id" in partial["errorMessage"]

    bad = inference_span(attrs={conv.COLD_START: "maybe"})
    request = export_request([inference_span(), bad], {conv.HOST_ID: "edge-partial"})
    answer = post(server.http_address, request.SerializeToString())
    response = ExportTraceServiceResponse.FromString(answer.body)
    assert (answer.status, answer.headers["content-type"]) == (200, "application/x-protobuf")
    assert response.partial_success.rejected_spans == 1
    assert spans_of(store, "edge-partial") == 2


UNPARSEABLE = {
    "protobuf": (b"\xff\x00 not protobuf", "application/x-protobuf", {}),
    "json": (b"{not json", JSON, {}),
    "utf8": (b'{"resourceSpans": [{"resource": "\xff\xfe"}]}', JSON, {}),
    "hex": (json_export(json_span(trace_id="zz" * 16)), JSON, {}),
    "array": (b"[1, 2, 3]", JSON, {}),
    "shape": (b'{"resourceSpans": {"not": "an array"}}', JSON, {}),
    "nesting": (b"[" * 100_000 + b"]" * 100_000, JSON, {}),
    "truncated": (gzip.compress(b"x" * 1000)[:-12], "application/x-protobuf", GZIP),
    "gzip": (b"not gzip at all", "application/x-protobuf", GZIP),
}


def test_a_body_that_cannot_be_parsed_is_400_and_the_next_client_is_served(shared):
    server, store = shared
    healthy = new_node()
    for name, (body, content_type, headers) in UNPARSEABLE.items():
        answer = post(server.http_address, body, content_type, headers)
        assert answer.status == 400, name
        assert answer.headers["content-type"] == content_type, name
        if content_type == JSON:
            assert json.loads(answer.body)["code"] == 3, name  # INVALID_ARGUMENT
        else:
            assert answer.rpc_status().code == 3, name
        assert post(server.http_address, protobuf_export(healthy)).status == 200
    assert spans_of(store, healthy) == len(UNPARSEABLE)


def test_other_media_types_encodings_methods_and_paths_are_refused_by_their_headers(shared):
    server, store = shared
    address, node = server.http_address, new_node()
    assert post(address, b"{}", "text/plain").status == 415
    assert post(address, b"{}", "application/grpc").status == 415
    assert post(address, protobuf_export(node), headers={"Content-Encoding": "br"}).status == 415
    assert post(address, b"", method="GET").status == 405
    assert post(address, protobuf_export(node), path="/v1/metrics").status == 404
    assert post(address, protobuf_export(node), "application/x-protobuf; q=1").status == 200
    assert spans_of(store, node) == 1


def test_json_answers_and_deflate_bodies_follow_the_sdks(shared):
    server, store = shared
    answer = post(
        server.http_address,
        zlib.compress(json_export(json_span(), host="edge-deflate")),
        "application/json; charset=utf-8",
        {"Content-Encoding": "deflate"},
    )
    assert answer.status == 200 and answer.body == b"{}"
    assert spans_of(store, "edge-deflate") == 1


def test_a_body_over_max_message_bytes_is_413_however_it_is_sent(shared):
    server, store = shared
    node = new_node()
    big = export_request([inference_span(attrs={"blob": "x" * 2_000_000})]).SerializeToString()
    assert post(server.http_address, big).status == 413  # by its Content-Length
    answer = post(server.http_address, big, chunked=True)  # counted as it arrives
    assert answer.status == 413 and answer.rpc_status().code == 8  # RESOURCE_EXHAUSTED
    assert post(server.http_address, protobuf_export(node)).status == 200
    assert spans_of(store, node) == 1


def test_a_gzip_bomb_is_413_and_the_next_client_is_served(shared):
    server, store = shared
    node = new_node()
    answer = post(server.http_address, gzip_bomb(128), headers=GZIP)
    assert answer.status == 413
    assert "larger than 1048576 bytes" in answer.rpc_status().message
    assert post(server.http_address, protobuf_export(node)).status == 200
    assert spans_of(store, node) == 1


def test_a_full_queue_is_429_with_retry_after_and_the_retry_lands(make_server, store_settings):
    server = make_server(
        queue_max_spans=5, flush_rows=1000, flush_interval_ms=2000, commit_quiet_ms=2000
    )
    store, node = store_settings, new_node()
    five = export_request([inference_span() for _ in range(5)], {conv.HOST_ID: node})
    waiting = OtlpClient(server.address).export_future(five)
    wait_until(lambda: server.pipeline.queued_spans == 5)
    answer = post(server.http_address, protobuf_export(node))
    assert answer.status == 429
    assert int(answer.headers["retry-after"]) >= 1
    assert answer.rpc_status().code == 8  # RESOURCE_EXHAUSTED
    waiting.result()
    assert post(server.http_address, protobuf_export(node)).status == 200
    assert spans_of(store, node) == 6


def test_a_batch_sent_twice_is_acknowledged_twice_and_stored_once_whatever_the_transport(
    shared,
):
    server, store = shared
    node = new_node()
    request = export_request([inference_span() for _ in range(3)])
    batch = {conv.NODE_ID_HEADER: node, conv.BATCH_SEQUENCE_HEADER: "7"}
    assert post(server.http_address, request.SerializeToString(), headers=batch).status == 200
    assert post(server.http_address, request.SerializeToString(), headers=batch).status == 200
    OtlpClient(server.address).export(request, node_id=node, seq=7)
    assert spans_of(store, node) == 3
    assert lake_rows(store, "SELECT count(*) FROM ingested_batches WHERE node_id = ?", [node]) == [
        (1,)
    ]


def test_a_malformed_batch_header_is_400_and_nothing_is_stored(shared):
    server, store = shared
    node = new_node()
    for headers in (
        {conv.NODE_ID_HEADER: node},
        {conv.NODE_ID_HEADER: node, conv.BATCH_SEQUENCE_HEADER: "-1"},
        {conv.NODE_ID_HEADER: node + "\xe9", conv.BATCH_SEQUENCE_HEADER: "1"},
    ):
        answer = post(server.http_address, protobuf_export(node), headers=headers)
        assert answer.status == 400, headers
    assert spans_of(store, node) == 0
