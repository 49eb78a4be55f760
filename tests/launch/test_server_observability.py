"""`parallax server` says how it is: gRPC health on its port, /healthz, /readyz and
/metrics on its metrics listener, with counts that match exactly what was sent."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from launch.server import start_server
from parallax import conventions as conv
from parallax.config import ReconcilerSettings, ServerSettings, Settings
from parallax.otlp_grpc import TRACE_SERVICE
from store.fleet.service import SERVICE_NAME as FLEET_SERVICE
from store.ingest import pipeline
from tests.otlp import export_request, inference_span
from tests.otlp_http import post
from tests.scraping import NOT_SERVING, SERVING, HealthWatch, Scrape, check_health, get
from tests.servers import OtlpClient, lake_rows
from tests.store.ingest.test_isolation import InjectedDeath, poison_span_request
from tests.waiting import wait_until

EXPORT = f"/{TRACE_SERVICE}/Export"
COMMITTED_REQUESTS = "parallax_ingest_commit_group_requests_sum"


def test_a_serving_server_is_serving_alive_and_ready(server):
    for service in ("", TRACE_SERVICE, FLEET_SERVICE):
        assert check_health(server.address, service) == SERVING
    metrics = server.observability.metrics_address
    assert get(metrics, "/healthz")[:1] == (200,)
    assert get(metrics, "/readyz")[0] == 200
    scrape = Scrape(metrics)
    assert (scrape.value("parallax_alive"), scrape.value("parallax_ready")) == (1, 1)


def test_health_turns_not_serving_and_readyz_503_while_the_server_drains(make_server):
    server = make_server(shutdown_grace_s=60)
    metrics = server.observability.metrics_address
    watch = HealthWatch(server.address)
    assert watch.next() == SERVING
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    try:
        # The open Watch is a call in flight: the server drains until it ends.
        assert watch.next() == NOT_SERVING
        status, _, body = get(metrics, "/readyz")
        assert (status, body) == (503, "draining: the process is shutting down\n")
        assert get(metrics, "/healthz")[0] == 200
    finally:
        watch.close()
        stopper.join(60)
    assert not stopper.is_alive()


def test_a_dead_ingest_stage_turns_health_not_serving_and_readyz_503(server, monkeypatch):
    def die(self, group, converted):
        raise InjectedDeath("writer thread killed")

    watch = HealthWatch(server.address)
    assert watch.next() == SERVING
    monkeypatch.setattr(pipeline.IngestPipeline, "_write_group", die)
    client = OtlpClient(server.address)
    with pytest.raises(grpc.RpcError):
        client.export(export_request([inference_span()]), timeout=30)
    try:
        assert watch.next() == NOT_SERVING
    finally:
        watch.close()
    assert check_health(server.address) == NOT_SERVING
    metrics = server.observability.metrics_address
    for path in ("/readyz", "/healthz"):
        status, _, body = get(metrics, path)
        assert status == 503
        assert "ingest stage ingest-write died" in body
    scrape = Scrape(metrics)
    assert (scrape.value("parallax_alive"), scrape.value("parallax_ready")) == (0, 0)


def test_a_lake_that_refuses_commits_makes_the_server_not_ready_until_one_succeeds(
    server, monkeypatch
):
    from store.ingest.writer import LakeWriter

    refusing = threading.Event()
    refusing.set()
    commit = LakeWriter._commit

    def commit_unless_refusing(self, *args, **kwargs):
        if refusing.is_set():
            raise OSError("injected: no space left on device")
        return commit(self, *args, **kwargs)

    monkeypatch.setattr(LakeWriter, "_commit", commit_unless_refusing)
    metrics = server.observability.metrics_address
    client = OtlpClient(server.address)
    with pytest.raises(grpc.RpcError) as refused:
        client.export(export_request([inference_span()]), timeout=2)
    assert refused.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    body = wait_until(lambda: (answer := get(metrics, "/readyz"))[0] == 503 and answer[2])
    assert "no space left on device" in body
    assert get(metrics, "/healthz")[0] == 200  # alive: a restart would not help
    refusing.clear()
    client.export(export_request([inference_span()]), timeout=30)
    wait_until(lambda: get(metrics, "/readyz")[0] == 200)


def test_metrics_count_exactly_the_spans_and_requests_sent(server):
    client = OtlpClient(server.address)
    for seq in range(1, 6):  # 5 batches of 3 spans, then the third again
        client.export(export_request([inference_span() for _ in range(3)]), "edge-1", seq)
    client.export(export_request([inference_span() for _ in range(3)]), "edge-1", 3)
    client.export(export_request([inference_span() for _ in range(4)]))  # no batch id
    client.export(poison_span_request())  # one healthy span, one rejected
    with pytest.raises(grpc.RpcError):
        client.export(b"\x0a\xff\xff\xff\xff\x0f")  # not a request
    # A request is answered the moment its group commits; the group's counts follow.
    metrics = server.observability.metrics_address
    scrape = wait_until(lambda: (got := Scrape(metrics)).value(COMMITTED_REQUESTS) == 8 and got)
    assert scrape.value("parallax_ingest_spans_total", outcome="accepted") == 5 * 3 + 4 + 1
    assert scrape.value("parallax_ingest_spans_total", outcome="rejected") == 1
    assert scrape.value("parallax_ingest_batches_total", outcome="committed") == 5
    assert scrape.value("parallax_ingest_batches_total", outcome="duplicate") == 1
    assert scrape.value("parallax_requests_refused_total", reason="invalid") == 1
    requests = "parallax_requests_total"
    assert scrape.value(requests, transport="grpc", method=EXPORT, code="OK") == 8
    assert scrape.value(requests, transport="grpc", method=EXPORT, code="INVALID_ARGUMENT") == 1
    assert scrape.value("parallax_ingest_commit_duration_seconds_count") >= 1
    # a group's spans as admitted: the duplicate's and the rejected one's included
    assert scrape.value("parallax_ingest_commit_group_spans_sum") == 5 * 3 + 3 + 4 + 2
    assert scrape.value("parallax_ingest_queue_spans") == 0


def test_every_otlp_http_answer_is_counted_by_its_status(server):
    for _ in range(3):
        export = export_request([inference_span()]).SerializeToString()
        assert post(server.http_address, export).status == 200
    assert post(server.http_address, b"{}", "text/plain").status == 415
    assert post(server.http_address, b"", path="/v1/anything-a-client-likes").status == 404
    scrape = Scrape(server.observability.metrics_address)
    requests = "parallax_requests_total"
    assert scrape.value(requests, transport="http", method="POST /v1/traces", code="200") == 3
    assert scrape.value(requests, transport="http", method="POST /v1/traces", code="415") == 1
    assert scrape.value(requests, transport="http", method="other", code="404") == 1


def test_metrics_speak_openmetrics_to_a_scraper_that_asks_for_it(server):
    metrics = server.observability.metrics_address
    accept = {"Accept": "application/openmetrics-text; version=1.0.0"}
    status, headers, body = get(metrics, "/metrics", accept)
    assert status == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.endswith("# EOF\n")
    status, headers, body = get(metrics, "/metrics")
    assert headers["Content-Type"].startswith("text/plain")
    assert "# TYPE parallax_ingest_spans_total counter" in body


def test_the_reconciler_reports_its_runs_lag_and_the_findings_open_in_the_lake(store_settings):
    settings = Settings(
        store=store_settings,
        server=ServerSettings(listen="127.0.0.1:0", metrics_listen="127.0.0.1:0"),
        reconciler=ReconcilerSettings(interval_s=0.2),
    )
    server = start_server(settings)
    try:
        client = OtlpClient(server.address)
        spans = [  # int8 and fp32 disagree on every one of 200 inputs
            inference_span(attrs={conv.INPUT_FINGERPRINT: f"input-{n}",
                                  conv.MODEL_QUANTIZATION: quantization,
                                  conv.OUTPUT_LABEL: label})
            for n in range(200) for quantization, label in (("fp32", "fraud"), ("int8", "legit"))
        ]  # fmt: skip
        client.export(export_request(spans), node_id="edge-1", seq=1)
        metrics = server.observability.metrics_address
        scrape = wait_until(
            lambda: (
                (got := Scrape(metrics)).value("parallax_findings_open", kind="diverging pair")
                and got
            )
        )
    finally:
        server.stop()
    open_in_lake = lake_rows(
        store_settings, "SELECT kind, count(*) FROM findings WHERE status = 'open' GROUP BY kind"
    )
    exported = {
        dict(labels)["kind"]: value
        for (name, labels), value in scrape.samples.items()
        if name == "parallax_findings_open"
    }
    assert exported == dict(open_in_lake)
    assert scrape.value("parallax_reconciler_runs_total", outcome="ok") >= 1
    assert scrape.value("parallax_reconciler_run_duration_seconds_count") >= 1
    last_success = scrape.value("parallax_reconciler_last_success_timestamp_seconds")
    assert 0 < last_success <= time.time()
    assert scrape.value("parallax_reconciler_lag_seconds") >= 0
