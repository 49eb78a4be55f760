"""The collector end to end: a stock OpenTelemetry app -> collector -> real server -> lake."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from parallax import conventions as conv
from tests.otlp import export_request, inference_span
from tests.servers import OtlpClient, lake_rows
from tests.waiting import wait_until


def stored_count(store_settings) -> int:
    return lake_rows(store_settings, "SELECT count(*) FROM spans")[0][0]


def test_spans_from_a_stock_sdk_arrive_tagged_with_the_node_identity(
    server, make_collector, store_settings
):
    collector = make_collector(server.address)
    provider = TracerProvider(resource=Resource.create({conv.SERVICE_NAME: "fraud-app"}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=collector.address, insecure=True))
    )
    tracer = provider.get_tracer("app")
    for i in range(300):
        with tracer.start_as_current_span("inference") as span:
            span.set_attribute(conv.FEATURE, "fraud-scoring")
            span.set_attribute(conv.MODEL_QUANTIZATION, "FP16")
            span.set_attribute(conv.INPUT_FINGERPRINT, f"in-{i}")
    provider.shutdown()
    wait_until(lambda: stored_count(store_settings) == 300)
    rows = lake_rows(
        store_settings,
        "SELECT DISTINCT node_id, hardware_tier, accelerator, region, quantization, "
        "quantization_as_sent, service_name FROM spans",
    )
    # The collector passes the app's spelling on; ingest stores the word and keeps it.
    assert rows == [("edge-7", "device", "npu", "eu-west", "fp16", "FP16", "fraud-app")]
    [(batches, buffers)] = lake_rows(
        store_settings, "SELECT count(*), count(DISTINCT buffer_id) FROM ingested_batches"
    )
    assert batches >= 1 and buffers == 1


def test_what_the_app_set_is_not_overwritten(server, make_collector, store_settings):
    collector = make_collector(server.address)
    request = export_request(
        [inference_span()], resource={conv.HOST_ID: "app-chose-this", conv.HARDWARE_TIER: "cloud"}
    )
    OtlpClient(collector.address).export(request)
    wait_until(lambda: stored_count(store_settings) == 1)
    assert lake_rows(store_settings, "SELECT hardware_tier, accelerator FROM spans") == [
        ("cloud", "npu")
    ]
    # the batch identity names the collector's node even when the app's host.id differs
    assert lake_rows(store_settings, "SELECT node_id FROM ingested_batches") == [("edge-7",)]


def test_sampling_keeps_the_same_inputs_and_always_keeps_errors_and_cold_starts(
    server, make_collector, store_settings
):
    collector = make_collector(server.address, sampling_ratio=0.25)
    plain = [inference_span(attrs={conv.CONFIDENCE: 0.99}) for _ in range(400)]
    cold = [inference_span(attrs={conv.COLD_START: True, conv.CONFIDENCE: 0.99}) for _ in range(20)]
    failed = [inference_span(attrs={conv.CONFIDENCE: 0.99}) for _ in range(20)]
    for span in failed:
        span.status.code = 2
    OtlpClient(collector.address).export(export_request(plain + cold + failed))
    from collector.sampling import keep_fraction

    expected_plain = sum(
        1
        for span in plain
        for kv in span.attributes
        if kv.key == conv.INPUT_FINGERPRINT and keep_fraction(kv.value.string_value) < 0.25
    )
    wait_until(lambda: stored_count(store_settings) == expected_plain + 40)
    assert 60 < expected_plain < 140  # about a quarter of 400


def test_batches_wait_on_disk_while_the_backend_is_down_and_arrive_once_when_it_returns(
    make_server, make_collector, store_settings
):
    from tests.servers import free_port

    port = free_port()
    collector = make_collector(f"127.0.0.1:{port}")
    app = OtlpClient(collector.address)
    sent = [export_request([inference_span() for _ in range(10)]) for _ in range(15)]
    for request in sent:
        app.export(request)  # OK: durable in the collector's buffer
    assert collector.buffer.stats().pending_spans == 150
    make_server(listen=f"127.0.0.1:{port}")
    wait_until(lambda: stored_count(store_settings) == 150)
    wait_until(lambda: collector.buffer.stats().pending_batches == 0)
    assert lake_rows(store_settings, "SELECT count(DISTINCT span_id) FROM spans") == [(150,)]


def test_heartbeats_report_the_node_and_the_directive_changes_the_sampling_ratio(
    server, make_collector, store_settings
):
    from store.fleet import FleetPolicy

    server.fleet.set_policy(FleetPolicy(sampling_ratio=0.5, heartbeat_interval_s=0.2))
    collector = make_collector(server.address, heartbeat_interval_s=0.2)
    OtlpClient(collector.address).export(
        export_request([inference_span(attrs={conv.COLD_START: True})])
    )
    wait_until(lambda: collector.tagger.sampler.ratio == 0.5)

    def reported():
        rows = lake_rows(
            store_settings,
            "SELECT node_id, hardware_tier, accelerator, region, models, pending_batches "
            "FROM nodes",
        )
        return rows if rows and rows[0][4] and rows[0][5] == 0 else None  # shipped by now

    [(node, tier, accelerator, region, models, _)] = wait_until(reported)
    assert (node, tier, accelerator, region) == ("edge-7", "device", "npu", "eu-west")
    assert [(m["model_name"], m["model_version"], m["quantization"]) for m in models] == [
        ("fraud-gbm", "2.3", "int8")
    ]


def test_a_batch_the_backend_refuses_for_good_goes_to_the_dead_letter_file(
    server, make_collector, store_settings
):
    import json

    collector = make_collector(server.address)
    seq = collector.buffer.append(b"\xff\xff not protobuf", span_count=3)  # a damaged batch
    OtlpClient(collector.address).export(export_request([inference_span()]))
    wait_until(lambda: collector.shipper.counters.batches_delivered == 1)
    wait_until(lambda: collector.shipper.dead_letters.batches == 1)
    lines = collector.shipper.dead_letters.path.read_text().splitlines()
    [entry] = [json.loads(line) for line in lines]
    assert (entry["batch_seq"], entry["span_count"], entry["status"]) == (
        seq,
        3,
        "INVALID_ARGUMENT",
    )
    wait_until(lambda: collector.buffer.stats().pending_batches == 0)
    assert lake_rows(store_settings, "SELECT count(*) FROM spans") == [(1,)]


def test_spans_the_backend_rejects_through_partial_success_are_counted_not_retried(
    server, make_collector, store_settings
):
    collector = make_collector(server.address)
    good, bad = inference_span(), inference_span(attrs={conv.OUTPUT_SCORE: "high"})
    OtlpClient(collector.address).export(export_request([good, bad]))
    wait_until(lambda: collector.shipper.counters.batches_delivered == 1)
    counters = collector.shipper.counters
    assert (counters.spans_delivered, counters.spans_rejected, counters.retries) == (1, 1, 0)
    assert lake_rows(store_settings, "SELECT span_id FROM spans") == [(good.span_id.hex(),)]


def test_shutdown_keeps_undelivered_batches_on_disk_for_the_next_start(
    make_server, make_collector, store_settings
):
    from tests.servers import free_port

    port = free_port()
    first = make_collector(f"127.0.0.1:{port}", shutdown_flush_s=0.2)
    client = OtlpClient(first.address)
    for _ in range(3):
        client.export(export_request([inference_span() for _ in range(10)]))
    first.stop()  # backend unreachable: the batches stay in the buffer
    make_server(listen=f"127.0.0.1:{port}")
    second = make_collector(f"127.0.0.1:{port}")  # same buffer directory
    wait_until(lambda: stored_count(store_settings) == 30)
    wait_until(lambda: second.buffer.stats().pending_batches == 0)


def test_the_summary_line_reports_what_came_in_and_what_was_delivered(
    server, make_collector, store_settings
):
    collector = make_collector(server.address, sampling_ratio=0.5)
    bad_score = inference_span(attrs={conv.OUTPUT_SCORE: "high", conv.COLD_START: True})
    request = export_request(
        [inference_span(), bad_score]
        + [inference_span(attrs={conv.CONFIDENCE: 0.99}) for _ in range(40)]
    )
    OtlpClient(collector.address).export(request)
    wait_until(lambda: collector.shipper.counters.batches_delivered == 1)
    line = collector.summary_line()
    sampled_out = collector.tagger.counters.spans_sampled_out
    assert "42 spans in" in line and f"{sampled_out} sampled out" in line
    assert "1 rejected" in line
    assert f"{42 - sampled_out - 1} delivered in 1 batches" in line
