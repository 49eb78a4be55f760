"""Splitting a tagged export into pieces the backend accepts.

Every buffered batch becomes one request to the backend, which refuses requests above
its ``server.max_message_bytes``. Tagging makes a request larger, so the receiver
measures it after tagging: a request above ``max_bytes`` is cut into pieces of whole
spans, each a complete request of at most ``max_bytes`` (the resource and scope are
repeated in every piece). A span that alone cannot fit in a piece is left out and
counted; the app learns of it through ``partial_success``.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

# Room for the length prefixes of the piece's ResourceSpans and ScopeSpans, which grow
# from one byte (empty) to at most five as spans are added.
_LENGTH_PREFIX_GROWTH = 8


@dataclass(frozen=True)
class Piece:
    payload: bytes  # a serialized ExportTraceServiceRequest
    span_count: int


@dataclass(frozen=True)
class Split:
    pieces: list[Piece]
    spans_too_large: int  # spans left out: one alone is larger than max_bytes


def split_request(request: ExportTraceServiceRequest, span_count: int, max_bytes: int) -> Split:
    """``request`` as pieces of at most ``max_bytes`` each; one piece when it fits."""
    if request.ByteSize() <= max_bytes:
        return Split([Piece(request.SerializeToString(), span_count)], 0)
    pieces: list[Piece] = []
    too_large = 0
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            too_large += _split_scope(resource_spans, scope_spans, max_bytes, pieces)
    return Split(pieces, too_large)


def _split_scope(resource_spans, scope_spans, max_bytes: int, pieces: list[Piece]) -> int:
    """Append the pieces of one scope's spans; returns how many spans did not fit."""
    shell = ExportTraceServiceRequest()
    shell_resource = shell.resource_spans.add(
        resource=resource_spans.resource, schema_url=resource_spans.schema_url
    )
    shell_scope = shell_resource.scope_spans.add(
        scope=scope_spans.scope, schema_url=scope_spans.schema_url
    )
    budget = max_bytes - shell.ByteSize() - _LENGTH_PREFIX_GROWTH
    too_large = 0
    run: list = []
    run_bytes = 0
    for span in scope_spans.spans:
        cost = _field_bytes(span.ByteSize())
        if cost > budget:
            too_large += 1
            continue
        if run_bytes + cost > budget:
            pieces.append(_piece(shell, shell_scope, run))
            run, run_bytes = [], 0
        run.append(span)
        run_bytes += cost
    if run:
        pieces.append(_piece(shell, shell_scope, run))
    return too_large


def _piece(shell: ExportTraceServiceRequest, shell_scope, spans: list) -> Piece:
    shell_scope.spans.extend(spans)
    piece = Piece(shell.SerializeToString(), len(spans))
    del shell_scope.spans[:]
    return piece


def _field_bytes(size: int) -> int:
    """Bytes a length-delimited field of ``size`` bytes takes: tag, length, content."""
    return 1 + max(1, (size.bit_length() + 6) // 7) + size
