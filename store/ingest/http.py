"""OTLP/HTTP ingest: ``POST /v1/traces`` on ``server.http_listen``, decided by the
TraceService exactly as OTLP/gRPC is (store.ingest.service), served by
parallax.otlp_http on the gRPC server's event loop.

Trust is the gRPC port's (store.trust, docs/security.md): with ``server.tls_cert_file``
and ``server.tls_key_file`` the port speaks only TLS (mutual with
``server.tls_client_ca_file``, the certificate's Common Name being the node id); with
``server.credentials_file`` every request carries ``Authorization: Bearer <token>``; a
node writes only as itself; without TLS and a way to prove node ids the listener stays on
loopback unless ``server.insecure``. Limits are the gRPC port's: ``max_message_bytes``
(body and decoded request), ``max_connections``, ``connection_idle_timeout_s`` (to send
headers, or between requests), and ``http_body_timeout_s`` to send a body.
"""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from parallax.calls import Caller
from parallax.config import ServerSettings
from parallax.exposure import require_loopback_unless_secured
from parallax.otlp_http import HttpLimits, OnAnswer, OtlpHttpListener
from store.ingest.service import Admitted, TraceService
from store.trust import server_ssl_context


class HttpExports:
    """The TraceService's admit and accept, as parallax.otlp_http asks for them."""

    def __init__(self, service: TraceService) -> None:
        self.service = service

    async def admit(self, caller: Caller) -> Admitted:
        return self.service.admit(caller)

    async def accept(self, ticket: Admitted, data: bytes) -> ExportTraceServiceResponse:
        return await self.service.accept(ticket, data)

    def release(self, ticket: Admitted) -> None:
        """Nothing is held per request: the pipeline bounds what waits for a commit."""

    def count_invalid(self) -> None:
        self.service.pipeline.stats.add(requests_invalid=1)


def http_ingest(
    service: TraceService, server: ServerSettings, max_connections: int, on_answer: OnAnswer
) -> OtlpHttpListener[Admitted]:
    """The OTLP/HTTP listener of ``server.http_listen`` (not yet listening), telling
    ``on_answer`` of every answer, after checking that the address is safe for what is
    configured."""
    tls = bool(server.tls_cert_file and server.tls_key_file)
    require_loopback_unless_secured(
        "parallax server's OTLP/HTTP port",
        server.http_listen,
        secured=tls and bool(server.credentials_file or server.tls_client_ca_file),
        insecure=server.insecure,
        needed="server.tls_cert_file, server.tls_key_file and server.credentials_file "
        "(or server.tls_client_ca_file; see docs/security.md)",
    )
    limits = HttpLimits(
        max_message_bytes=server.max_message_bytes,
        max_connections=max_connections,
        idle_timeout_s=server.connection_idle_timeout_s,
        body_timeout_s=server.http_body_timeout_s,
    )
    ssl_context = (
        server_ssl_context(server.tls_cert_file, server.tls_key_file, server.tls_client_ca_file)
        if tls
        else None
    )
    return OtlpHttpListener(HttpExports(service), limits, ssl_context, on_answer)
