"""The local OTLP receiver: apps export to it unchanged, over gRPC or HTTP.

Each export takes a slot (collector.admission) before its message is read, is parsed,
tagged and sampled (collector.tagging), split into pieces the backend accepts
(collector.splitting), handed to the intake, and acknowledged once every piece is
durable in the buffer. Answers:

- OK, with ``partial_success`` for spans that alone exceed ``batch_max_bytes``;
- BUSY (RESOURCE_EXHAUSTED with RetryInfo; HTTP 429) when every slot is taken or the
  intake holds its bound of bytes (the app's exporter retries after ``RETRY_AFTER_S``);
- TOO_LARGE (RESOURCE_EXHAUSTED without RetryInfo; HTTP 413) when a batch cannot fit
  in a buffer segment;
- INVALID for a request that is not one OTLP export;
- UNAUTHENTICATED without the receiver token, when one is configured;
- UNAVAILABLE when the buffer cannot write (disk full: the app retries).
(parallax.calls maps each to its gRPC and HTTP status.)

The gRPC method is served as a client-streaming call so that admission happens before
the message is read: a unary handler only runs once gRPC holds the whole message.
"""

from __future__ import annotations

import asyncio
import hmac
from concurrent.futures import Future
from dataclasses import dataclass

import grpc
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from collector.admission import ExportAdmission
from collector.buffer import BatchTooLargeError
from collector.intake import Intake
from collector.splitting import split_request
from collector.tagging import Tagger
from parallax.calls import Caller, CallRefused, Refusal
from parallax.otlp_grpc import TRACE_SERVICE, abort_refused, caller_of

# What the app is told to wait before retrying a refused export. The intake drains in
# tens of milliseconds unless the disk is slow, so one second is ample.
RETRY_AFTER_S = 1.0


@dataclass
class Ticket:
    """An admitted export: its slot, and the bytes it holds until it is answered."""

    admission: ExportAdmission
    held: int = 0
    released: bool = False

    def settle(self, size: int) -> None:
        self.admission.settle(size)
        self.held = size

    def release(self) -> None:
        """Give back the bytes and the slot (once, however often it is called)."""
        if self.released:
            return
        self.released = True
        self.admission.release(self.held)
        self.admission.release_slot()


@dataclass
class ReceiverCounters:
    invalid_requests: int = 0
    spans_too_large: int = 0  # left out of an export: larger than batch_max_bytes alone
    unauthenticated: int = 0  # refused: no or a wrong receiver token


class Receiver:
    """TraceService/Export for apps on this node: ``admit`` and ``accept`` decide, for
    gRPC (``export``) and HTTP (collector.http_receiver) alike."""

    def __init__(
        self,
        tagger: Tagger,
        intake: Intake,
        admission: ExportAdmission,
        batch_max_bytes: int,
        token: str = "",
    ) -> None:
        self._expected_auth = f"Bearer {token}".encode() if token else b""
        self._tagger = tagger
        self._intake = intake
        self.admission = admission
        self._batch_max_bytes = batch_max_bytes
        self.counters = ReceiverCounters()

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            TRACE_SERVICE,
            {
                "Export": grpc.stream_unary_rpc_method_handler(
                    self.export,
                    request_deserializer=None,
                    response_serializer=ExportTraceServiceResponse.SerializeToString,
                )
            },
        )

    async def export(self, _requests, context: grpc.aio.ServicerContext):
        try:
            ticket = await self.admit(caller_of(context))
        except CallRefused as refused:
            await abort_refused(context, refused)
        try:
            return await self.accept(ticket, await self._read_one(context))
        except CallRefused as refused:
            await abort_refused(context, refused)
        finally:
            ticket.release()

    async def admit(self, caller: Caller) -> Ticket:
        """Check the token, take a slot and room for the largest message, before any of
        the message is read; the ticket holds them until ``release``."""
        if self._expected_auth and not self._authorized(caller):
            self.counters.unauthenticated += 1
            raise CallRefused(
                Refusal.UNAUTHENTICATED,
                "send 'authorization: Bearer <token>' (collector.receiver_token_file)",
            )
        if not self.admission.take_slot():
            raise CallRefused(
                Refusal.BUSY, "collector busy: too many exports in progress", RETRY_AFTER_S
            )
        ticket = Ticket(self.admission)
        if not await self.admission.reserve():
            ticket.release()
            raise CallRefused(
                Refusal.BUSY, "collector busy: intake holds its bound of bytes", RETRY_AFTER_S
            )
        ticket.held = self.admission.max_message_bytes
        return ticket

    async def accept(self, ticket: Ticket, data: bytes) -> ExportTraceServiceResponse:
        """Buffer the export ``data`` (serialized); the answer once it is durable."""
        ticket.settle(len(data))
        try:
            request = ExportTraceServiceRequest.FromString(data)
        except DecodeError as err:
            self.counters.invalid_requests += 1
            raise CallRefused(Refusal.INVALID, f"not an OTLP export: {err}") from err
        futures, spans_too_large = self._submit(request)
        del request  # the intake holds the pieces until they are buffered
        errors = await _failures(futures)
        if any(isinstance(error, BatchTooLargeError) for error in errors):
            # retrying cannot help: OTLP says no RetryInfo
            raise CallRefused(Refusal.TOO_LARGE, str(errors[0]))
        if errors:
            raise CallRefused(Refusal.UNAVAILABLE, f"could not buffer: {errors[0]}")
        return self._response(spans_too_large)

    def _authorized(self, caller: Caller) -> bool:
        sent = caller.headers.get("authorization", "")
        return hmac.compare_digest(sent.encode(), self._expected_auth)

    async def _read_one(self, context: grpc.aio.ServicerContext) -> bytes:
        data = await context.read()
        if data is grpc.aio.EOF or await context.read() is not grpc.aio.EOF:
            self.counters.invalid_requests += 1
            raise CallRefused(Refusal.INVALID, "expected one export request")
        return data

    def _submit(self, request: ExportTraceServiceRequest) -> tuple[list[Future], int]:
        """Tag, sample and split ``request``, hand the pieces to the intake; returns their
        futures and the number of spans left out for size."""
        kept = self._tagger.process(request)
        if kept == 0:
            return [], 0
        split = split_request(request, kept, self._batch_max_bytes)
        futures = [self._intake.submit(piece.payload, piece.span_count) for piece in split.pieces]
        return futures, split.spans_too_large

    def _response(self, spans_too_large: int) -> ExportTraceServiceResponse:
        response = ExportTraceServiceResponse()
        if spans_too_large:
            self.counters.spans_too_large += spans_too_large
            response.partial_success.rejected_spans = spans_too_large
            response.partial_success.error_message = (
                f"{spans_too_large} span(s) larger than collector.batch_max_bytes "
                f"({self._batch_max_bytes} bytes) once tagged were dropped"
            )
        return response


async def _failures(futures: list[Future]) -> list[BaseException]:
    """Wait for every future, even if the call is cancelled meanwhile; their errors."""
    outcomes = await asyncio.shield(
        asyncio.gather(*map(asyncio.wrap_future, futures), return_exceptions=True)
    )
    return [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
