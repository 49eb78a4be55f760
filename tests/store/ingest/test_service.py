"""The OTLP/gRPC ingest service end to end: real gRPC server on loopback, real lake on disk."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from parallax import conventions as conv
from store.ingest import convert
from tests.otlp import export_request, inference_span
from tests.servers import OtlpClient, lake_rows
from tests.waiting import wait_until


def test_spans_from_the_stock_opentelemetry_sdk_are_queryable_with_promoted_columns(
    server, store_settings
):
    provider = TracerProvider(
        resource=Resource.create(
            {conv.SERVICE_NAME: "fraud-app", conv.HOST_ID: "edge-1", conv.HARDWARE_TIER: "device"}
        )
    )
    exporter = OTLPSpanExporter(
        endpoint=server.address, insecure=True, compression=grpc.Compression.Gzip
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("fraud-app")
    for i in range(5):
        with tracer.start_as_current_span("inference", kind=trace.SpanKind.SERVER) as span:
            span.set_attribute(conv.FEATURE, "fraud-scoring")
            span.set_attribute(conv.MODEL_VERSION, "2.1")
            span.set_attribute(conv.MODEL_QUANTIZATION, "fp16")
            span.set_attribute(conv.INPUT_FINGERPRINT, f"input-{i}")
            span.set_attribute(conv.OUTPUT_SCORE, i / 10)
            span.set_attribute("app.batch", i)
    provider.shutdown()

    stored = lake_rows(
        store_settings,
        "SELECT node_id, service_name, hardware_tier, feature, model_version, quantization, "
        "input_fingerprint, output_score, kind, attributes['app.batch'] FROM inferences "
        "ORDER BY input_fingerprint",
    )
    assert stored == [
        (
            "edge-1",
            "fraud-app",
            "device",
            "fraud-scoring",
            "2.1",
            "fp16",
            f"input-{i}",
            i / 10,
            "server",
            str(i),
        )
        for i in range(5)
    ]


def test_resource_attributes_are_stored_once_per_resource(client, store_settings):
    resource = {conv.HOST_ID: "edge-9", conv.SERVICE_NAME: "app", "process.pid": 42}
    for _ in range(3):
        client.export(export_request([inference_span(), inference_span()], resource=resource))
    assert lake_rows(store_settings, "SELECT count(*) FROM resources") == [(1,)]
    [(attributes,)] = lake_rows(
        store_settings,
        "SELECT DISTINCT r.attributes FROM spans JOIN resource_attributes r USING (resource_id)",
    )
    assert attributes == {conv.HOST_ID: "edge-9", conv.SERVICE_NAME: "app", "process.pid": "42"}


def test_the_same_batch_sent_twice_is_stored_once(client, store_settings):
    request = export_request([inference_span() for _ in range(3)])
    client.export(request, node_id="edge-1", seq=7)
    client.export(request, node_id="edge-1", seq=7)
    client.export(request, node_id="edge-2", seq=7)  # another node's batch 7 is a new batch
    assert lake_rows(
        store_settings, "SELECT node_id, count(*) FROM spans GROUP BY 1 ORDER BY 1"
    ) == [
        ("edge-1", 3),
        ("edge-2", 3),
    ]
    assert lake_rows(store_settings, "SELECT count(*) FROM ingested_batches") == [(2,)]


def test_a_new_buffer_of_the_same_node_is_a_new_stream_of_batches(server, store_settings):
    client = OtlpClient(server.address)
    first = export_request([inference_span()])
    after_wipe = export_request([inference_span()])
    client._export(
        first,
        metadata=[
            (conv.NODE_ID_HEADER, "n"),
            (conv.BUFFER_ID_HEADER, "old"),
            (conv.BATCH_SEQUENCE_HEADER, "1"),
        ],
    )
    client._export(
        after_wipe,
        metadata=[
            (conv.NODE_ID_HEADER, "n"),
            (conv.BUFFER_ID_HEADER, "new"),
            (conv.BATCH_SEQUENCE_HEADER, "1"),
        ],
    )
    assert lake_rows(store_settings, "SELECT count(*) FROM spans") == [(2,)]
    assert lake_rows(store_settings, "SELECT buffer_id FROM ingested_batches ORDER BY 1") == [
        ("new",),
        ("old",),
    ]


def test_a_retried_batch_is_recognised_after_a_server_restart(make_server, store_settings):
    request = export_request([inference_span()])
    first = make_server()
    OtlpClient(first.address).export(request, node_id="edge-1", seq=1)
    first.stop()
    second = make_server()
    OtlpClient(second.address).export(request, node_id="edge-1", seq=1)
    assert lake_rows(store_settings, "SELECT count(*) FROM spans") == [(1,)]


def test_duplicate_copies_inside_one_group_are_written_once(make_server, store_settings):
    server = make_server(commit_quiet_ms=500, flush_interval_ms=1000)
    client = OtlpClient(server.address)
    request = export_request([inference_span(), inference_span()])
    futures = [client.export_future(request, node_id="edge-1", seq=3) for _ in range(4)]
    for future in futures:
        future.result()
    assert lake_rows(store_settings, "SELECT count(*) FROM spans") == [(2,)]


def test_invalid_spans_are_rejected_through_partial_success_while_valid_ones_land(
    client, store_settings
):
    good = [inference_span(), inference_span()]
    bad = inference_span(attrs={conv.COLD_START: "maybe"})
    response = client.export(export_request([good[0], bad, good[1]]))
    assert response.partial_success.rejected_spans == 1
    assert "parallax.cold_start" in response.partial_success.error_message
    stored = {row[0] for row in lake_rows(store_settings, "SELECT span_id FROM spans")}
    assert stored == {span.span_id.hex() for span in good}


def test_a_request_that_cannot_be_parsed_gets_invalid_argument_and_others_keep_flowing(
    client, store_settings
):
    with pytest.raises(grpc.RpcError) as error:
        client.export(b"\x0a\x05\x0a\x03\xff\xfe")
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    client.export(export_request([inference_span()]))
    assert lake_rows(store_settings, "SELECT count(*) FROM spans") == [(1,)]


def broken_span_request() -> bytes:
    """A request whose outer structure parses but whose one span is cut short."""
    request = convert.parse(export_request([inference_span()]).SerializeToString())
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[0] = spans[0][:-3]
    return request.SerializeToString()


def test_a_broken_span_is_rejected_alone_while_its_siblings_and_its_group_land(
    make_server, store_settings
):
    server = make_server(flush_interval_ms=300)  # both requests in one commit group
    client = OtlpClient(server.address)
    broken = client.export_future(broken_span_request(), node_id="edge-b", seq=1)
    landed = client.export_future(
        export_request([inference_span(), inference_span()]), node_id="edge-g", seq=1
    )
    answer = broken.result().partial_success
    assert answer.rejected_spans == 1
    assert "span is not valid OTLP" in answer.error_message
    assert landed.result().partial_success.rejected_spans == 0
    assert lake_rows(store_settings, "SELECT count(*) FROM spans") == [(2,)]
    assert lake_rows(
        store_settings,
        "SELECT node_id, span_count, rejected_count FROM ingested_batches ORDER BY 1",
    ) == [("edge-b", 0, 1), ("edge-g", 2, 0)]


def test_copies_of_a_batch_committed_in_different_groups_are_written_once(
    make_server, store_settings
):
    server = make_server(flush_rows=1)  # every request is its own commit group
    client = OtlpClient(server.address)
    request = export_request([inference_span(), inference_span(), inference_span()])
    copies = [client.export_future(request, node_id="edge-1", seq=7) for _ in range(12)]
    assert all(copy.result().partial_success.rejected_spans == 0 for copy in copies)
    assert lake_rows(store_settings, "SELECT count(*) FROM spans") == [(3,)]
    assert lake_rows(store_settings, "SELECT count(*) FROM ingested_batches") == [(1,)]


def test_a_small_group_commits_as_soon_as_the_writer_is_idle_and_nothing_more_arrives(
    make_server, store_settings
):
    # The interval is far beyond the call's deadline: only the idle writer and the quiet
    # queue can have started the commit of this one-span group.
    server = make_server(flush_interval_ms=600_000)
    OtlpClient(server.address).export(export_request([inference_span()]), timeout=30)
    assert lake_rows(store_settings, "SELECT count(*) FROM spans") == [(1,)]


def test_a_malformed_batch_header_gets_invalid_argument(client):
    with pytest.raises(grpc.RpcError) as error:
        client.export(export_request([inference_span()]), node_id="edge-1", seq=None)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as error:
        client.channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=lambda r: r.SerializeToString(),
        )(
            export_request([inference_span()]),
            metadata=[(conv.NODE_ID_HEADER, "edge-1"), (conv.BATCH_SEQUENCE_HEADER, "-4")],
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_full_queue_answers_resource_exhausted_with_retry_info(make_server, store_settings):
    server = make_server(
        queue_max_spans=5, flush_rows=1000, flush_interval_ms=2000, commit_quiet_ms=2000
    )
    client = OtlpClient(server.address)
    waiting = client.export_future(export_request([inference_span() for _ in range(5)]), "e", 1)
    wait_until(lambda: server.pipeline.queued_spans == 5)
    with pytest.raises(grpc.RpcError) as error:
        client.export(export_request([inference_span()]), node_id="e", seq=2)
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(error.value)
    retry_info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry_info)
    assert retry_info.retry_delay.ToTimedelta().total_seconds() > 0
    waiting.result()
    client.export(export_request([inference_span()]), node_id="e", seq=2)  # retry succeeds
    assert lake_rows(store_settings, "SELECT count(*) FROM spans") == [(6,)]


def test_an_oversized_message_is_refused_without_harming_the_server(make_server, store_settings):
    server = make_server(max_message_bytes=20_000)
    client = OtlpClient(server.address)
    with pytest.raises(grpc.RpcError) as error:
        client.export(export_request([inference_span(attrs={"blob": "x" * 30_000})]))
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    client.export(export_request([inference_span()]))
    assert lake_rows(store_settings, "SELECT count(*) FROM spans") == [(1,)]


def test_gzip_compressed_requests_are_accepted(server, store_settings):
    client = OtlpClient(server.address, compression=grpc.Compression.Gzip)
    client.export(export_request([inference_span() for _ in range(50)]))
    assert lake_rows(store_settings, "SELECT count(*) FROM spans") == [(50,)]


def test_an_empty_request_is_acknowledged(client, store_settings):
    response = client.export(export_request([]))
    assert not response.HasField("partial_success")


def test_ingest_counters_are_recorded_for_the_dashboard(make_server, store_settings):
    server = make_server()
    client = OtlpClient(server.address)
    client.export(
        export_request([inference_span(), inference_span(attrs={conv.OUTPUT_SCORE: "x"})])
    )
    with pytest.raises(grpc.RpcError):
        client.export(b"\xff\xff")
    server.stop()  # the final interval is recorded on shutdown
    [(accepted, rejected, invalid, commits)] = lake_rows(
        store_settings,
        "SELECT sum(spans_accepted), sum(spans_rejected), sum(requests_invalid), sum(commits) "
        "FROM ingest_stats",
    )
    assert (accepted, rejected, invalid) == (1, 1, 1)
    assert commits >= 1


def test_other_server_components_write_through_the_writer_thread(server, store_settings):
    def record(con):
        con.execute("CREATE TABLE IF NOT EXISTS probe (x INTEGER)")
        con.execute("INSERT INTO probe VALUES (42)")
        return "done"

    assert server.pipeline.run_in_writer(record).result(timeout=30) == "done"

    def fail(con):
        con.execute("INSERT INTO probe VALUES (7)")
        raise ValueError("no")

    with pytest.raises(ValueError):
        server.pipeline.run_in_writer(fail).result(timeout=30)
    assert lake_rows(store_settings, "SELECT x FROM probe") == [(42,)]
