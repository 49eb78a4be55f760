"""Delivery guarantees of the collector, with real processes: outages, kill -9, a full disk."""

from __future__ import annotations

import logging
import random
import signal
import threading
import time

import grpc
import pytest

from collector.agent import start_collector
from parallax.config import CollectorSettings, StoreSettings
from tests.otlp import export_request, inference_span
from tests.servers import OtlpClient, collector_process, free_port, lake_rows, server_process
from tests.waiting import wait_until

OUTAGE_S = 20

pytestmark = pytest.mark.slow


class App:
    """An app exporting requests to the collector; remembers which spans got OK."""

    def __init__(self, address: str, interval_s: float = 0.02, spans_per_export: int = 10) -> None:
        self.address = address
        self.interval_s = interval_s
        self.spans_per_export = spans_per_export
        self.acknowledged: set[str] = set()
        self.attempted: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> App:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        client = OtlpClient(self.address)
        while not self._stop.is_set():
            spans = [inference_span() for _ in range(self.spans_per_export)]
            ids = {span.span_id.hex() for span in spans}
            self.attempted |= ids
            try:
                client.export(export_request(spans), timeout=5)
            except grpc.RpcError:
                # Collector down: not acknowledged, and never re-sent by this app. A fresh
                # channel reconnects at once instead of after gRPC's reconnect backoff.
                client.close()
                client = OtlpClient(self.address)
            else:
                self.acknowledged |= ids
            self._stop.wait(self.interval_s)
        client.close()


def stored_span_ids(lake) -> list[str]:
    return [row[0] for row in lake_rows(StoreSettings(path=str(lake)), "SELECT span_id FROM spans")]


def assert_exactly_once(lake, app: App, timeout: float = 120) -> None:
    wait_until(lambda: app.acknowledged <= set(stored_span_ids(lake)), timeout=timeout)
    stored = stored_span_ids(lake)
    assert len(stored) == len(set(stored)), "a span was stored twice"
    assert set(stored) <= app.attempted


def test_steady_load_through_a_20_second_backend_outage_arrives_exactly_once(tmp_path):
    """Twenty seconds are ten times the longest retry backoff here; longer outages with
    the stock SDK beside the collector are bench/collector.py's (30 s)."""
    lake, port = tmp_path / "lake", free_port()
    server = server_process(lake, listen=f"127.0.0.1:{port}")
    collector = collector_process(f"127.0.0.1:{port}", tmp_path / "buffer", retry_max_s=2)
    # ~1,000 spans/s in 50-span exports, as an SDK's batch processor would send them
    app = App(collector.address, interval_s=0.05, spans_per_export=50).start()
    time.sleep(3)
    assert server.stop() == 0
    outage_started = time.monotonic()
    time.sleep(OUTAGE_S)
    acknowledged_during_outage = len(app.acknowledged)
    server = server_process(lake, listen=f"127.0.0.1:{port}")
    time.sleep(3)
    app.stop()
    assert acknowledged_during_outage > 0 and time.monotonic() - outage_started >= OUTAGE_S
    assert_exactly_once(lake, app, timeout=240)
    assert set(stored_span_ids(lake)) == app.acknowledged  # nothing failed: all were OK
    assert collector.stop() == 0
    assert server.stop() == 0


def test_kill_9_of_the_collector_at_random_moments_loses_and_duplicates_nothing(
    tmp_path, make_server
):
    server = make_server()
    listen = f"127.0.0.1:{free_port()}"
    buffer_dir = tmp_path / "buffer"
    collector = collector_process(server.address, buffer_dir, listen=listen, retry_max_s=1)
    app = App(listen, interval_s=0.005).start()
    rng = random.Random(20261123)
    for _ in range(20):
        time.sleep(rng.uniform(0.2, 1.0))
        collector.stop(signal.SIGKILL)
        collector = collector_process(server.address, buffer_dir, listen=listen, retry_max_s=1)
    time.sleep(1)
    app.stop()
    assert len(app.acknowledged) > 1000
    assert_exactly_once(server.lake.location.root, app)
    assert collector.stop() == 0


def test_a_full_buffer_drops_the_oldest_batches_and_counts_them_exactly(
    tmp_path, make_server, store_settings, caplog
):
    port = free_port()
    collector = start_collector(
        CollectorSettings(
            listen="127.0.0.1:0",
            http_listen="",
            metrics_listen="",
            backend=f"127.0.0.1:{port}",
            node_id="edge-full",
            buffer_dir=str(tmp_path / "buffer"),
            buffer_segment_bytes=16 * 1024,
            buffer_max_bytes=64 * 1024,
            zstd_dictionary=False,
            batch_linger_ms=0,
            retry_initial_s=0.05,
            retry_max_s=0.2,
        )
    )
    client = OtlpClient(collector.address)
    requests = [
        export_request([inference_span(attrs={"app.noise": random.randbytes(200).hex()})])
        for _ in range(400)
    ]
    with caplog.at_level(logging.WARNING):
        for request in requests:
            client.export(request)
    stats = collector.buffer.stats()
    assert stats.dropped_spans > 0
    assert stats.dropped_spans + stats.pending_spans == 400
    assert any("drop" in record.getMessage().lower() for record in caplog.records)

    make_server(listen=f"127.0.0.1:{port}")
    kept = 400 - stats.dropped_spans
    wait_until(lambda: collector.buffer.stats().pending_batches == 0)
    wait_until(lambda: lake_rows(store_settings, "SELECT count(*) FROM spans")[0][0] == kept)
    newest = {
        span.span_id.hex()
        for request in requests[-kept:]
        for span in request.resource_spans[0].scope_spans[0].spans
    }
    assert {row[0] for row in lake_rows(store_settings, "SELECT span_id FROM spans")} == newest
    collector.stop()
