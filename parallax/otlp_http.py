"""OTLP/HTTP ``POST /v1/traces``, in front of the same decision as OTLP/gRPC.

The listener reads a request in three steps and asks its ``Exports`` (the server's
ingest or the collector's receiver) at two of them:

1. headers: the path (404), method (405), ``Content-Type`` (415 unless protobuf or
   JSON) and ``Content-Encoding`` (415 unless gzip, deflate or none) are checked, then
   ``Exports.admit(caller)`` decides on the caller (token, certificate, batch headers,
   admission); a refusal is answered before a byte of the body is read, and the
   connection is closed rather than read on;
2. body: read as it comes; once it passes ``max_message_bytes`` (or declares a
   ``Content-Length`` past it) its admission is given back, the rest is read and
   dropped, and 413 answers its end: answered while the client still sends, the closed
   connection would reset before the client read the answer. Tornado cuts a body past
   twice the limit (a bare 400);
3. ``Exports.accept(ticket, data)`` with the body decoded (parallax.otlp_http_codec,
   off the event loop when it has to inflate or parse JSON) and answers 200 with an
   ExportTraceServiceResponse, or the refusal's status (parallax.calls) with a
   google.rpc.Status body and, when retryable, ``Retry-After``.

Every request answered is told to ``on_answer(request, status)`` once, just before the
answer is written: ``request`` is ``ANSWERED_EXPORT`` ("POST /v1/traces") or
``ANSWERED_OTHER`` for any other method or path (a label from a fixed set, never the
client's text). Requests Tornado refuses itself (malformed or oversized headers) never
reach the listener and are not told.

``Exports.release(ticket)`` is called exactly once for every admitted request, however
it ends (answered, refused, or the client gone). Hostile clients are bounded by
``HttpLimits`` (parallax.http_listener): header bytes, connections, the time to send
headers or stay idle, the time to send a body. The listener runs on the caller's event
loop (one the gRPC server may share): a request waiting for its commit holds no thread.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from tornado import httputil
from tornado.http1connection import HTTP1Connection
from tornado.iostream import StreamClosedError

from parallax import otlp_http_codec as codec
from parallax.calls import Caller, CallRefused, Refusal
from parallax.http_listener import BoundedHTTPServer, bind_listen
from parallax.ratelimit import RateLimitedLog

log = logging.getLogger("parallax.otlp_http")

TRACES_PATH = "/v1/traces"
ANSWERED_EXPORT = f"POST {TRACES_PATH}"
ANSWERED_OTHER = "other"
MAX_HEADER_BYTES = 16 * 1024
DECODE_THREADS = 2
T = TypeVar("T")

OnAnswer = Callable[[str, int], None]
"""on_answer(request, status): one request answered with HTTP ``status``."""


def _answered_nothing(request: str, status: int) -> None:
    """No one counts the answers."""


class Exports(Protocol[T]):
    """What a receiver decides, before (``admit``) and after (``accept``) the body."""

    async def admit(self, caller: Caller) -> T: ...

    async def accept(self, ticket: T, data: bytes) -> ExportTraceServiceResponse: ...

    def release(self, ticket: T) -> None: ...

    def count_invalid(self) -> None:
        """Count a request whose body could not be decoded (refused 400 before accept)."""


@dataclass(frozen=True)
class HttpLimits:
    max_message_bytes: int  # decoded request bytes, and body bytes as sent
    max_connections: int
    idle_timeout_s: float  # to send a request's headers, or between requests
    body_timeout_s: float  # to send a request's body


class OtlpHttpListener(Generic[T]):
    """Serves ``POST /v1/traces`` for ``exports`` on the running event loop."""

    def __init__(
        self,
        exports: Exports[T],
        limits: HttpLimits,
        ssl_context: ssl.SSLContext | None = None,
        on_answer: OnAnswer = _answered_nothing,
    ) -> None:
        self.exports = exports
        self.limits = limits
        self.on_answer = on_answer
        self._ssl_context = ssl_context
        self._server: BoundedHTTPServer | None = None
        self._decoder = ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="otlp-http-decode")
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task] = set()
        self.errors = RateLimitedLog(log)

    @property
    def open_connections(self) -> int:
        return self._server.open_connections if self._server else 0

    @property
    def connections_refused(self) -> int:
        return self._server.connections_refused if self._server else 0

    @property
    def connections_evicted(self) -> int:
        return self._server.connections_evicted if self._server else 0

    async def start(self, key: str, listen: str) -> str:
        """Listen on HOST:PORT (run on the event loop); the address bound."""
        sockets, address = bind_listen(key, listen)
        self._server = BoundedHTTPServer(
            _Requests(self),
            ssl_options=self._ssl_context,
            max_connections=self.limits.max_connections,
            max_header_size=MAX_HEADER_BYTES,
            # Bodies are bounded per request (413) before this; Tornado's own bound
            # (a bare 400 and a closed connection) only catches chunks far past it.
            max_body_size=2 * self.limits.max_message_bytes + 65536,
            idle_connection_timeout=self.limits.idle_timeout_s,
            body_timeout=self.limits.body_timeout_s,
        )
        self._server.add_sockets(sockets)
        return address

    async def stop(self, grace_s: float) -> None:
        """Stop accepting; let requests in progress finish within ``grace_s``; close."""
        if self._server is None:
            return
        self._server.stop()
        try:
            await asyncio.wait_for(self._idle.wait(), grace_s)
        except TimeoutError:
            log.warning("OTLP/HTTP: %d request(s) still in progress at shutdown", self._in_flight)
        await self._server.close_all_connections()
        self._decoder.shutdown(wait=False, cancel_futures=True)

    def _started(self) -> None:
        self._in_flight += 1
        self._idle.clear()

    def _ended(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._idle.set()


class _Requests(httputil.HTTPServerConnectionDelegate):
    def __init__(self, listener: OtlpHttpListener) -> None:
        self.listener = listener

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        assert isinstance(request_conn, HTTP1Connection)
        return _ExportRequest(self.listener, request_conn)


class _ExportRequest(httputil.HTTPMessageDelegate):
    """One request on one connection, from its headers to its answer."""

    def __init__(self, listener: OtlpHttpListener, connection: HTTP1Connection) -> None:
        self.listener = listener
        self.connection = connection
        self.media = codec.PROTOBUF
        self.encoding = ""
        self.body = bytearray()
        self.ticket: Any = None
        self.admitted = False
        self.answered = False
        self.oversized = False  # the body passed max_message_bytes: 413 at its end
        self.accepting = False  # the body is complete and handed to accept()
        self.counted = False
        self.request = ANSWERED_OTHER

    async def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.RequestStartLine)
        self.listener._started()
        self.counted = True
        problem = self._problem(start_line, headers)
        if problem is not None and problem[0] == 413:
            self.oversized = True  # read and dropped; answered at its end (see finish)
            self._end()
            return
        if problem is not None:
            self._end()
            self._answer(*problem)
            return
        try:
            self.ticket = await self.listener.exports.admit(self._caller(headers))
        except CallRefused as refused:
            self._end()
            self._refuse(refused)
            return
        self.admitted = True

    def data_received(self, chunk: bytes) -> None:
        if self.answered or not self.admitted:
            return  # refused already, or past the limit: dropped
        if len(self.body) + len(chunk) > self.listener.limits.max_message_bytes:
            self.body = bytearray()
            self.oversized = True
            self._end()
            return
        self.body += chunk

    def finish(self) -> None:
        if self.oversized:
            self._refuse(codec.too_large(self.listener.limits.max_message_bytes))
            return
        if self.answered or not self.admitted:
            return
        self.accepting = True
        task = asyncio.ensure_future(self._accept())
        self.listener._tasks.add(task)
        task.add_done_callback(self.listener._tasks.discard)

    def on_connection_close(self) -> None:
        if not self.accepting:
            self._end()

    async def _accept(self) -> None:
        """Decode, accept, release the ticket, then answer (so that a client that has
        its answer finds the receiver's room already given back)."""
        body, self.body = bytes(self.body), bytearray()
        limit = self.listener.limits.max_message_bytes
        try:
            data = await self._decoded(body, limit)
            del body
            response = await self.listener.exports.accept(self.ticket, data)
            answer = codec.encode(response, self.media)
        except CallRefused as refused:
            self._end()
            self._refuse(refused)
        except Exception as err:  # a fault of ours, not the client's: say so, keep serving
            self._end()
            self.listener.errors.log(logging.ERROR, "accept", "OTLP/HTTP export failed: %r", err)
            self._refuse(CallRefused(Refusal.UNAVAILABLE, "the receiver failed on this request"))
        else:
            self._end()
            self._answer(200, answer, self.media, {})

    async def _decoded(self, body: bytes, limit: int) -> bytes:
        if self.media == codec.PROTOBUF and self.encoding in ("", "identity"):
            return body  # nothing to decode: spare the thread hop
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self.listener._decoder, codec.decode_export, body, self.media, self.encoding, limit
            )
        except CallRefused as refused:
            if refused.refusal is Refusal.INVALID:
                self.listener.exports.count_invalid()
            raise

    def _problem(
        self, start_line: httputil.RequestStartLine, headers: httputil.HTTPHeaders
    ) -> tuple[int, bytes, str, Mapping[str, str]] | None:
        """What the headers alone refuse: (status, body, content type, headers), or None."""
        path = start_line.path.split("?", 1)[0]
        if path != TRACES_PATH:
            return 404, f"only POST {TRACES_PATH} is served\n".encode(), "text/plain", {}
        if start_line.method != "POST":
            return 405, b"POST only\n", "text/plain", {"Allow": "POST"}
        self.request = ANSWERED_EXPORT
        media = codec.media_type(headers.get("Content-Type"))
        if media is None:
            supported = f"{codec.PROTOBUF} or {codec.JSON}"
            return 415, f"Content-Type must be {supported}\n".encode(), "text/plain", {}
        self.media = media
        encoding = codec.content_encoding(headers.get("Content-Encoding"))
        if encoding is None:
            return 415, b"Content-Encoding must be gzip, deflate or none\n", "text/plain", {}
        self.encoding = encoding
        declared = headers.get("Content-Length", "0").split(",")[0].strip()
        if declared.isdigit() and int(declared) > self.listener.limits.max_message_bytes:
            refused = codec.too_large(self.listener.limits.max_message_bytes)
            return 413, codec.status_body(refused, media), media, {}
        return None

    def _caller(self, headers: httputil.HTTPHeaders) -> Caller:
        stream = self.connection.stream
        return Caller(
            {name.lower(): value for name, value in headers.get_all()},
            _certificate_name(stream.socket) if stream.socket is not None else None,
            str(getattr(self.connection.context, "address", "")),
        )

    def _refuse(self, refused: CallRefused) -> None:
        self._answer(
            codec.HTTP_STATUS[refused.refusal],
            codec.status_body(refused, self.media),
            self.media,
            codec.retry_after_header(refused),
        )

    def _answer(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str]
    ) -> None:
        if self.answered:
            return
        self.answered = True
        self.listener.on_answer(self.request, status)
        response_headers = httputil.HTTPHeaders(
            {"Content-Type": content_type, "Content-Length": str(len(body)), **headers}
        )
        if not self.accepting:  # the body is not read: the connection closes after this
            response_headers["Connection"] = "close"
        start = httputil.ResponseStartLine("HTTP/1.1", status, httputil.responses.get(status, ""))
        try:
            self.connection.write_headers(start, response_headers, body)
            self.connection.finish()
        except StreamClosedError:
            pass  # the client left; nothing more to tell it

    def _end(self) -> None:
        """Release the ticket and the in-flight count, once."""
        if self.admitted:
            self.admitted = False
            self.listener.exports.release(self.ticket)
        if self.counted:
            self.counted = False
            self.listener._ended()


def _certificate_name(sock: Any) -> str | None:
    """The Common Name of a verified client certificate (TLS with a client CA)."""
    if not isinstance(sock, ssl.SSLSocket):
        return None
    certificate = sock.getpeercert() or {}
    names = [
        value
        for relative_name in certificate.get("subject", ())
        for key, value in relative_name
        if key == "commonName"
    ]
    return names[0] if len(names) == 1 and names[0] else None
