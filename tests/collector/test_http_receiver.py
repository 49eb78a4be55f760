"""The collector's local receiver over OTLP/HTTP: the same decisions and bounds as gRPC.

Real in-process collectors shipping to a real server and lake. Apps export with the
stock SDK's HTTP exporter or a plain HTTP client; the spans land tagged with the node's
identity; the receiver token, admission (429 with Retry-After), 400, 413 and a gzip bomb
are answered as on the server, each next to a healthy app.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from launch.server import RunningServer
from parallax import conventions as conv
from parallax.config import StoreSettings
from parallax.errors import ConfigError
from tests.conftest import start_test_server
from tests.otlp import export_request, gzip_bomb, inference_span
from tests.otlp_http import JSON, post, raw_connection
from tests.servers import lake_rows
from tests.waiting import wait_until

MiB = 1024 * 1024
JS_EXPORTER = Path(__file__).resolve().parent.parent / "js"
FP_JSON = {"stringValue": "fp-json"}


@pytest.fixture(scope="module")
def backend(tmp_path_factory) -> Iterator[tuple[RunningServer, StoreSettings]]:
    store = StoreSettings(path=str(tmp_path_factory.mktemp("collector-http") / "lake"))
    server = start_test_server(store)
    yield server, store
    server.stop()


def spans_with(store: StoreSettings, service: str) -> list[tuple]:
    return lake_rows(
        store,
        "SELECT node_id, hardware_tier, input_fingerprint FROM inferences "
        "WHERE service_name = ? ORDER BY input_fingerprint",
        [service],
    )


def app_export(service: str, spans: int = 1) -> bytes:
    resource = {conv.SERVICE_NAME: service}
    return export_request([inference_span() for _ in range(spans)], resource).SerializeToString()


def test_the_stock_sdk_http_exporter_exports_through_the_collector_unchanged(
    backend, make_collector
):
    server, store = backend
    collector = make_collector(server.address)
    provider = TracerProvider(resource=Resource.create({conv.SERVICE_NAME: "sdk-app"}))
    exporter = OTLPSpanExporter(
        endpoint=f"http://{collector.http_address}/v1/traces", compression=Compression.Gzip
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("sdk-app")
    for i in range(3):
        with tracer.start_as_current_span("inference") as span:
            span.set_attribute(conv.FEATURE, "fraud-scoring")
            span.set_attribute(conv.INPUT_FINGERPRINT, f"input-{i}")
    provider.shutdown()
    expected = [("edge-7", "device", f"input-{i}") for i in range(3)]
    wait_until(lambda: spans_with(store, "sdk-app") == expected, timeout=60)


def test_an_otlp_json_export_is_buffered_and_shipped(backend, make_collector):
    server, store = backend
    collector = make_collector(server.address)
    document = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": conv.SERVICE_NAME, "value": {"stringValue": "js"}}]
                },
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "0af7651916cd43dd8448eb211c80319c",
                                "spanId": "b7ad6b7169203331",
                                "name": "inference",
                                "kind": 2,
                                "startTimeUnixNano": "1790000000000000000",
                                "endTimeUnixNano": "1790000000010000000",
                                "attributes": [
                                    {"key": conv.FEATURE, "value": {"stringValue": "fraud"}},
                                    {"key": conv.INPUT_FINGERPRINT, "value": FP_JSON},
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    answer = post(collector.http_address, json.dumps(document).encode(), JSON)
    assert (answer.status, answer.body) == (200, b"{}")
    wait_until(lambda: spans_with(store, "js") == [("edge-7", "device", "fp-json")], timeout=60)


def test_unparseable_oversized_and_bomb_bodies_are_refused_next_to_a_healthy_app(
    backend, make_collector
):
    server, store = backend
    collector = make_collector(server.address, receive_max_message_bytes=MiB)
    address = collector.http_address
    assert post(address, b"\xff not protobuf").status == 400
    assert post(address, b'{"resourceSpans": "\xff"}', JSON).status == 400
    assert post(address, b"x" * (MiB + 1)).status == 413
    bomb = post(address, gzip_bomb(64), headers={"Content-Encoding": "gzip"})
    assert bomb.status == 413
    assert post(address, b"{}", "text/plain").status == 415
    assert post(address, app_export("healthy-app", 2)).status == 200
    assert collector.receiver.counters.invalid_requests == 2
    assert collector.receiver.admission.bytes_held == 0  # every refusal gave its room back
    wait_until(lambda: len(spans_with(store, "healthy-app")) == 2, timeout=60)


def test_apps_need_the_receiver_token_over_http_too(backend, make_collector, tmp_path):
    server, store = backend
    token_file = tmp_path / "receiver.token"
    token_file.write_text("local-secret\n")
    collector = make_collector(server.address, receiver_token_file=str(token_file))
    stranger = post(collector.http_address, app_export("stranger"))
    assert stranger.status == 401 and stranger.rpc_status().code == 16  # UNAUTHENTICATED
    wrong = post(collector.http_address, app_export("stranger"), headers=bearer("guess"))
    assert wrong.status == 401
    app = post(collector.http_address, app_export("token-app"), headers=bearer("local-secret"))
    assert app.status == 200
    wait_until(lambda: len(spans_with(store, "token-app")) == 1, timeout=60)
    assert spans_with(store, "stranger") == []


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_slow_app_holds_only_its_slot_and_a_busy_collector_answers_429(backend, make_collector):
    server, store = backend
    collector = make_collector(server.address, max_concurrent_exports=1)
    slow = raw_connection(collector.http_address)
    slow.sendall(
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        b"Content-Length: 1000\r\n\r\n"  # admitted, then never sends its body
    )
    wait_until(lambda: collector.receiver.admission.exports_in_progress == 1)
    busy = post(collector.http_address, app_export("patient-app"))
    assert busy.status == 429 and busy.headers["retry-after"] == "1"
    slow.close()
    wait_until(lambda: collector.receiver.admission.exports_in_progress == 0)
    assert collector.receiver.admission.bytes_held == 0
    assert post(collector.http_address, app_export("patient-app")).status == 200
    wait_until(lambda: len(spans_with(store, "patient-app")) == 1, timeout=60)


def test_an_http_receiver_beyond_loopback_needs_a_token_or_insecure(backend, make_collector):
    server, _ = backend
    with pytest.raises(ConfigError, match=r"OTLP/HTTP receiver would listen on 0\.0\.0\.0:0"):
        make_collector(server.address, http_listen="0.0.0.0:0")


@pytest.fixture(scope="module")
def js_exporter(tmp_path_factory) -> Path:
    """tests/js/export_spans.cjs with the JS SDK's packages installed beside it by npm."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("the JS SDK's exporter needs node and npm")
    directory = tmp_path_factory.mktemp("js-exporter")
    for name in ("package.json", "export_spans.cjs"):
        shutil.copy(JS_EXPORTER / name, directory / name)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error"],
        cwd=directory,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return directory / "export_spans.cjs"


def test_the_js_sdk_http_exporter_exports_to_the_collector_and_to_the_server_unchanged(
    backend, make_collector, js_exporter
):
    server, store = backend
    collector = make_collector(server.address)
    for address, service in ((collector.http_address, "js-via-collector"),
                             (server.http_address, "js-direct")):  # fmt: skip
        url = f"http://{address}/v1/traces"
        result = subprocess.run(
            ["node", str(js_exporter), url, service, "3"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    fingerprints = [f"js-{i}" for i in range(3)]
    wait_until(
        lambda: [row[2] for row in spans_with(store, "js-via-collector")] == fingerprints,
        timeout=60,
    )
    assert {row[0] for row in spans_with(store, "js-via-collector")} == {"edge-7"}
    assert [row[2] for row in spans_with(store, "js-direct")] == fingerprints
