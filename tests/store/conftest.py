"""Fixtures: a real lake in a temporary directory and a real ingest server on loopback."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from parallax.config import ServerSettings, Settings, StoreSettings
from parallax.conventions import BATCH_SEQUENCE_HEADER, NODE_ID_HEADER
from store.server import RunningServer, start_server

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture
def store_settings(tmp_path) -> StoreSettings:
    return StoreSettings(path=str(tmp_path / "lake"))


@pytest.fixture
def make_server(store_settings) -> Iterator[Callable[..., RunningServer]]:
    """Start an in-process server; keyword arguments override ServerSettings fields."""
    started: list[RunningServer] = []

    def start(**overrides) -> RunningServer:
        server_settings = dataclasses.replace(
            ServerSettings(listen="127.0.0.1:0", flush_interval_ms=20, stats_interval_s=3600),
            **overrides,
        )
        server = start_server(Settings(store=store_settings, server=server_settings))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(make_server) -> RunningServer:
    return make_server()


class OtlpClient:
    """Sends raw ExportTraceServiceRequests, optionally with a batch id."""

    def __init__(self, address: str, compression: grpc.Compression | None = None) -> None:
        self.channel = grpc.insecure_channel(address, compression=compression)
        self._export = self.channel.unary_unary(
            EXPORT_METHOD,
            request_serializer=lambda request: (
                request if isinstance(request, bytes) else request.SerializeToString()
            ),
            response_deserializer=ExportTraceServiceResponse.FromString,
        )

    def export(self, request, node_id: str | None = None, seq: int | None = None, timeout=30):
        metadata = []
        if node_id is not None:
            metadata.append((NODE_ID_HEADER, node_id))
        if seq is not None:
            metadata.append((BATCH_SEQUENCE_HEADER, str(seq)))
        return self._export(request, metadata=metadata, timeout=timeout)

    def export_future(self, request, node_id=None, seq=None, timeout=30):
        metadata = [(NODE_ID_HEADER, node_id), (BATCH_SEQUENCE_HEADER, str(seq))] if node_id else []
        return self._export.future(request, metadata=metadata, timeout=timeout)

    def close(self) -> None:
        self.channel.close()


@pytest.fixture
def client(server) -> Iterator[OtlpClient]:
    otlp = OtlpClient(server.address)
    yield otlp
    otlp.close()


def lake_rows(settings: StoreSettings, sql: str, params=None) -> list[tuple]:
    from store.lake import connect

    con = connect(settings, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
