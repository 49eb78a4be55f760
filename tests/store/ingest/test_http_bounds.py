"""The OTLP/HTTP port on a hostile network: slow, idle, oversized and too many clients.

Each misbehaving client holds at most one connection for a bounded time, and a healthy
client next to it is served meanwhile. The server here cuts idle connections and slow
bodies after a second and keeps at most four connections.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from launch.server import RunningServer
from parallax import conventions as conv
from parallax.config import StoreSettings
from tests.conftest import start_test_server
from tests.otlp import export_request, inference_span
from tests.otlp_http import closed_by_server, post, raw_connection
from tests.servers import lake_rows
from tests.waiting import wait_until

MAX_CONNECTIONS = 4


@pytest.fixture(scope="module")
def bounded(tmp_path_factory) -> Iterator[tuple[RunningServer, StoreSettings]]:
    store = StoreSettings(path=str(tmp_path_factory.mktemp("http-bounds") / "lake"))
    server = start_test_server(
        store,
        connection_idle_timeout_s=1.0,
        http_body_timeout_s=1.0,
        max_connections=MAX_CONNECTIONS,
    )
    yield server, store
    server.stop()


def healthy_export(server: RunningServer, store: StoreSettings, node: str) -> int:
    """Export one span as ``node``; the spans of ``node`` in the lake afterwards."""
    body = export_request([inference_span()], {conv.HOST_ID: node}).SerializeToString()
    assert post(server.http_address, body).status == 200
    return lake_rows(store, "SELECT count(*) FROM spans WHERE node_id = ?", [node])[0][0]


def test_slow_headers_and_slow_bodies_never_delay_a_healthy_client_and_are_cut_off(bounded):
    server, store = bounded
    slow_headers = raw_connection(server.http_address)
    slow_headers.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")  # and never the rest
    slow_body = raw_connection(server.http_address)
    slow_body.sendall(
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        b"Content-Length: 1000\r\n\r\n" + b"\x0a" * 10  # and never the other 990 bytes
    )
    assert healthy_export(server, store, "edge-slow-neighbour") == 1
    wait_until(lambda: closed_by_server(slow_headers) and closed_by_server(slow_body))
    assert healthy_export(server, store, "edge-slow-neighbour") == 2


def test_past_the_bound_a_client_takes_the_place_of_the_longest_idle_connection(bounded):
    server, store = bounded
    wait_until(lambda: server.http.open_connections == 0)  # earlier clients are gone
    idle = [raw_connection(server.http_address) for _ in range(MAX_CONNECTIONS)]
    wait_until(lambda: server.http.open_connections == MAX_CONNECTIONS)
    evicted = server.http.connections_evicted
    assert healthy_export(server, store, "edge-after-flood") == 1  # not kept out
    assert server.http.connections_evicted == evicted + 1
    assert closed_by_server(idle[0])
    wait_until(lambda: all(closed_by_server(sock) for sock in idle))  # the idle timeout


def test_past_the_bound_with_every_connection_inside_a_request_a_new_one_is_closed(bounded):
    server, store = bounded
    wait_until(lambda: server.http.open_connections == 0)
    inside = [raw_connection(server.http_address) for _ in range(MAX_CONNECTIONS)]
    for sock in inside:  # a whole head, then a body that never comes
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: 1000\r\n\r\n"
        )
    listening = server.http._server
    wait_until(lambda: listening.open_connections == MAX_CONNECTIONS)
    wait_until(lambda: listening.connections_waiting == 0)  # every head has arrived
    refused = server.http.connections_refused
    one_too_many = raw_connection(server.http_address)
    wait_until(lambda: closed_by_server(one_too_many))
    assert server.http.connections_refused == refused + 1
    wait_until(lambda: all(closed_by_server(sock) for sock in inside))  # the body timeout
    assert healthy_export(server, store, "edge-after-slow-bodies") == 1


def test_headers_past_their_bound_close_the_connection_and_the_next_client_is_served(bounded):
    server, store = bounded
    oversized = raw_connection(server.http_address)
    oversized.sendall(
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 64 * 1024 + b"\r\n\r\n"
    )
    wait_until(lambda: closed_by_server(oversized))
    assert healthy_export(server, store, "edge-after-big-headers") == 1
