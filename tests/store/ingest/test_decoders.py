"""Decoder processes convert groups beside the server; the server alone writes the lake."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from store.ingest import convert
from store.ingest.decoders import DecoderFailed, DecoderPool
from tests.otlp import export_request, inference_span
from tests.servers import OtlpClient, lake_rows, server_process
from tests.waiting import wait_until


def broken_attribute_request() -> bytes:
    """A request the lean parse accepts whose one attribute is not valid protobuf."""
    request = convert.parse(export_request([inference_span()]).SerializeToString())
    broken = b"\x0a\x03abc\x12\x10\x0a"  # its value claims 16 bytes, 1 follows
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[0] += b"\x4a" + bytes([len(broken)]) + broken  # one more attribute (field 9)
    return request.SerializeToString()


def incoming(request: bytes, seq: int) -> convert.Incoming:
    return convert.Incoming(convert.parse(request), "edge-1", seq, "", request)


def children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                children.append(int(entry.name))
    return children


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_a_broken_attribute_refuses_only_its_request_while_the_rest_of_the_group_lands(
    make_server, store_settings
):
    server = make_server(decoders=2, flush_interval_ms=300)
    client = OtlpClient(server.address)
    good = export_request([inference_span(), inference_span()])
    broken = client.export_future(broken_attribute_request(), node_id="edge-b", seq=1)
    landed = client.export_future(good, node_id="edge-g", seq=1)
    with pytest.raises(grpc.RpcError) as error:
        broken.result()
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    landed.result()
    assert lake_rows(store_settings, "SELECT count(*) FROM spans") == [(2,)]
    assert lake_rows(store_settings, "SELECT node_id FROM ingested_batches") == [("edge-g",)]


def test_copies_of_a_batch_converted_by_different_decoders_are_written_once(
    make_server, store_settings
):
    server = make_server(decoders=2, flush_rows=1)  # every request is its own group
    client = OtlpClient(server.address)
    request = export_request([inference_span(), inference_span(), inference_span()])
    copies = [client.export_future(request, node_id="edge-1", seq=7) for _ in range(12)]
    assert all(copy.result().partial_success.rejected_spans == 0 for copy in copies)
    assert lake_rows(store_settings, "SELECT count(*) FROM spans") == [(3,)]
    assert lake_rows(store_settings, "SELECT count(*) FROM ingested_batches") == [(1,)]


def test_one_process_mode_converts_in_the_server_and_still_deduplicates(
    make_server, store_settings
):
    server = make_server(decoders=0)
    assert server.pipeline.decoder_pids == []
    client = OtlpClient(server.address)
    request = export_request([inference_span(), inference_span()])
    for _ in range(2):
        client.export(request, node_id="edge-1", seq=1)
    assert lake_rows(store_settings, "SELECT count(*) FROM spans") == [(2,)]


def test_a_decoder_that_dies_fails_only_the_group_it_held_and_is_replaced():
    pool = DecoderPool(1)
    pool.start()
    try:
        request = export_request([inference_span()]).SerializeToString()
        [first] = pool.pids
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: not alive(first))
        with pytest.raises(DecoderFailed):
            pool.submit([incoming(request, 1)], [1]).result(timeout=60)
        decoded = pool.submit([incoming(request, 2)], [1]).result(timeout=60)
        assert decoded.converted.table.num_rows == 1
        assert pool.pids and pool.pids != [first]
    finally:
        pool.close()


def test_a_pool_reports_which_requests_of_a_group_are_malformed():
    pool = DecoderPool(2)
    pool.start()
    try:
        good = export_request([inference_span(), inference_span()]).SerializeToString()
        group = [incoming(good, 1), incoming(broken_attribute_request(), 2), incoming(good, 3)]
        decoded = pool.submit(group, [2, 1, 2]).result(timeout=60)
        assert list(decoded.invalid) == [1]
        assert "KeyValue" in decoded.invalid[1]
        assert [o.accepted for o in decoded.converted.outcomes] == [2, 2]
    finally:
        pool.close()


def test_a_server_killed_with_sigkill_takes_its_decoders_with_it(tmp_path):
    server = server_process(tmp_path / "lake")
    decoders = wait_until(lambda: children_of(server.proc.pid))
    server.kill()
    wait_until(lambda: not any(alive(pid) for pid in decoders))


def test_sigterm_to_every_process_of_the_server_still_drains_and_exits_zero(tmp_path):
    from parallax.config import StoreSettings

    lake = tmp_path / "lake"
    server = server_process(lake)
    decoders = wait_until(lambda: children_of(server.proc.pid))
    client = OtlpClient(server.address)
    requests = [export_request([inference_span() for _ in range(20)]) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        sent = [
            pool.submit(client.export, request, "edge-term", seq)
            for seq, request in enumerate(requests, 1)
        ]
        wait_until(lambda: any(future.done() for future in sent))
        for pid in decoders:  # as a service manager stopping the whole group would
            os.kill(pid, signal.SIGTERM)
        assert server.stop(signal.SIGTERM) == 0
    acknowledged = {
        span.span_id.hex()
        for future, request in zip(sent, requests, strict=True)
        if future.exception() is None
        for span in request.resource_spans[0].scope_spans[0].spans
    }
    stored = {
        row[0] for row in lake_rows(StoreSettings(path=str(lake)), "SELECT span_id FROM spans")
    }
    assert acknowledged and acknowledged <= stored
    assert not any(alive(pid) for pid in decoders)
