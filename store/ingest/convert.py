"""Turn an OTLP ExportTraceServiceRequest into Arrow columns, in bulk.

This is the ingest hot path. The request is parsed with a lean, wire-compatible schema
(otlp_lean.proto) that leaves each span as its raw encoding; the spans' fields are
decoded for the whole group at once with NumPy (store.ingest.spans), attributes per
column in NumPy/Arrow (store.ingest.flat, store.ingest.columns). Identifier and
timestamp checks are vectorised as well.

A promoted attribute set on the span wins over the same key on the resource. Every span
that breaks a rule is dropped and reported with a reason (OTLP ``partial_success``);
the valid spans of the same request are kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf.message import DecodeError
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from parallax import conventions as conv
from store.ingest import anyvalue, columns, spans
from store.ingest.otlp_lean_pb2 import ExportTraceServiceRequestRaw as LeanRequest
from store.ingest.spans import SpanFields

MAX_REPORTED_ERRORS = 5


class InvalidRequest(ValueError):
    """The request bytes are not an OTLP ExportTraceServiceRequest."""


@dataclass(frozen=True)
class Promoted:
    """An attribute promoted to its own column."""

    column: str
    key: str
    arrow_type: pa.DataType


PROMOTED: tuple[Promoted, ...] = (
    Promoted("service_name", conv.SERVICE_NAME, columns.STRING),
    Promoted("node_id", conv.HOST_ID, columns.STRING),
    Promoted("region", conv.CLOUD_REGION, columns.STRING),
    Promoted("environment", conv.DEPLOYMENT_ENVIRONMENT, columns.STRING),
    Promoted("feature", conv.FEATURE, columns.STRING),
    Promoted("model_name", conv.GEN_AI_REQUEST_MODEL, columns.STRING),
    Promoted("operation", conv.GEN_AI_OPERATION_NAME, columns.STRING),
    Promoted("model_version", conv.MODEL_VERSION, columns.STRING),
    Promoted("quantization", conv.MODEL_QUANTIZATION, columns.STRING),
    Promoted("hardware_tier", conv.HARDWARE_TIER, columns.STRING),
    Promoted("accelerator", conv.HARDWARE_ACCELERATOR, columns.STRING),
    Promoted("input_fingerprint", conv.INPUT_FINGERPRINT, columns.STRING),
    Promoted("output_label", conv.OUTPUT_LABEL, columns.STRING),
    Promoted("output_score", conv.OUTPUT_SCORE, columns.DOUBLE),
    Promoted("output_digest", conv.OUTPUT_DIGEST, columns.STRING),
    Promoted("output_topk", conv.OUTPUT_TOPK, columns.STRING_LIST),
    Promoted("confidence", conv.CONFIDENCE, columns.DOUBLE),
    Promoted("cold_start", conv.COLD_START, columns.BOOL),
)

_EVENTS = pa.list_(
    pa.struct(
        [
            ("time", pa.timestamp("ns", "UTC")),
            ("name", pa.string()),
            ("attributes", columns.TEXT_MAP),
        ]
    )
)
_LINKS = pa.list_(
    pa.struct(
        [("trace_id", pa.string()), ("span_id", pa.string()), ("attributes", columns.TEXT_MAP)]
    )
)
_ZERO_TRACE_ID, _ZERO_SPAN_ID = bytes(16), bytes(8)
_STATUS_CODES = {0: "unset", 1: "ok", 2: "error"}


@dataclass(frozen=True)
class Incoming:
    """A parsed request with the batch identity its caller sent (None from other exporters)."""

    request: LeanRequest
    node_id: str | None = None
    batch_seq: int | None = None
    buffer_id: str | None = None


@dataclass
class Outcome:
    """What became of one request's spans."""

    accepted: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    def error_message(self) -> str:
        if not self.rejected:
            return ""
        if not self.errors:
            return f"{self.rejected} span(s) rejected"
        shown = "; ".join(self.errors[:MAX_REPORTED_ERRORS])
        more = self.rejected - min(len(self.errors), MAX_REPORTED_ERRORS)
        suffix = f"; and {more} more" if more > 0 else ""
        return f"{self.rejected} span(s) rejected: {shown}{suffix}"


@dataclass
class Converted:
    """The valid spans of several requests as one table (STAGING_SCHEMA).

    ``request_of_row[i]`` is the index of the request row i came from; ``outcomes`` has
    one entry per request, in the order given; ``resources`` maps each resource id the
    spans carry to the resource's attributes as text.
    """

    table: pa.Table
    request_of_row: np.ndarray
    outcomes: list[Outcome]
    resources: dict[int, list[tuple[str, str | None]]] = field(default_factory=dict)


def concat(parts: list[Converted]) -> Converted:
    """Several conversions as one, as if their requests had been converted together."""
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0] + [len(part.outcomes) for part in parts[:-1]])
    return Converted(
        pa.concat_tables([part.table for part in parts]),
        np.concatenate(
            [part.request_of_row + offset for part, offset in zip(parts, offsets, strict=True)]
        ),
        [outcome for part in parts for outcome in part.outcomes],
        {rid: attrs for part in parts for rid, attrs in part.resources.items()},
    )


def parse(data: bytes) -> LeanRequest:
    """Parse request bytes; raise InvalidRequest when they are not an OTLP trace export."""
    try:
        return LeanRequest.FromString(data)
    except DecodeError as err:
        raise InvalidRequest(f"not a valid OTLP ExportTraceServiceRequest: {err}") from err


def convert(incoming: list[Incoming]) -> Converted:
    """Columns for every valid span of the given requests, converted together.

    Converting many requests at once spreads the fixed cost of each NumPy/Arrow call over
    thousands of spans. ``node_id`` (from the batch header) replaces the host.id
    resource attribute as the spans' node. Raises InvalidRequest when an attribute is
    not a valid protobuf encoding (which the lean parse cannot see).
    """
    try:
        encodings, layout = _gather(incoming)
        outcomes = [Outcome() for _ in incoming]
        if not encodings:
            return Converted(STAGING_SCHEMA.empty_table(), np.zeros(0, np.int64), outcomes)
        fields = spans.decode(encodings)
        table, problems = _convert_spans(fields, layout)
    except DecodeError as err:
        raise InvalidRequest(f"malformed span or attribute encoding: {err}") from err
    keep = np.ones(len(fields), dtype=bool)
    for row, reason in sorted(problems.items()):
        keep[row] = False
        outcome = outcomes[layout.request[row]]
        outcome.rejected += 1
        if len(outcome.errors) < MAX_REPORTED_ERRORS:
            outcome.errors.append(_describe(fields, row, reason))
    counts = np.bincount(layout.request[keep], minlength=len(incoming))
    for outcome, count in zip(outcomes, counts, strict=True):
        outcome.accepted = int(count)
    if problems:
        table = table.filter(pa.array(keep))
    resources = {r.resource_id: r.text for r in layout.resources}
    return Converted(table, layout.request[keep], outcomes, resources)


class _Resource:
    """Decoded resource attributes, shared by every span below the resource."""

    def __init__(self, encoded: list[bytes]) -> None:
        self.values: dict[str, Any] = {}
        self.text: list[tuple[str, str | None]] = []
        for raw in encoded:
            kv = KeyValue.FromString(raw)
            value = anyvalue.from_message(kv.value)
            self.values[kv.key] = value
            self.text.append((kv.key, anyvalue.as_text(value)))
        self.resource_id = resource_id(self.text)


def resource_id(attributes: list[tuple[str, str | None]]) -> int:
    """A stable signed 64-bit id of a resource: a hash of its sorted attributes as text."""
    canonical = json.dumps(sorted(attributes, key=lambda kv: kv[0]), ensure_ascii=False)
    digest = hashlib.blake2b(canonical.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass
class _Layout:
    """Where each span came from: per-span indexes into the request, resource and scope lists."""

    request: np.ndarray
    resource: np.ndarray
    scope: np.ndarray
    resources: list[_Resource]
    scopes: list[Any]
    node_ids: list[str | None]
    batch_seqs: list[int | None]


def _gather(incoming: list[Incoming]) -> tuple[list[bytes], _Layout]:
    encodings: list[bytes] = []
    runs: list[tuple[int, int, int, int]] = []  # (request, resource, scope, span count)
    resources: list[_Resource] = []
    scopes: list[Any] = []
    for request_index, item in enumerate(incoming):
        for resource_spans in item.request.resource_spans:
            resources.append(_Resource(list(resource_spans.resource.attributes)))
            for scope_spans in resource_spans.scope_spans:
                if scope_spans.spans:
                    scopes.append(scope_spans.scope)
                    encodings.extend(scope_spans.spans)
                    runs.append(
                        (request_index, len(resources) - 1, len(scopes) - 1, len(scope_spans.spans))
                    )
    counts = np.array([run[3] for run in runs], dtype=np.int64)
    per_span = [
        np.repeat(np.array([run[i] for run in runs], dtype=np.int64), counts) for i in range(3)
    ]
    layout = _Layout(
        *per_span,
        resources,
        scopes,
        [item.node_id for item in incoming],
        [item.batch_seq for item in incoming],
    )
    return encodings, layout


def _convert_spans(fields: SpanFields, layout: _Layout) -> tuple[pa.Table, dict[int, str]]:
    n = len(fields)
    trace_ids, span_ids = fields.trace_id, fields.span_id
    starts, ends = fields.start, fields.end
    builder = columns.ColumnBuilder(fields.attributes, n)
    problems = builder.problems
    data: dict[str, pa.Array] = {
        "trace_id": trace_ids,
        "span_id": span_ids,
        "parent_span_id": fields.parent_span_id,
        "trace_state": fields.trace_state,
        "name": fields.name,
        "kind": pa.array(fields.kind, pa.int32()),
        "start_time": pa.array(starts.view(np.int64), pa.timestamp("ns", "UTC")),
        "end_time": pa.array(ends.view(np.int64), pa.timestamp("ns", "UTC")),
        "duration_ms": pa.array(
            (ends - np.minimum(starts, ends)).astype(np.float64) / 1e6,  # exact difference
            pa.float64(),
            mask=(ends < starts) | (ends == 0),
        ),
    }
    data.update(_status_columns(n, fields.status))
    for promoted in PROMOTED:
        column = builder.promoted(promoted.key, promoted.arrow_type)
        data[promoted.column] = _with_resource_fallback(column, promoted, layout, problems)
    data["node_id"] = _with_batch_node(data["node_id"], layout)
    data["attributes"] = builder.remaining()
    data["resource_id"] = _per_span(
        [r.resource_id for r in layout.resources], pa.int64(), layout.resource
    )
    data["scope_name"] = _per_span(
        [s.name or None for s in layout.scopes], pa.string(), layout.scope
    )
    data["scope_version"] = _per_span(
        [s.version or None for s in layout.scopes], pa.string(), layout.scope
    )
    data["events"] = _nested(n, fields.events, _decode_event, _EVENTS, problems)
    data["links"] = _nested(n, fields.links, _decode_link, _LINKS, problems)
    data["batch_seq"] = _per_span(layout.batch_seqs, pa.int64(), layout.request)
    _check_ids(trace_ids, span_ids, problems)
    _check_times(starts, ends, problems)
    _check_names(data["name"], problems)
    return pa.table(data, schema=STAGING_SCHEMA), problems


def _per_span(values: list[Any], arrow_type: pa.DataType, index: np.ndarray) -> pa.Array:
    """Spread one value per request/resource/scope to every span below it."""
    return pa.array(values, arrow_type).take(pa.array(index))


def _with_batch_node(column: pa.Array, layout: _Layout) -> pa.Array:
    if all(node is None for node in layout.node_ids):
        return column
    return pc.coalesce(_per_span(layout.node_ids, pa.string(), layout.request), column)


def _with_resource_fallback(
    column: pa.Array, promoted: Promoted, layout: _Layout, problems: dict[int, str]
) -> pa.Array:
    """Fill spans that lack the attribute with their resource's value of it."""
    if column.null_count == 0 or not any(promoted.key in r.values for r in layout.resources):
        return column
    per_resource = []
    for index, resource in enumerate(layout.resources):
        value, reason = columns.coerce(
            promoted.key, resource.values.get(promoted.key), promoted.arrow_type
        )
        if reason:
            for row in np.flatnonzero(layout.resource == index):
                problems.setdefault(int(row), f"resource {reason}")
        per_resource.append(value)
    return pc.coalesce(column, _per_span(per_resource, promoted.arrow_type, layout.resource))


def _check_ids(trace_ids: pa.Array, span_ids: pa.Array, problems: dict[int, str]) -> None:
    for ids, size, zero, name in (
        (trace_ids, 16, _ZERO_TRACE_ID, "trace_id"),
        (span_ids, 8, _ZERO_SPAN_ID, "span_id"),
    ):
        bad = pc.or_(pc.not_equal(pc.binary_length(ids), size), pc.equal(ids, zero))
        for row in np.flatnonzero(bad.to_numpy(zero_copy_only=False)):
            problems.setdefault(int(row), f"{name} must be {size} bytes and not all zero")


def _check_times(starts: np.ndarray, ends: np.ndarray, problems: dict[int, str]) -> None:
    for row in np.flatnonzero(starts == 0):
        problems.setdefault(int(row), "start_time_unix_nano is missing")
    for row in np.flatnonzero((ends != 0) & (ends < starts)):
        problems.setdefault(int(row), "end_time_unix_nano is before start_time_unix_nano")


def _check_names(names: pa.Array, problems: dict[int, str]) -> None:
    for row in np.flatnonzero(pc.equal(pc.utf8_length(names), 0).to_numpy(zero_copy_only=False)):
        problems.setdefault(int(row), "span name is empty")


def _status_columns(n: int, raw_statuses: dict[int, bytes]) -> dict[str, pa.Array]:
    codes: list[str] = ["unset"] * n
    messages: list[str | None] = [None] * n
    cache: dict[bytes, tuple[str, str | None]] = {}
    for row, raw in raw_statuses.items():
        if raw not in cache:
            status = trace_pb2.Status.FromString(raw)
            cache[raw] = (_STATUS_CODES.get(status.code, "unset"), status.message or None)
        codes[row], messages[row] = cache[raw]
    return {
        "status_code": pa.array(codes, pa.string()),
        "status_message": pa.array(messages, pa.string()),
    }


def _nested(
    n: int,
    raw_lists: dict[int, list[bytes]],
    decode_one: Callable[[bytes], dict[str, Any]],
    arrow_type: pa.DataType,
    problems: dict[int, str],
) -> pa.Array:
    """One list per span (null where the span has none) of its decoded events or links."""
    if not raw_lists:
        return pa.nulls(n, arrow_type)
    rows: list[list[dict[str, Any]] | None] = [None] * n
    for row, raw_list in raw_lists.items():
        try:
            rows[row] = [decode_one(raw) for raw in raw_list] or None
        except (DecodeError, UnicodeDecodeError) as err:
            problems.setdefault(row, f"cannot decode span event or link: {err}")
    return pa.array(rows, arrow_type)


def _decode_event(raw: bytes) -> dict[str, Any]:
    event = trace_pb2.Span.Event.FromString(raw)
    return {
        "time": event.time_unix_nano,
        "name": event.name,
        "attributes": _texts(event.attributes),
    }


def _decode_link(raw: bytes) -> dict[str, Any]:
    link = trace_pb2.Span.Link.FromString(raw)
    return {
        "trace_id": link.trace_id.hex(),
        "span_id": link.span_id.hex(),
        "attributes": _texts(link.attributes),
    }


def _texts(key_values: Any) -> list[tuple[str, str | None]]:
    return [(kv.key, anyvalue.as_text(anyvalue.from_message(kv.value))) for kv in key_values]


def _describe(fields: SpanFields, row: int, reason: str) -> str:
    span_id, trace_id = fields.span_id[row].as_py().hex(), fields.trace_id[row].as_py().hex()
    return f"span {span_id or '?'} of trace {trace_id or '?'}: {reason}"


_SPAN_SCHEMA = pa.schema(
    [
        ("trace_id", pa.binary()),
        ("span_id", pa.binary()),
        ("parent_span_id", pa.binary()),
        ("trace_state", pa.string()),
        ("name", pa.string()),
        ("kind", pa.int32()),
        ("start_time", pa.timestamp("ns", "UTC")),
        ("end_time", pa.timestamp("ns", "UTC")),
        ("duration_ms", pa.float64()),
        ("status_code", pa.string()),
        ("status_message", pa.string()),
        *[(p.column, p.arrow_type) for p in PROMOTED],
        ("attributes", columns.TEXT_MAP),
        ("resource_id", pa.int64()),
        ("scope_name", pa.string()),
        ("scope_version", pa.string()),
        ("events", _EVENTS),
        ("links", _LINKS),
    ]
)
STAGING_SCHEMA = _SPAN_SCHEMA.append(pa.field("batch_seq", pa.int64()))
