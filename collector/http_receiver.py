"""The local receiver over OTLP/HTTP: ``POST /v1/traces`` on ``collector.http_listen``.

The same Receiver decides as for gRPC (collector.receiver): the receiver token, a slot
and room for the largest message before a byte of the body is read (collector.admission),
tagging, splitting, the intake, and the answer once the export is durable. The same
bounds hold: ``receive_max_message_bytes`` for the body and the decoded request,
``max_concurrent_exports`` and ``intake_max_bytes`` through admission. The HTTP
listener's own bounds are below; it shares the gRPC server's event loop.
"""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector.receiver import Receiver, Ticket
from parallax.calls import Caller
from parallax.config import CollectorSettings
from parallax.exposure import require_loopback_unless_secured
from parallax.otlp_http import HttpLimits, OnAnswer, OtlpHttpListener

# Apps on one node keep a connection or two each; past this many, new ones are closed.
MAX_CONNECTIONS = 256
# A connection that sends no request (or its headers too slowly) for this long is closed.
IDLE_TIMEOUT_S = 60.0
# A request body not received in full within this long closes its connection.
BODY_TIMEOUT_S = 30.0


class HttpExports:
    """The Receiver's admit and accept, as parallax.otlp_http asks for them."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    async def admit(self, caller: Caller) -> Ticket:
        return await self.receiver.admit(caller)

    async def accept(self, ticket: Ticket, data: bytes) -> ExportTraceServiceResponse:
        return await self.receiver.accept(ticket, data)

    def release(self, ticket: Ticket) -> None:
        ticket.release()

    def count_invalid(self) -> None:
        self.receiver.counters.invalid_requests += 1


def http_receiver(
    receiver: Receiver, settings: CollectorSettings, token: str, on_answer: OnAnswer
) -> OtlpHttpListener[Ticket]:
    """The OTLP/HTTP listener of ``collector.http_listen`` (not yet listening), telling
    ``on_answer`` of every answer, after checking that the address is safe: loopback, or
    a receiver token, or insecure."""
    require_loopback_unless_secured(
        "the collector's OTLP/HTTP receiver",
        settings.http_listen,
        secured=bool(token),
        insecure=settings.insecure,
        needed="collector.receiver_token_file",
    )
    limits = HttpLimits(
        max_message_bytes=settings.receive_max_message_bytes,
        max_connections=MAX_CONNECTIONS,
        idle_timeout_s=IDLE_TIMEOUT_S,
        body_timeout_s=BODY_TIMEOUT_S,
    )
    return OtlpHttpListener(HttpExports(receiver), limits, on_answer=on_answer)
