"""OTLP/gRPC plumbing shared by the collector's receiver and the server's ingest service.

Both handle ``TraceService/Export`` on the raw request bytes (each parses them its own
way), so the handler is registered without a request deserializer. Imported only by
components that install grpcio and opentelemetry-proto.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
EXPORT_METHOD = f"/{TRACE_SERVICE}/Export"

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
