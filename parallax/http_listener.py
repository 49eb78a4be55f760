"""A Tornado HTTP/1.1 server with a bound on open connections, and binding HOST:PORT.

Tornado bounds a request's header bytes (``max_header_size``), body bytes
(``max_body_size``), the time to send headers or to stay idle between requests
(``idle_connection_timeout``) and the time to send a body (``body_timeout``); it has no
bound on connections, so ``BoundedHTTPServer`` closes a new connection at once when
``max_connections`` are open (counted in ``connections_refused``). Imported only by
components that install tornado.
"""

from __future__ import annotations

import socket

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

    def handle_stream(self, stream: IOStream, address: tuple) -> None:
        if self.open_connections >= self.max_connections:
            self.connections_refused += 1
            stream.close()
            return
        self.open_connections += 1
        super().handle_stream(stream, address)

    def on_close(self, server_conn: object) -> None:
        self.open_connections -= 1
        super().on_close(server_conn)


def bind_listen(key: str, listen: str) -> tuple[list[socket.socket], str]:
    """Listening sockets for HOST:PORT (port 0: any free one) and the address bound;
    ConfigError naming ``key`` when the address cannot be bound."""
    host, _, port = listen.rpartition(":")
    try:
        sockets = bind_sockets(int(port), host.strip("[]"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"{key}: cannot listen on {listen}: {err}") from err
    return sockets, f"{host}:{sockets[0].getsockname()[1]}"
