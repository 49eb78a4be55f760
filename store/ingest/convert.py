"""Turn an OTLP ExportTraceServiceRequest into Arrow columns, in bulk.

This is the ingest hot path. The request is parsed with a lean, wire-compatible schema
(otlp_lean.proto) that leaves each span as its raw encoding; the spans' fields are
decoded for the whole group at once with NumPy (store.ingest.spans), attributes per
column in NumPy/Arrow (store.ingest.flat, store.ingest.columns). Identifier and
timestamp checks are vectorised as well.

A promoted attribute set on the span wins over the same key on the resource; values with
spellings (quantization, tier) are stored canonically, with the spelling as sent beside
them where it differed (store.canonical). Every input is decided per span
(docs/wire-contract.md): a span that breaks a rule (its own fields:
store.ingest.span_rules; its attributes: store.ingest.attribute_rules; its status,
events and links: store.ingest.nested; a resource or scope it belongs to) is dropped and
reported with a reason (OTLP ``partial_success``), and the valid spans of the same
request are kept. Repeated keys, attributes past the count limit and values past the
size limit are dropped or cut, counted, and reported as a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf.message import DecodeError

from parallax import conventions as conv
from parallax.config import ServerSettings
from store.canonical import CANONICAL, canonical_columns
from store.ingest import columns, nested, span_rules, spans
from store.ingest.attribute_rules import SpanLimits
from store.ingest.layout import Layout, gather, reject_below_broken
from store.ingest.ledger import BatchId
from store.ingest.otlp_lean_pb2 import ExportTraceServiceRequestRaw as LeanRequest
from store.ingest.otlp_lean_pb2 import Span as LeanSpan
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

PROMOTED_KEYS = [promoted.key for promoted in PROMOTED]


def span_limits(settings: ServerSettings) -> SpanLimits:
    return SpanLimits(settings.max_attributes_per_span, settings.max_attribute_value_bytes)


DEFAULT_LIMITS = span_limits(ServerSettings())
_BROKEN_SPAN = "span is not valid OTLP (malformed, or a string field that is not UTF-8)"


@dataclass(frozen=True)
class Incoming:
    """A parsed request, the batch identity its caller sent (None from other exporters),
    and the node its spans belong to (the proven or announced node; None: their host.id)."""

    request: LeanRequest
    batch_id: BatchId | None = None
    node_id: str | None = None


@dataclass
class Outcome:
    """What became of one request's spans, and what was cut from the accepted ones."""

    accepted: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    repeated_keys: int = 0  # earlier values of a key repeated in a span, dropped
    attributes_dropped: int = 0  # attributes past server.max_attributes_per_span
    values_truncated: int = 0  # values cut to server.max_attribute_value_bytes

    def error_message(self) -> str:
        """The partial_success message: rejected spans, then what was cut (a warning)."""
        return "; ".join(part for part in (self._rejections(), self._cuts()) if part)

    def _rejections(self) -> str:
        if not self.rejected:
            return ""
        if not self.errors:
            return f"{self.rejected} span(s) rejected"
        shown = "; ".join(self.errors[:MAX_REPORTED_ERRORS])
        more = self.rejected - min(len(self.errors), MAX_REPORTED_ERRORS)
        suffix = f"; and {more} more" if more > 0 else ""
        return f"{self.rejected} span(s) rejected: {shown}{suffix}"

    def _cuts(self) -> str:
        cuts = [
            f"{count} {what}"
            for count, what in (
                (self.repeated_keys, "repeated attribute key(s) kept their last value"),
                (self.attributes_dropped, "attribute(s) past the per-span limit dropped"),
                (self.values_truncated, "attribute value(s) cut to the size limit"),
            )
            if count
        ]
        return ", ".join(cuts)


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


def subset(converted: Converted, requests: list[int]) -> Converted:
    """The rows and outcomes of the given requests only, numbered from 0 in that order."""
    keep = np.isin(converted.request_of_row, requests)
    renumber = np.full(len(converted.outcomes), -1, dtype=np.int64)
    renumber[requests] = np.arange(len(requests))
    return Converted(
        converted.table.filter(pa.array(keep)),
        renumber[converted.request_of_row[keep]],
        [converted.outcomes[i] for i in requests],
        converted.resources,
    )


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


def convert(incoming: list[Incoming], limits: SpanLimits = DEFAULT_LIMITS) -> Converted:
    """Columns for every valid span of the given requests, converted together.

    Converting many requests at once spreads the fixed cost of each NumPy/Arrow call over
    thousands of spans. An incoming ``node_id`` replaces the host.id resource attribute
    as the spans' node. Every problem in the content is decided per
    span: no content makes this raise.
    """
    encodings, layout = gather(
        [item.request for item in incoming],
        [item.node_id for item in incoming],
        [item.batch_id.seq if item.batch_id else None for item in incoming],
    )
    outcomes = [Outcome() for _ in incoming]
    if not encodings:
        return Converted(STAGING_SCHEMA.empty_table(), np.zeros(0, np.int64), outcomes)
    tables, requests = [], []
    for rows, fields, problems in _decode(encodings):
        part = layout if len(rows) == len(encodings) else layout.subset(rows)
        table, request_of_row = _convert_part(fields, part, problems, limits, outcomes)
        tables.append(table)
        requests.append(request_of_row)
    resources = {r.resource_id: r.text for r in layout.resources if r.problem is None}
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    return Converted(table, np.concatenate(requests), outcomes, resources)


def _convert_part(
    fields: SpanFields,
    layout: Layout,
    problems: dict[int, str],
    limits: SpanLimits,
    outcomes: list[Outcome],
) -> tuple[pa.Table, np.ndarray]:
    """The valid spans of one decoded part as a table, and each row's request; adds to
    the requests' outcomes."""
    table, builder = _convert_spans(fields, layout, problems, limits)
    keep = np.ones(len(fields), dtype=bool)
    for row, reason in sorted(problems.items()):
        keep[row] = False
        outcome = outcomes[layout.request[row]]
        outcome.rejected += 1
        if len(outcome.errors) < MAX_REPORTED_ERRORS:
            outcome.errors.append(_describe(fields, row, reason))
    _count_accepted(outcomes, layout.request, keep, builder)
    if problems:
        table = table.filter(pa.array(keep))
    return table, layout.request[keep]


def _decode(encodings: list[bytes]) -> list[tuple[np.ndarray, SpanFields, dict[int, str]]]:
    """The spans' fields in parts (spans.decode_in_parts), each with the problems of its
    spans by their index in the part; a span protobuf cannot parse is decoded as an empty
    one and rejected, so that its siblings are kept."""
    problems: dict[int, str] = {}
    try:
        parts = spans.decode_in_parts(encodings)
    except DecodeError:
        usable = []
        for row, raw in enumerate(encodings):
            try:
                LeanSpan.FromString(raw)
                usable.append(raw)
            except DecodeError:
                problems[row] = _BROKEN_SPAN
                usable.append(b"")
        parts = spans.decode_in_parts(usable)
    return [
        (rows, fields, {i: problems[r] for i, r in enumerate(rows.tolist()) if r in problems})
        for rows, fields in parts
    ]


def _count_accepted(
    outcomes: list[Outcome],
    request_of_span: np.ndarray,
    keep: np.ndarray,
    builder: columns.ColumnBuilder,
) -> None:
    """Per request: the spans accepted, and what was cut from them."""
    kept_requests = request_of_span[keep]
    size = len(outcomes)
    accepted = np.bincount(kept_requests, minlength=size)
    cuts = {
        name: np.bincount(kept_requests, weights=per_span[keep], minlength=size)
        for name, per_span in (
            ("repeated_keys", builder.rules.deduplicated),
            ("attributes_dropped", builder.rules.dropped),
            ("values_truncated", builder.truncated),
        )
    }
    for index, outcome in enumerate(outcomes):
        outcome.accepted += int(accepted[index])
        for name, per_request in cuts.items():
            setattr(outcome, name, getattr(outcome, name) + int(per_request[index]))


def _convert_spans(
    fields: SpanFields, layout: Layout, problems: dict[int, str], limits: SpanLimits
) -> tuple[pa.Table, columns.ColumnBuilder]:
    n = len(fields)
    trace_ids, span_ids = fields.trace_id, fields.span_id
    starts, ends = fields.start, fields.end
    reject_below_broken(layout, problems)
    builder = columns.ColumnBuilder(fields.attributes, n, PROMOTED_KEYS, limits)
    data: dict[str, pa.Array] = {
        "trace_id": trace_ids,
        "span_id": span_ids,
        "parent_span_id": fields.parent_span_id,
        "trace_state": fields.trace_state,
        "name": fields.name,
        "kind": pa.array(fields.kind, pa.int32()),
        "start_time": pa.array(_storable(starts), pa.timestamp("ns", "UTC")),
        "end_time": pa.array(_storable(ends), pa.timestamp("ns", "UTC")),
        "duration_ms": pa.array(
            (ends - np.minimum(starts, ends)).astype(np.float64) / 1e6,  # exact difference
            pa.float64(),
            mask=(ends < starts) | (ends == 0),
        ),
    }
    data.update(nested.status_columns(n, fields.status, problems))
    for promoted in PROMOTED:
        column = builder.promoted(promoted.key, promoted.arrow_type)
        data[promoted.column] = _with_resource_fallback(column, promoted, layout, problems)
    data["node_id"] = _with_batch_node(data["node_id"], layout)
    for rule in CANONICAL:
        data[rule.column], data[rule.as_sent] = canonical_columns(data[rule.column], rule)
    data["attributes"] = builder.remaining()
    data["resource_id"] = _per_span(
        [r.resource_id for r in layout.resources], pa.int64(), layout.resource
    )
    data["scope_name"] = _per_span([s.name for s in layout.scopes], pa.string(), layout.scope)
    data["scope_version"] = _per_span([s.version for s in layout.scopes], pa.string(), layout.scope)
    data["events"] = nested.events_column(n, fields.events, problems)
    data["links"] = nested.links_column(n, fields.links, problems)
    data["batch_seq"] = _per_span(layout.batch_seqs, pa.int64(), layout.request)
    for row, reason in builder.problems.items():  # found while building the columns
        problems.setdefault(row, reason)
    span_rules.check_ids(trace_ids, span_ids, problems)
    span_rules.check_times(starts, ends, problems)
    span_rules.check_names(data["name"], problems)
    return pa.table(data, schema=STAGING_SCHEMA), builder


def _storable(times: np.ndarray) -> np.ndarray:
    """Times as signed nanoseconds; a time a timestamp cannot hold (its span is rejected)
    becomes 0 so that the column can be built."""
    too_late = times >= np.uint64(span_rules.FIRST_UNREPRESENTABLE_NS)
    return np.where(too_late, np.uint64(0), times).view(np.int64)


def _per_span(values: list[Any], arrow_type: pa.DataType, index: np.ndarray) -> pa.Array:
    """Spread one value per request/resource/scope to every span below it."""
    return pa.array(values, arrow_type).take(pa.array(index))


def _with_batch_node(column: pa.Array, layout: Layout) -> pa.Array:
    if all(node is None for node in layout.node_ids):
        return column
    return pc.coalesce(_per_span(layout.node_ids, pa.string(), layout.request), column)


def _with_resource_fallback(
    column: pa.Array, promoted: Promoted, layout: Layout, problems: dict[int, str]
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
        *[(rule.as_sent, pa.string()) for rule in CANONICAL],
        ("attributes", columns.TEXT_MAP),
        ("resource_id", pa.int64()),
        ("scope_name", pa.string()),
        ("scope_version", pa.string()),
        ("events", nested.EVENTS),
        ("links", nested.LINKS),
    ]
)
STAGING_SCHEMA = _SPAN_SCHEMA.append(pa.field("batch_seq", pa.int64()))
