"""A Tornado HTTP/1.1 server with a bound on open connections, and binding HOST:PORT.

Tornado bounds a request's header bytes (``max_header_size``), body bytes
(``max_body_size``), the time to send headers or to stay idle between requests
(``idle_connection_timeout``) and the time to send a body (``body_timeout``); it has no
bound on connections, so ``BoundedHTTPServer`` keeps at most ``max_connections`` open.
At the bound, a new connection takes the place of the one that has waited longest for
a request's head (idle between requests, or never having sent one: what a client
holding places open looks like), as nginx drains idle keep-alive connections when it
runs out (counted in ``connections_evicted``); only when every connection is inside a
request is the new one closed at once (``connections_refused``). So idle connections
cannot keep a client out for the idle timeout. Imported only by components that install
tornado.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

from tornado import httputil
from tornado.httpserver import HTTPServer
from tornado.iostream import IOStream
from tornado.netutil import bind_sockets

from parallax.errors import ConfigError


class BoundedHTTPServer(HTTPServer):
    """An HTTPServer that keeps at most ``max_connections`` connections open."""

    def initialize(self, *args, max_connections: int, **kwargs) -> None:  # type: ignore[override]
        super().initialize(*args, **kwargs)
        self.max_connections = max_connections
        self.open_connections = 0
        self.connections_refused = 0
        self.connections_evicted = 0
        # connections waiting for a request's head, the longest-waiting first
        self._awaiting_head: dict[object, None] = {}

    @property
    def connections_waiting(self) -> int:
        """Open connections waiting for a request's head (the ones a new client may evict)."""
        return len(self._awaiting_head)

    def handle_stream(self, stream: IOStream, address: tuple) -> None:
        if self.open_connections >= self.max_connections and not self._evict_longest_waiting():
            self.connections_refused += 1
            stream.close()
            return
        self.open_connections += 1
        super().handle_stream(stream, address)

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        self._awaiting_head.pop(server_conn, None)
        self._awaiting_head[server_conn] = None  # to the end: waiting since now
        delegate = super().start_request(server_conn, request_conn)
        return _OnHead(delegate, lambda: self._awaiting_head.pop(server_conn, None))

    def on_close(self, server_conn: object) -> None:
        self._awaiting_head.pop(server_conn, None)
        self.open_connections -= 1
        super().on_close(server_conn)

    def _evict_longest_waiting(self) -> bool:
        for server_conn in self._awaiting_head:
            del self._awaiting_head[server_conn]
            self.connections_evicted += 1
            server_conn.stream.close()  # type: ignore[attr-defined]  # HTTP1ServerConnection
            return True
        return False


class _OnHead(httputil.HTTPMessageDelegate):
    """Passes a request through, calling ``on_head`` once its head has arrived."""

    def __init__(self, delegate: httputil.HTTPMessageDelegate, on_head: Callable[[], object]):
        self._delegate = delegate
        self._on_head = on_head

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        self._on_head()
        return self._delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        return self._delegate.data_received(chunk)

    def finish(self) -> None:
        self._delegate.finish()

    def on_connection_close(self) -> None:
        self._delegate.on_connection_close()


def bind_listen(key: str, listen: str) -> tuple[list[socket.socket], str]:
    """Listening sockets for HOST:PORT (port 0: any free one) and the address bound;
    ConfigError naming ``key`` when the address cannot be bound."""
    host, _, port = listen.rpartition(":")
    try:
        sockets = bind_sockets(int(port), host.strip("[]"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"{key}: cannot listen on {listen}: {err}") from err
    return sockets, f"{host}:{sockets[0].getsockname()[1]}"
