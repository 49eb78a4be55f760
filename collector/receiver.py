"""The local OTLP/gRPC receiver: apps export to it unchanged.

Each export is parsed, tagged and sampled (collector.tagging), handed to the intake, and
acknowledged once it is durable in the buffer. A request that cannot be parsed gets
INVALID_ARGUMENT; a buffer that cannot write gets UNAVAILABLE (the app's exporter
retries).
"""

from __future__ import annotations

import asyncio

import grpc
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from collector.buffer import BatchTooLargeError
from collector.intake import Intake
from collector.tagging import Tagger
from parallax.otlp_grpc import trace_export_handler


class Receiver:
    """TraceService/Export for apps on this node."""

    def __init__(self, tagger: Tagger, intake: Intake) -> None:
        self._tagger = tagger
        self._intake = intake
        self.invalid_requests = 0

    def handler(self) -> grpc.GenericRpcHandler:
        return trace_export_handler(self.export)

    async def export(
        self, data: bytes, context: grpc.aio.ServicerContext
    ) -> ExportTraceServiceResponse:
        try:
            request = ExportTraceServiceRequest.FromString(data)
        except DecodeError as err:
            self.invalid_requests += 1
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"not an OTLP export: {err}")
        kept = self._tagger.process(request)
        if kept == 0:
            return ExportTraceServiceResponse()
        future = self._intake.submit(request.SerializeToString(), kept)
        try:
            await asyncio.shield(asyncio.wrap_future(future))
        except BatchTooLargeError as err:  # retrying cannot help: OTLP says no RetryInfo
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(err))
        except Exception as err:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"could not buffer: {err}")
        return ExportTraceServiceResponse()
