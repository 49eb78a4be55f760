"""`parallax server` as a real process: crash safety, clean shutdown, one writer, many readers."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import grpc
import pytest

from tests.otlp import export_request, inference_span
from tests.servers import OtlpClient, lake_rows, server_process
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "launch.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
    )


class BatchSender:
    """Sends numbered batches like a collector and remembers which were acknowledged."""

    def __init__(self, node: str, spans_per_batch: int = 40) -> None:
        self.node = node
        self.batches = {}
        self.acknowledged: set[int] = set()
        self.spans_per_batch = spans_per_batch
        self._next = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, address: str, threads: int = 1) -> BatchSender:
        """Send from ``threads`` threads until ``stop()``."""
        self._threads = [
            threading.Thread(target=self._send_until_stopped, args=(address,))
            for _ in range(threads)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def batch(self) -> tuple[int, object]:
        with self._lock:
            self._next += 1
            seq = self._next
        self.batches[seq] = export_request([inference_span() for _ in range(self.spans_per_batch)])
        return seq, self.batches[seq]

    def _send_until_stopped(self, address: str) -> None:
        client = OtlpClient(address)
        while not self._stop.is_set():
            seq, request = self.batch()
            try:
                client.export(request, node_id=self.node, seq=seq, timeout=10)
            except grpc.RpcError:
                continue  # the server died mid-request: unacknowledged, a collector would retry
            with self._lock:
                self.acknowledged.add(seq)
        client.close()

    def span_ids(self, seqs) -> set[str]:
        return {
            s.span_id.hex()
            for q in seqs
            for s in self.batches[q].resource_spans[0].scope_spans[0].spans
        }


def test_every_acknowledged_span_survives_kill_9_and_retries_are_not_stored_twice(tmp_path):
    from parallax.config import StoreSettings

    lake = tmp_path / "lake"
    server = server_process(lake)
    sender = BatchSender("edge-crash").start(server.address, threads=3)
    wait_until(lambda: len(sender.acknowledged) >= 60, timeout=60)
    server.stop(signal.SIGKILL)
    sender.stop()
    acknowledged = set(sender.acknowledged)

    restarted = server_process(lake)
    settings = StoreSettings(path=str(lake))
    stored = [row[0] for row in lake_rows(settings, "SELECT span_id FROM spans")]
    assert sender.span_ids(acknowledged) <= set(stored), "an acknowledged span was lost"
    assert len(stored) == len(set(stored)), "a span was stored twice"

    # A collector re-sends every batch it has no acknowledgement for, and may re-send
    # acknowledged ones too: the lake ends up with every span exactly once.
    client = OtlpClient(restarted.address)
    for seq, request in sender.batches.items():
        client.export(request, node_id="edge-crash", seq=seq)
    client.close()
    stored = [row[0] for row in lake_rows(settings, "SELECT span_id FROM spans")]
    assert sorted(stored) == sorted(sender.span_ids(sender.batches))
    assert restarted.stop() == 0


def test_sigterm_commits_what_was_accepted_and_exits_zero(tmp_path):
    from parallax.config import StoreSettings

    lake = tmp_path / "lake"
    server = server_process(lake)
    sender = BatchSender("edge-term").start(server.address)
    wait_until(lambda: len(sender.acknowledged) >= 10)
    assert server.stop(signal.SIGTERM) == 0
    sender.stop()
    stored = {
        row[0] for row in lake_rows(StoreSettings(path=str(lake)), "SELECT span_id FROM spans")
    }
    assert sender.span_ids(sender.acknowledged) <= stored
    assert "stopped cleanly" in server.proc.stderr.read()


def test_a_second_writer_on_the_same_lake_is_refused_naming_the_holder(tmp_path):
    lake = tmp_path / "lake"
    server = server_process(lake)
    second = run_cli("server", "--lake", str(lake), "--listen", "127.0.0.1:0")
    assert second.returncode == 2
    assert "already has a writer" in second.stderr
    assert f'"pid": {server.proc.pid}' in second.stderr
    assert server.stop() == 0


def test_readers_in_other_processes_query_while_the_server_writes(tmp_path):
    lake = tmp_path / "lake"
    server = server_process(lake)
    sender = BatchSender("edge-read").start(server.address)
    wait_until(lambda: len(sender.acknowledged) >= 3)
    counts = []
    for _ in range(3):
        result = run_cli(
            "sql", "--lake", str(lake), "--format", "csv", "SELECT count(*) AS n FROM spans"
        )
        assert result.returncode == 0, result.stderr
        counts.append(int(result.stdout.splitlines()[1]))
    sender.stop()
    assert counts == sorted(counts) and counts[0] > 0
    assert server.stop() == 0
