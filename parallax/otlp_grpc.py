"""OTLP/gRPC plumbing shared by the collector's receiver and the server's ingest service.

Both handle ``TraceService/Export`` on the raw request bytes (each parses them its own
way), so the handler is registered without a request deserializer; both read the call
as a ``parallax.calls.Caller`` and answer a ``CallRefused`` with ``abort_refused``.
Imported only by components that install grpcio and opentelemetry-proto.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from parallax.calls import Caller, CallRefused, Refusal

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
EXPORT_METHOD = f"/{TRACE_SERVICE}/Export"

# The auth-context property a verified client certificate's Common Name is read from.
CERTIFICATE_NAME = "x509_common_name"

STATUS_CODES = {
    Refusal.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    Refusal.TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Refusal.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    Refusal.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    Refusal.BUSY: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Refusal.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    Refusal.TIMED_OUT: grpc.StatusCode.DEADLINE_EXCEEDED,
}

ExportBehaviour = Callable[[bytes, grpc.aio.ServicerContext], Awaitable[ExportTraceServiceResponse]]


def trace_export_handler(export: ExportBehaviour) -> grpc.GenericRpcHandler:
    """A handler for TraceService/Export that passes the request bytes to ``export``."""
    return grpc.method_handlers_generic_handler(
        TRACE_SERVICE,
        {
            "Export": grpc.unary_unary_rpc_method_handler(
                export,
                request_deserializer=None,
                response_serializer=ExportTraceServiceResponse.SerializeToString,
            )
        },
    )


def retry_later(message: str, delay_s: float) -> grpc.Status:
    """RESOURCE_EXHAUSTED carrying google.rpc.RetryInfo: OTLP exporters retry such an
    answer after ``delay_s`` (without RetryInfo, OTLP says the error is permanent)."""
    retry_info = error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(
            seconds=int(delay_s), nanos=int((delay_s - int(delay_s)) * 1e9)
        )
    )
    detail = any_pb2.Any()
    detail.Pack(retry_info)
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=message, details=[detail])
    return rpc_status.to_status(status)


def caller_of(context: grpc.aio.ServicerContext) -> Caller:
    """The call's metadata, verified certificate name, peer and deadline."""
    names = context.auth_context().get(CERTIFICATE_NAME) or []
    certificate_name = (
        names[0].decode("utf-8", errors="replace") if len(names) == 1 and names[0] else None
    )
    return Caller(
        dict(context.invocation_metadata()),
        certificate_name,
        context.peer(),
        context.time_remaining(),
    )


async def abort_refused(context: grpc.aio.ServicerContext, refused: CallRefused) -> NoReturn:
    """End the call with the gRPC status of ``refused`` (BUSY carries RetryInfo)."""
    if refused.refusal is Refusal.BUSY:
        await context.abort_with_status(retry_later(refused.message, refused.retry_after_s or 1.0))
    await context.abort(STATUS_CODES[refused.refusal], refused.message)
    raise AssertionError("abort returns only by raising")
