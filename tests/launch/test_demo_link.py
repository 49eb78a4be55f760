"""The demo's link: forwards bytes while up, resets connections while cut, recovers."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from launch.demo.link import Link


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def link() -> Iterator[Link]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    forward = Link(f"127.0.0.1:{server.server_address[1]}")
    yield forward
    forward.close()
    server.shutdown()
    server.server_close()


def echo(address: str, payload: bytes) -> bytes:
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(payload)
        return conn.recv(4096)


def test_bytes_pass_while_up_and_connections_reset_while_cut(link):
    assert echo(link.address, b"ping") == b"ping"

    host, _, port = link.address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as open_before_cut:
        open_before_cut.sendall(b"a")
        assert open_before_cut.recv(16) == b"a"
        link.cut()
        with pytest.raises(OSError):
            open_before_cut.sendall(b"b")
            if not open_before_cut.recv(16):
                raise ConnectionResetError("closed")
    with pytest.raises(OSError):
        data = echo(link.address, b"lost")
        if not data:
            raise ConnectionResetError("closed")

    link.restore()
    assert echo(link.address, b"back") == b"back"
