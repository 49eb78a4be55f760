"""The metrics listener faces a hostile network: junk, oversized headers and bodies,
slow and idle clients and connection floods are refused or outwaited, and a scraper
next to them is answered every time."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from parallax import metrics_http
from parallax.errors import ConfigError
from parallax.health import Health
from parallax.metrics_http import MetricsListener
from tests.scraping import Scrape, get
from tests.waiting import wait_until

READ_TIMEOUT_S = 30


@pytest.fixture
def listener() -> Iterator[MetricsListener]:
    registry = CollectorRegistry(auto_describe=False)
    Counter("parallax_test_events", "Events.", registry=registry).inc(3)
    health = Health(interval_s=3600)
    health.start(list, list)
    started = MetricsListener("test.metrics_listen", "127.0.0.1:0", registry, health)
    started.start()
    yield started
    started.stop()
    health.stop()


def assert_scrape_answered(address: str) -> None:
    assert Scrape(address).value("parallax_test_events_total") == 3
    assert get(address, "/healthz")[:1] == (200,)


def connect(address: str) -> socket.socket:
    host, _, port = address.rpartition(":")
    client = socket.create_connection((host, int(port)), timeout=READ_TIMEOUT_S)
    return client


def answer_of(client: socket.socket) -> bytes:
    """Everything the listener sends until it closes the connection (a close with our
    bytes unread arrives as a reset)."""
    received = b""
    try:
        while chunk := client.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


@pytest.mark.parametrize(
    "junk",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) + b"\r\n\r\n",
        b"GET /metr\xffics HTTP/1.1\r\nHost: \xfe\xfe\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
    ],
    ids=["tls-hello", "invalid-utf8", "http2-preface", "bad-chunk"],
)
def test_junk_is_refused_and_a_scrape_beside_it_is_answered(listener, junk):
    client = connect(listener.address)
    client.sendall(junk)
    answer = answer_of(client)
    assert answer == b"" or answer.split(b" ")[1][:1] == b"4"
    assert_scrape_answered(listener.address)


def test_oversized_headers_close_the_connection_and_a_scrape_beside_it_is_answered(listener):
    client = connect(listener.address)
    huge = b"X-Filler: " + b"a" * (metrics_http.MAX_HEADER_BYTES * 8) + b"\r\n"
    client.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + huge + b"\r\n")
    answer = answer_of(client)
    assert b"parallax_test_events" not in answer
    assert_scrape_answered(listener.address)


def test_a_body_is_refused(listener):
    client = connect(listener.address)
    client.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
    answer = answer_of(client)
    assert b"parallax_test_events" not in answer
    assert_scrape_answered(listener.address)


def test_only_get_on_the_three_paths_is_served(listener):
    assert get(listener.address, "/")[0] == 404
    assert get(listener.address, "/metrics/../etc/passwd")[0] == 404
    client = connect(listener.address)
    client.sendall(b"DELETE /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer_of(client).startswith(b"HTTP/1.1 405")


def test_slow_clients_are_closed_at_the_idle_timeout_and_never_delay_a_scrape(monkeypatch):
    monkeypatch.setattr(metrics_http, "IDLE_TIMEOUT_S", 1.0)
    registry = CollectorRegistry(auto_describe=False)
    Counter("parallax_test_events", "Events.", registry=registry).inc(3)
    health = Health(interval_s=3600)
    health.start(list, list)
    listener = MetricsListener("test.metrics_listen", "127.0.0.1:0", registry, health)
    address = listener.start()
    try:
        slow = [connect(address) for _ in range(8)]
        for client in slow:
            client.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # never finished
        assert_scrape_answered(address)
        for client in slow:
            assert b"parallax_test_events" not in answer_of(client)  # closed by the listener
        assert_scrape_answered(address)
    finally:
        listener.stop()
        health.stop()


def test_a_flood_of_idle_connections_cannot_keep_a_scrape_out(listener):
    flood = [connect(listener.address) for _ in range(metrics_http.MAX_CONNECTIONS)]
    for client in flood:  # each one accepted and holding its place with a partial request
        client.sendall(b"GET /metrics HTTP/1.1\r\n")
    wait_until(lambda: listener._server.open_connections == metrics_http.MAX_CONNECTIONS)
    # in the place of the longest-waiting one
    assert Scrape(listener.address).value("parallax_test_events_total") == 3
    assert answer_of(flood[0]) == b""  # closed by the listener, never answered
    assert listener._server.connections_evicted == 1


def test_past_the_bound_with_every_connection_inside_a_request_a_new_one_is_closed(listener):
    inside = [connect(listener.address) for _ in range(metrics_http.MAX_CONNECTIONS)]
    for client in inside:  # a whole head, then a body that never comes
        client.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
    wait_until(lambda: listener._server.open_connections == metrics_http.MAX_CONNECTIONS)
    wait_until(lambda: listener._server.connections_waiting == 0)  # every head has arrived
    one_too_many = connect(listener.address)
    assert answer_of(one_too_many) == b""
    assert listener._server.connections_refused == 1
    for client in inside:
        client.close()
    wait_until(lambda: answered(listener.address))  # once the listener has seen the closes
    assert_scrape_answered(listener.address)


def answered(address: str) -> bool:
    try:
        return get(address, "/healthz")[0] == 200
    except ConnectionError:
        return False


def test_a_port_in_use_is_a_configuration_error_that_names_the_key(listener):
    registry = CollectorRegistry(auto_describe=False)
    second = MetricsListener("server.metrics_listen", listener.address, registry, Health())
    with pytest.raises(ConfigError, match=r"server\.metrics_listen: cannot listen on"):
        second.start()
