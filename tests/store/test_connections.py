"""Connections cannot pile up: idle and silent ones are closed, and a healthy client gets
through once they are (real gRPC server, real sockets)."""

from __future__ import annotations

import socket

import grpc
import pytest

from tests.otlp import export_request, inference_span
from tests.servers import OtlpClient, lake_rows
from tests.waiting import wait_until

CAP = 24


def silent_socket(address: str) -> socket.socket:
    """A TCP connection that never sends a byte (no HTTP/2 preface)."""
    host, _, port = address.rpartition(":")
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(30)
    return sock


def closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(1 << 16) == b"" or closed_by_peer(sock)
    except (ConnectionResetError, TimeoutError):
        return True


def can_export(address: str, node: str) -> bool:
    client = OtlpClient(address, own_connection=True)
    try:
        client.export(export_request([inference_span()]), node_id=node, seq=1, timeout=2)
        return True
    except grpc.RpcError:
        return False
    finally:
        client.close()


@pytest.mark.slow
def test_idle_and_silent_connections_are_closed_and_cannot_starve_a_healthy_client(
    make_server, store_settings
):
    server = make_server(max_connections=CAP, connection_idle_timeout_s=1.0)
    idle_channels = []
    for i in range(CAP // 2):
        client = OtlpClient(server.address, own_connection=True)
        client.export(export_request([inference_span()]), node_id=f"idle-{i}", seq=1)
        idle_channels.append(client)  # connected, then silent
    silent = [silent_socket(server.address) for _ in range(CAP - CAP // 2)]

    # The server lets connections go (idle after 1 s, silent ones at the handshake
    # timeout), so a newcomer gets through without any of them being closed by the client.
    wait_until(lambda: can_export(server.address, "healthy"), timeout=60, interval=0.5)
    assert all(closed_by_peer(sock) for sock in silent)
    assert lake_rows(store_settings, "SELECT count(*) FROM spans WHERE node_id = 'healthy'") == [
        (1,)
    ]
    for client in idle_channels:
        client.close()
    for sock in silent:
        sock.close()


def test_connections_beyond_the_cap_are_refused_while_open_ones_keep_working(make_server):
    server = make_server(max_connections=4, connection_idle_timeout_s=600.0)
    working = [OtlpClient(server.address, own_connection=True) for _ in range(4)]
    for i, client in enumerate(working):
        client.export(export_request([inference_span()]), node_id=f"n{i}", seq=1)
    assert not can_export(server.address, "extra")
    for i, client in enumerate(working):  # the open connections are unaffected
        client.export(export_request([inference_span()]), node_id=f"n{i}", seq=2)
    for client in working:
        client.close()
