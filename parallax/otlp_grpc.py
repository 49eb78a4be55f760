"""OTLP/gRPC plumbing shared by the collector's receiver and the server's ingest service.

Both handle ``TraceService/Export`` on the raw request bytes (each parses them its own
way), so the handler is registered without a request deserializer. Imported only by
components that install grpcio and opentelemetry-proto.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
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
