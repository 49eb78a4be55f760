"""The OTLP TraceService: decode, validate, hand to the pipeline, answer after commit.

One decision for both transports (OTLP/gRPC here, OTLP/HTTP through store.ingest.http);
answers, per the OTLP specification (parallax.calls maps them to gRPC and HTTP):
- OK, with ``partial_success`` when some spans were invalid (they are not stored);
- INVALID for a request that cannot be parsed or a malformed batch header;
- BUSY, with a delay to retry after, when the ingest queue is full (clients back off);
- UNAVAILABLE when the lake failed (disk, catalog), the server is shutting down or its
  pipeline failed (retryable: nothing of the request was acknowledged); never for
  anything in the request's content, which is decided per span or refused as INVALID.

Wire contract for our collector (docs/wire-contract.md): headers ``parallax-node-id``,
``parallax-buffer-id`` and ``parallax-batch-seq`` identify a batch; a batch already
committed is acknowledged again without being written twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from parallax.calls import Caller, CallRefused, Refusal
from parallax.conventions import BATCH_SEQUENCE_HEADER, BUFFER_ID_HEADER, NODE_ID_HEADER
from parallax.otlp_grpc import abort_refused, caller_of, trace_export_handler
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
    """The batch identity from call headers; None when the sender sent none."""
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
        if not (value.isascii() and value.isprintable()):
            raise BadBatchHeader(f"{name} must be printable ASCII")
    if not raw_seq.isdigit() or int(raw_seq) >= 2**63:
        raise BadBatchHeader(f"{BATCH_SEQUENCE_HEADER} must be an integer from 0 to 2^63-1")
    return BatchId(node_id, buffer_id, int(raw_seq))


@dataclass(frozen=True)
class Admitted:
    """An export whose headers passed: the batch it claims, the node its spans are
    stored as, and how long its client waits."""

    batch: BatchId | None
    node_id: str | None
    wait_s: float


class TraceService:
    """What happens to an export, whichever transport carried it (gRPC here, HTTP in
    store.ingest.http): ``admit`` checks the caller and its headers before anything of
    the request is read; ``accept`` parses the request bytes (the lean schema), hands
    them to the pipeline and answers after the commit. Both refuse with CallRefused.

    Runs on the event loop: a request waiting for its commit holds no thread, so the
    number of requests in flight is bounded by admission control, not by a thread pool.
    """

    def __init__(self, pipeline: IngestPipeline, guard: CallGuard) -> None:
        self.pipeline = pipeline
        self.guard = guard

    def handler(self) -> grpc.GenericRpcHandler:
        return trace_export_handler(self.export)

    async def export(
        self, data: bytes, context: grpc.aio.ServicerContext
    ) -> ExportTraceServiceResponse:
        try:
            return await self.accept(self.admit(caller_of(context)), data)
        except CallRefused as refused:
            await abort_refused(context, refused)

    def admit(self, caller: Caller) -> Admitted:
        """Check who calls and the batch header; nothing of a refused call is read."""
        identity = self.guard.check_identity(caller)
        try:
            batch = batch_identity(caller.headers)
        except BadBatchHeader as err:
            self.pipeline.stats.add(requests_invalid=1)
            raise CallRefused(Refusal.INVALID, str(err)) from err
        node_id = self._node_of_spans(caller, identity, batch)
        remaining = caller.time_remaining_s
        return Admitted(batch, node_id, remaining if remaining is not None else DEFAULT_WAIT_S)

    async def accept(self, admitted: Admitted, data: bytes) -> ExportTraceServiceResponse:
        """Store the request's spans; the answer once they are committed."""
        try:
            request = convert.parse(data)
        except convert.InvalidRequest as err:
            self.pipeline.stats.add(requests_invalid=1)
            raise CallRefused(Refusal.INVALID, str(err)) from err
        span_count = sum(
            len(scope.spans)
            for resource in request.resource_spans
            for scope in resource.scope_spans
        )
        if span_count == 0 and admitted.batch is None:
            return ExportTraceServiceResponse()
        incoming = convert.Incoming(request, admitted.batch, admitted.node_id)
        try:
            future = self.pipeline.submit(incoming, max(span_count, 1))
        except QueueFull as err:
            raise CallRefused(Refusal.BUSY, str(err), err.retry_after_s) from err
        except ShuttingDown as err:
            raise CallRefused(Refusal.UNAVAILABLE, str(err)) from err
        return _response((await self._committed(future, admitted.wait_s)).outcome)

    def _node_of_spans(
        self, caller: Caller, identity: Identity | None, batch: BatchId | None
    ) -> str | None:
        """The node the spans are stored as: the batch's, which the identity must be
        allowed to write as; else the proven node; else (no authentication) host.id."""
        if batch is not None:
            self.guard.check_may_act_as(caller, identity, batch.node_id)
            return batch.node_id
        if identity is None:
            return None
        if identity.may_write_for != {identity.node_id}:
            self.guard.refuse_denied(
                caller, f"a gateway names the node it writes for in {NODE_ID_HEADER}"
            )
        return identity.node_id

    async def _committed(self, future, wait_s: float) -> Written:
        try:
            # shield: a client that gives up must not cancel the commit under way
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), wait_s)
        except convert.InvalidRequest as err:
            self.pipeline.stats.add(requests_invalid=1)
            raise CallRefused(Refusal.INVALID, str(err)) from err
        except TimeoutError as err:
            raise CallRefused(Refusal.TIMED_OUT, "commit did not finish in time") from err
        except Exception as err:
            raise CallRefused(Refusal.UNAVAILABLE, f"could not commit to the lake: {err}") from err


def _response(outcome: convert.Outcome) -> ExportTraceServiceResponse:
    response = ExportTraceServiceResponse()
    message = outcome.error_message()
    if message:  # OTLP: rejected_spans 0 with a message is a warning
        response.partial_success.rejected_spans = outcome.rejected
        response.partial_success.error_message = message
    return response
