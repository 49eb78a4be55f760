"""`parallax collector` says how it is: gRPC health on its receiver's port, /healthz,
/readyz and /metrics, with counts that match what apps sent and the server kept."""

from __future__ import annotations

import threading

import grpc
import pytest

from collector.buffer import SegmentLog
from collector.shipper import Shipper
from parallax.otlp_grpc import TRACE_SERVICE
from tests.otlp import export_request, inference_span
from tests.otlp_http import post
from tests.scraping import NOT_SERVING, SERVING, HealthWatch, Scrape, check_health, get
from tests.servers import OtlpClient, free_port
from tests.store.ingest.test_isolation import InjectedDeath
from tests.waiting import wait_until

EXPORT = f"/{TRACE_SERVICE}/Export"


def test_counts_match_what_apps_sent_and_what_the_server_kept(server, make_collector):
    collector = make_collector(server.address)
    app = OtlpClient(collector.address)
    for size in (1, 5, 40, 4):
        app.export(export_request([inference_span() for _ in range(size)]))
    assert post(collector.http_address, b"{}", "text/plain").status == 415
    metrics = collector.observability.metrics_address
    scrape = wait_until(
        lambda: (
            (got := Scrape(metrics)).value("parallax_collector_spans_delivered_total") == 50 and got
        )
    )
    assert scrape.value("parallax_collector_spans_received_total") == 50
    assert scrape.value("parallax_requests_total", transport="grpc", method=EXPORT, code="OK") == 4
    http_export = {"transport": "http", "method": "POST /v1/traces"}
    assert scrape.value("parallax_requests_total", **http_export, code="415") == 1
    assert scrape.value("parallax_collector_buffer_pending_spans") == 0
    assert scrape.value("parallax_collector_buffer_pending_batches") == 0
    assert scrape.value("parallax_collector_buffer_dropped_spans_total") == 0
    assert scrape.value("parallax_collector_dead_letter_batches_total") == 0
    delivered = scrape.value("parallax_collector_batches_delivered_total")
    assert delivered >= 1
    assert scrape.value("parallax_collector_delivered_payload_bytes_total") > 0
    kept = Scrape(server.observability.metrics_address)
    assert kept.value("parallax_ingest_spans_total", outcome="accepted") == 50
    assert kept.value("parallax_ingest_batches_total", outcome="committed") == delivered
    server_metrics = server.observability.metrics_address
    wait_until(
        lambda: Scrape(server_metrics).value("parallax_fleet_heartbeats_recorded_total") >= 1
    )


def test_the_backlog_shows_while_the_backend_is_down(make_collector):
    collector = make_collector(f"127.0.0.1:{free_port()}")
    app = OtlpClient(collector.address)
    for _ in range(3):
        app.export(export_request([inference_span() for _ in range(7)]))
    metrics = collector.observability.metrics_address
    scrape = wait_until(
        lambda: (got := Scrape(metrics)).value("parallax_collector_retries_total") >= 1 and got
    )
    assert scrape.value("parallax_collector_buffer_pending_spans") == 21
    assert scrape.value("parallax_collector_buffer_pending_batches") >= 1
    assert scrape.value("parallax_collector_buffer_pending_bytes") > 0
    assert scrape.value("parallax_collector_buffer_oldest_pending_age_seconds") >= 0
    assert scrape.value("parallax_collector_spans_delivered_total") == 0
    assert check_health(collector.address) == SERVING  # an outage upstream is not its fault


def test_health_turns_not_serving_and_readyz_503_while_the_collector_drains(
    make_server, make_collector
):
    port = free_port()
    collector = make_collector(f"127.0.0.1:{port}", shutdown_flush_s=120)
    OtlpClient(collector.address).export(export_request([inference_span()]))
    watch = HealthWatch(collector.address)
    assert watch.next() == SERVING
    stopper = threading.Thread(target=collector.stop)
    stopper.start()
    try:
        assert watch.next() == NOT_SERVING
        # The backend is down: the collector keeps shipping (draining) until it returns.
        metrics = collector.observability.metrics_address
        status, _, body = get(metrics, "/readyz")
        assert (status, body) == (503, "draining: the process is shutting down\n")
        assert get(metrics, "/healthz")[0] == 200
    finally:
        watch.close()
        make_server(listen=f"127.0.0.1:{port}")
        stopper.join(120)
    assert not stopper.is_alive()
    assert collector.buffer.stats().pending_batches == 0


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_shipper_worker_turns_health_not_serving_and_healthz_503(
    server, make_collector, monkeypatch
):
    def die(self, batch):
        raise InjectedDeath("shipper worker killed")

    monkeypatch.setattr(Shipper, "_deliver", die)
    collector = make_collector(server.address, max_in_flight=1)
    watch = HealthWatch(collector.address)
    assert watch.next() == SERVING
    OtlpClient(collector.address).export(export_request([inference_span()]))
    try:
        assert watch.next() == NOT_SERVING
    finally:
        watch.close()
    metrics = collector.observability.metrics_address
    for path in ("/healthz", "/readyz"):
        status, _, body = get(metrics, path)
        assert (status, body) == (503, "1 of 1 shipper workers are not running\n")


def test_a_buffer_that_refuses_batches_makes_the_collector_not_ready_until_it_takes_one(
    server, make_collector, monkeypatch
):
    refusing = threading.Event()
    refusing.set()
    append = SegmentLog.append

    def append_unless_refusing(self, payload, span_count=0):
        if refusing.is_set():
            raise OSError(28, "No space left on device")
        return append(self, payload, span_count)

    monkeypatch.setattr(SegmentLog, "append", append_unless_refusing)
    collector = make_collector(server.address)
    app = OtlpClient(collector.address)
    with pytest.raises(grpc.RpcError) as refused:
        app.export(export_request([inference_span()]))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    metrics = collector.observability.metrics_address
    body = wait_until(lambda: (answer := get(metrics, "/readyz"))[0] == 503 and answer[2])
    assert "No space left on device" in body
    wait_until(lambda: check_health(collector.address) == NOT_SERVING)
    assert get(metrics, "/healthz")[0] == 200
    refusing.clear()
    app.export(export_request([inference_span()]))
    wait_until(lambda: get(metrics, "/readyz")[0] == 200)
    wait_until(lambda: check_health(collector.address) == SERVING)
