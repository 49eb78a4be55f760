"""The ingest sweep's pieces that need no server: shapes, plan, results file, no-op receiver."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import grpc

from bench.ingest_load import LoadShape
from bench.ingest_sweep import SweepPlan
from bench.ingest_targets import NOOP_RECEIVER
from bench.otlp_clients import METHOD
from bench.report import write_results


def shape(clients: int, inflight: int) -> LoadShape:
    return LoadShape(True, clients, inflight, 512, 20, "gzip", 30.0, 3.0, 30.0, 20.0)


def test_in_flight_total_is_split_evenly_over_client_processes() -> None:
    assert shape(1, 8).lanes_per_client() == [8]
    assert shape(3, 8).lanes_per_client() == [3, 3, 2]
    assert shape(16, 8).lanes_per_client() == [1] * 8  # no client without a request


def test_default_sweep_states_its_runs_and_bound_up_front() -> None:
    plan = SweepPlan(("gzip", "none"), (8, 16, 64, 256), 1, 512, 20, 30.0, 3.0, 30.0, 20.0, 10_000)
    text = plan.runtime_text()
    assert plan.load_runs() == 18  # 8 cells x (no-op + server) + the SDK app x (no-op + server)
    assert "18 runs of 30 s: 9.0 min of load" in text
    assert "at most" in text


def test_sweeps_are_merged_beside_the_runs(tmp_path) -> None:
    path = tmp_path / "ingest.json"
    write_results(path, "threads-gzip", {"figure": 1}, "d")
    write_results(path, "sweep-1", {"cells": {}}, "d", section="sweeps")
    data = json.loads(path.read_text())
    assert data["runs"] == {"threads-gzip": {"figure": 1}}
    assert data["sweeps"] == {"sweep-1": {"cells": {}}}
    assert (data["latest"], data["latest_sweeps"]) == ("threads-gzip", "sweep-1")


def test_noop_receiver_answers_any_export_with_an_empty_response() -> None:
    command = [sys.executable, str(NOOP_RECEIVER), "--listen", "127.0.0.1:0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        address = process.stdout.readline().split()[-1]
        with grpc.insecure_channel(address, compression=grpc.Compression.Gzip) as channel:
            export = channel.unary_unary(METHOD)
            assert export(b"\xff not protobuf", timeout=10) == b""
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
