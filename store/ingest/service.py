"""The OTLP/gRPC TraceService: decode, validate, hand to the pipeline, answer after commit.

Status codes, per the OTLP specification:
- OK, with ``partial_success`` when some spans were invalid (they are not stored);
- INVALID_ARGUMENT for a request that cannot be parsed or a malformed batch header;
- RESOURCE_EXHAUSTED with RetryInfo when the ingest queue is full (clients back off);
- UNAVAILABLE when the lake failed (disk, catalog), the server is shutting down or its
  pipeline failed (retryable: nothing of the request was acknowledged); never for
  anything in the request's content, which is decided per span or refused with
  INVALID_ARGUMENT.

Wire contract for our collector (docs/wire-contract.md): metadata ``parallax-node-id``,
``parallax-buffer-id`` and ``parallax-batch-seq`` identify a batch; a batch already
committed is acknowledged again without being written twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from parallax.conventions import BATCH_SEQUENCE_HEADER, BUFFER_ID_HEADER, NODE_ID_HEADER
from parallax.otlp_grpc import retry_later, trace_export_handler
from store.ingest import convert
from store.ingest.ledger import BatchId
from store.ingest.pipeline import IngestPipeline, QueueFull, ShuttingDown
from store.ingest.writer import Written
from store.trust.guard import CallGuard
from store.trust.identity import Identity

log = logging.getLogger("parallax.ingest")

MAX_ID_LENGTH = 256
DEFAULT_WAIT_S = 60.0


class BadBatchHeader(ValueError):
    """The batch identity metadata is present but malformed."""


def batch_identity(metadata: Mapping[str, str]) -> BatchId | None:
    """The batch identity from call metadata; None when the sender sent none."""
    node_id = metadata.get(NODE_ID_HEADER)
    raw_seq = metadata.get(BATCH_SEQUENCE_HEADER)
    buffer_id = metadata.get(BUFFER_ID_HEADER, "")
    if node_id is None and raw_seq is None:
        return None
    if not node_id or raw_seq is None:
        raise BadBatchHeader(f"{NODE_ID_HEADER} and {BATCH_SEQUENCE_HEADER} must be sent together")
    for name, value in ((NODE_ID_HEADER, node_id), (BUFFER_ID_HEADER, buffer_id)):
        if len(value) > MAX_ID_LENGTH:
            raise BadBatchHeader(f"{name} is longer than {MAX_ID_LENGTH} characters")
    if not raw_seq.isdigit() or int(raw_seq) >= 2**63:
        raise BadBatchHeader(f"{BATCH_SEQUENCE_HEADER} must be an integer from 0 to 2^63-1")
    return BatchId(node_id, buffer_id, int(raw_seq))


class TraceService:
    """Handles TraceService/Export on raw request bytes (parsed with the lean schema).

    Runs on a grpc.aio server: a request waiting for its commit holds no thread, so the
    number of requests in flight is bounded by admission control, not by a thread pool.
    The caller's identity is checked first (store.trust): nothing of a refused call is
    parsed or stored.
    """

    def __init__(self, pipeline: IngestPipeline, guard: CallGuard) -> None:
        self.pipeline = pipeline
        self.guard = guard

    def handler(self) -> grpc.GenericRpcHandler:
        return trace_export_handler(self.export)

    async def export(
        self, data: bytes, context: grpc.aio.ServicerContext
    ) -> ExportTraceServiceResponse:
        identity = await self.guard.identify(context)
        try:
            batch = batch_identity(dict(context.invocation_metadata()))
        except BadBatchHeader as err:
            self.pipeline.stats.add(requests_invalid=1)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        node_id = await self._node_of_spans(context, identity, batch)
        try:
            request = convert.parse(data)
        except convert.InvalidRequest as err:
            self.pipeline.stats.add(requests_invalid=1)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        span_count = sum(
            len(scope.spans)
            for resource in request.resource_spans
            for scope in resource.scope_spans
        )
        if span_count == 0 and batch is None:
            return ExportTraceServiceResponse()
        incoming = convert.Incoming(request, batch, node_id)
        try:
            future = self.pipeline.submit(incoming, max(span_count, 1))
        except QueueFull as err:
            await context.abort_with_status(retry_later(str(err), err.retry_after_s))
        except ShuttingDown as err:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(err))
        return _response((await self._committed(future, context)).outcome)

    async def _node_of_spans(
        self, context: grpc.aio.ServicerContext, identity: Identity | None, batch: BatchId | None
    ) -> str | None:
        """The node the spans are stored as: the batch's, which the identity must be
        allowed to write as; else the proven node; else (no authentication) host.id."""
        if batch is not None:
            await self.guard.require(context, identity, batch.node_id)
            return batch.node_id
        if identity is None:
            return None
        if identity.may_write_for != {identity.node_id}:
            await self.guard.deny(
                context, f"a gateway names the node it writes for in {NODE_ID_HEADER}"
            )
        return identity.node_id

    async def _committed(self, future, context: grpc.aio.ServicerContext) -> Written:
        remaining = context.time_remaining()
        try:
            # shield: a client that gives up must not cancel the commit under way
            return await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(future)),
                remaining if remaining is not None else DEFAULT_WAIT_S,
            )
        except convert.InvalidRequest as err:
            self.pipeline.stats.add(requests_invalid=1)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        except TimeoutError:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "commit did not finish in time")
        except Exception as err:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"could not commit to the lake: {err}")


def _response(outcome: convert.Outcome) -> ExportTraceServiceResponse:
    response = ExportTraceServiceResponse()
    message = outcome.error_message()
    if message:  # OTLP: rejected_spans 0 with a message is a warning
        response.partial_success.rejected_spans = outcome.rejected
        response.partial_success.error_message = message
    return response
