"""No request can stop, slow or fail another client's requests: real gRPC, a real lake.

Each abuse runs next to healthy streams, whose every request must be acknowledged and
every acknowledged span stored. Faults the wire cannot produce any more (an exception
inside conversion, the lake refusing a group's data) are injected into the real server.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import duckdb
import grpc
import pytest

from launch.server import run_server
from parallax import conventions as conv
from store.ingest import convert, pipeline
from store.ingest.writer import LakeWriter
from tests.otlp import attributes, export_request, inference_span
from tests.servers import OtlpClient, lake_rows
from tests.store.ingest.test_span_decisions import field, key_value, request_of, string_value

HEALTHY_STREAMS = 8
REQUESTS_PER_STREAM = 12
SPANS_PER_REQUEST = 5


def healthy_streams(address: str) -> list[str]:
    """Send HEALTHY_STREAMS streams of batches; return the node id of every stream."""
    nodes = [f"healthy-{i}" for i in range(HEALTHY_STREAMS)]

    def stream(node: str) -> None:
        client = OtlpClient(address)
        try:
            for seq in range(1, REQUESTS_PER_STREAM + 1):
                spans = [inference_span() for _ in range(SPANS_PER_REQUEST)]
                answer = client.export(export_request(spans), node_id=node, seq=seq, timeout=60)
                assert answer.partial_success.rejected_spans == 0
        finally:
            client.close()

    with ThreadPoolExecutor(HEALTHY_STREAMS) as pool:
        for done in [pool.submit(stream, node) for node in nodes]:
            done.result()
    return nodes


def assert_every_healthy_span_stored(store_settings, nodes: list[str]) -> None:
    rows = lake_rows(
        store_settings,
        "SELECT node_id, count(*) FROM spans WHERE node_id LIKE 'healthy-%' GROUP BY 1",
    )
    assert dict(rows) == {node: REQUESTS_PER_STREAM * SPANS_PER_REQUEST for node in nodes}


def run_with_abuse(address: str, abuse) -> tuple[list[str], list]:
    """Healthy streams while ``abuse(client)`` runs in a loop; the abuser's answers."""
    done, answers = threading.Event(), []

    def abuser() -> None:
        client = OtlpClient(address)
        try:
            while not done.is_set():
                answers.append(abuse(client))
        finally:
            client.close()

    thread = threading.Thread(target=abuser)
    thread.start()
    try:
        nodes = healthy_streams(address)
    finally:
        done.set()
        thread.join(60)
    return nodes, answers


def poison_span_request() -> bytes:
    """The ~100-byte killer of the issue, an attribute key that is not UTF-8, and a
    repeated key, in one span, beside a healthy span."""
    span = inference_span()
    span.attributes.extend(attributes({"dup": "a"}) + attributes({"dup": "b"}))
    raw = span.SerializeToString() + field(9, key_value(b"k\xff", string_value(b"v")))
    return request_of([raw])


def test_poison_spans_are_rejected_alone_and_never_fail_or_slow_healthy_streams(
    server, store_settings
):
    def abuse(client):
        return client.export(poison_span_request(), timeout=60).partial_success

    nodes, answers = run_with_abuse(server.address, abuse)
    assert_every_healthy_span_stored(store_settings, nodes)
    assert answers and all(a.rejected_spans == 1 for a in answers)
    assert all("not valid UTF-8" in a.error_message for a in answers)
    assert server.pipeline.problem() is None


def test_repeated_keys_never_fail_a_commit_group(server, store_settings):
    span = inference_span()
    span.attributes.extend(attributes({"dup": "a"}) + attributes({"dup": "b"}))

    def abuse(client):
        return client.export(export_request([span]), timeout=60).partial_success

    nodes, answers = run_with_abuse(server.address, abuse)
    assert_every_healthy_span_stored(store_settings, nodes)
    assert all(a.rejected_spans == 0 and "repeated" in a.error_message for a in answers)
    [(stored,)] = lake_rows(
        store_settings,
        "SELECT DISTINCT attributes['dup'] FROM spans WHERE span_id = ?",
        [span.span_id.hex()],
    )
    assert stored == "b"


def test_an_exception_inside_conversion_is_contained_to_the_request_that_caused_it(
    server, store_settings, monkeypatch
):
    real_convert = convert.convert

    def convert_that_breaks_on_a_marker(incoming, limits=convert.DEFAULT_LIMITS):
        for item in incoming:
            for resource in item.request.resource_spans:
                if any(b"conversion-bomb" in raw for raw in resource.resource.attributes):
                    raise RuntimeError("injected conversion failure")
        return real_convert(incoming, limits)

    monkeypatch.setattr(convert, "convert", convert_that_breaks_on_a_marker)
    bomb = export_request([inference_span()], resource={conv.SERVICE_NAME: "conversion-bomb"})

    def abuse(client):
        with pytest.raises(grpc.RpcError) as refused:
            client.export(bomb, timeout=60)
        return refused.value.code(), refused.value.details()

    nodes, answers = run_with_abuse(server.address, abuse)
    assert_every_healthy_span_stored(store_settings, nodes)
    assert answers and {code for code, _ in answers} == {grpc.StatusCode.INVALID_ARGUMENT}
    assert "could not convert" in answers[0][1]
    assert server.pipeline.problem() is None


def test_a_request_the_lake_refuses_is_isolated_and_the_rest_of_its_group_commits(
    make_server, store_settings, monkeypatch
):
    real_commit = LakeWriter._commit

    def commit_refusing_a_marker(self, table, batches, resources):
        if "lake-bomb" in table.column("service_name").to_pylist():
            raise duckdb.InvalidInputException("injected: Arrow map contains duplicate key")
        return real_commit(self, table, batches, resources)

    monkeypatch.setattr(LakeWriter, "_commit", commit_refusing_a_marker)
    server = make_server(commit_quiet_ms=50)  # groups of several requests
    bomb = export_request([inference_span()], resource={conv.SERVICE_NAME: "lake-bomb"})

    def abuse(client):
        with pytest.raises(grpc.RpcError) as refused:
            client.export(bomb, node_id="bomber", seq=1, timeout=60)
        return refused.value.code()

    nodes, answers = run_with_abuse(server.address, abuse)
    assert_every_healthy_span_stored(store_settings, nodes)
    assert answers and set(answers) == {grpc.StatusCode.INVALID_ARGUMENT}
    assert lake_rows(
        store_settings, "SELECT count(*) FROM ingested_batches WHERE node_id = 'bomber'"
    ) == [(0,)]


def test_a_lake_fault_answers_unavailable_and_the_retry_lands(server, store_settings, monkeypatch):
    real_commit = LakeWriter._commit
    faults = iter([duckdb.IOException("injected: disk full")])

    def commit_failing_once(self, *args):
        fault = next(faults, None)
        if fault is not None:
            raise fault
        return real_commit(self, *args)

    monkeypatch.setattr(LakeWriter, "_commit", commit_failing_once)
    client = OtlpClient(server.address)
    request = export_request([inference_span(), inference_span()])
    with pytest.raises(grpc.RpcError) as failed:
        client.export(request, node_id="edge-1", seq=1)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    client.export(request, node_id="edge-1", seq=1)
    assert lake_rows(store_settings, "SELECT count(*) FROM spans") == [(2,)]
    assert server.pipeline.problem() is None


class InjectedDeath(BaseException):
    """Ends a thread the way no handler catches."""


def test_a_dead_stage_answers_every_waiting_request_at_once_and_refuses_new_ones(
    server, monkeypatch
):
    def die(self, group, converted):
        raise InjectedDeath("writer thread killed")

    monkeypatch.setattr(pipeline.IngestPipeline, "_write_group", die)
    client = OtlpClient(server.address)
    with pytest.raises(grpc.RpcError) as first:
        client.export(export_request([inference_span()]), timeout=30)
    assert first.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "ingest-write died" in server.pipeline.problem()
    with pytest.raises(grpc.RpcError) as later:
        client.export(export_request([inference_span()]), timeout=30)
    assert later.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "ingest-write died" in later.value.details()


def test_the_server_exits_non_zero_when_an_ingest_stage_dies(store_settings, monkeypatch):
    from parallax.config import ServerSettings, Settings

    def die(self, group, converted):
        raise InjectedDeath("writer thread killed")

    monkeypatch.setattr(pipeline.IngestPipeline, "_write_group", die)

    def send_one(running) -> None:
        def send():
            client = OtlpClient(running.address)
            with pytest.raises(grpc.RpcError):
                client.export(export_request([inference_span()]), timeout=30)

        threading.Thread(target=send, daemon=True).start()

    server = ServerSettings(listen="127.0.0.1:0", http_listen="", metrics_listen="")
    settings = Settings(store=store_settings, server=server)
    assert run_server(settings, on_ready=send_one) == 1
