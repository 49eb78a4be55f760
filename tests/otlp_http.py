"""A plain OTLP/HTTP client for tests: one request on its own connection, the answer whole."""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass

from google.rpc import status_pb2

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def rpc_status(self) -> status_pb2.Status:
        """The google.rpc.Status of a protobuf error answer."""
        return status_pb2.Status.FromString(self.body)


def post(
    address: str,
    body: bytes,
    content_type: str = PROTOBUF,
    headers: dict[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
    path: str = "/v1/traces",
    method: str = "POST",
    chunked: bool = False,
) -> Answer:
    host, _, port = address.rpartition(":")
    if tls is None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
    else:
        connection = http.client.HTTPSConnection(host, int(port), timeout=30, context=tls)
    try:
        sent = {"Content-Type": content_type, **(headers or {})}
        if chunked:
            connection.request(method, path, body=iter([body]), headers=sent, encode_chunked=True)
        else:
            connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        return Answer(
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            response.read(),
        )
    finally:
        connection.close()


def raw_connection(address: str) -> socket.socket:
    """A plain TCP connection to ``address``, for clients that misbehave on purpose."""
    host, _, port = address.rpartition(":")
    return socket.create_connection((host, int(port)), timeout=30)


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (reads until end of stream or a pause)."""
    sock.settimeout(0.05)
    try:
        while chunk := sock.recv(65536):
            del chunk
        return True
    except TimeoutError:
        return False
    except OSError:
        return True
