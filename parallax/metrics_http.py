"""The metrics listener: ``GET /metrics``, ``/healthz`` and ``/readyz`` over HTTP/1.1.

- ``/metrics``: the process's own Prometheus registry, in the Prometheus text format or
  OpenMetrics as the scraper's Accept header asks (prometheus_client negotiates);
- ``/healthz``: 200 while the process is alive, else 503 with the reasons;
- ``/readyz``: 200 while it is ready for work, else 503 with the reasons (draining
  included), as ``parallax.health.Health`` last judged.

Every byte a client sends may be hostile, and a scraper must still be answered next to
it: headers are bounded (``MAX_HEADER_BYTES``), bodies refused past ``MAX_BODY_BYTES``, a
connection that sends nothing (or headers too slowly) for ``IDLE_TIMEOUT_S`` is closed,
at most ``MAX_CONNECTIONS`` are open at once (past that a new one takes the place of the
longest idle: parallax.http_listener), and the registry is rendered off the event loop
so a slow collector cannot stall /healthz.
Tornado serves it on its own event loop thread. The listener only reads; it does not
authenticate, so an address beyond loopback should be one only the scrapers can reach
(docs/operations.md). Imported only by components that install tornado and
prometheus-client.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from tornado.web import Application, RequestHandler

from parallax.aio import EventLoopThread
from parallax.exposure import is_loopback
from parallax.health import Health
from parallax.http_listener import BoundedHTTPServer, bind_listen

log = logging.getLogger("parallax.metrics")

MAX_HEADER_BYTES = 8 * 1024
MAX_BODY_BYTES = 1024
IDLE_TIMEOUT_S = 30.0
BODY_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 64


class _Handler(RequestHandler):
    def initialize(self, registry: CollectorRegistry, health: Health) -> None:
        self.registry = registry
        self.health = health

    def set_default_headers(self) -> None:
        self.clear_header("Server")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")

    def answer(self, problems: tuple[str, ...]) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        if problems:
            self.set_status(503)
            self.finish("".join(f"{problem}\n" for problem in problems))
        else:
            self.finish("ok\n")


class _Metrics(_Handler):
    async def get(self) -> None:
        encoder, content_type = choose_encoder(self.request.headers.get("Accept"))
        body = await asyncio.get_running_loop().run_in_executor(None, encoder, self.registry)
        self.set_header("Content-Type", content_type)
        self.finish(body)


class _Alive(_Handler):
    def get(self) -> None:
        self.answer(self.health.verdict.not_alive)


class _Ready(_Handler):
    def get(self) -> None:
        self.answer(self.health.verdict.not_ready)


def _log_nothing(handler: RequestHandler) -> None:
    """Scrapes come every few seconds: no access log."""


class MetricsListener:
    """Serves a registry and a Health on ``listen`` (HOST:PORT) once started."""

    def __init__(self, key: str, listen: str, registry: CollectorRegistry, health: Health):
        self._key = key
        self._listen = listen
        self._application = Application(
            [
                (r"/metrics", _Metrics, {"registry": registry, "health": health}),
                (r"/healthz", _Alive, {"registry": registry, "health": health}),
                (r"/readyz", _Ready, {"registry": registry, "health": health}),
            ],
            compress_response=True,
            log_function=_log_nothing,
        )
        self._loop: EventLoopThread | None = None
        self._server: BoundedHTTPServer | None = None
        self.address = ""

    def start(self) -> str:
        """Listen; the address bound (HOST:PORT). Raises ConfigError when it cannot."""
        self._loop = EventLoopThread("metrics-http")
        try:
            self.address = self._loop.run(self._serve())
        except BaseException:
            self._loop.close()
            self._loop = None
            raise
        where = "this machine only" if is_loopback(self.address) else "the network: no auth"
        log.info("metrics and health on http://%s (%s)", self.address, where)
        return self.address

    async def _serve(self) -> str:
        sockets, address = bind_listen(self._key, self._listen)
        self._server = BoundedHTTPServer(
            self._application,
            max_connections=MAX_CONNECTIONS,
            max_header_size=MAX_HEADER_BYTES,
            max_body_size=MAX_BODY_BYTES,
            idle_connection_timeout=IDLE_TIMEOUT_S,
            body_timeout=BODY_TIMEOUT_S,
        )
        self._server.add_sockets(sockets)
        return address

    def stop(self) -> None:
        if self._loop is None:
            return
        self._loop.run(self._close(), timeout=10)
        self._loop.close()
        self._loop = None

    async def _close(self) -> None:
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
