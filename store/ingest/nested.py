"""A span's status, events and links: rare, decoded per span with the standard OTLP messages.

A span whose status, event or link cannot be decoded (malformed, a string that is not
UTF-8, a time past what a timestamp holds) is rejected on its own; attribute keys
repeated inside an event or link keep their last value, as span attributes do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
from google.protobuf.message import DecodeError
from opentelemetry.proto.trace.v1 import trace_pb2

from store.ingest import anyvalue, columns
from store.ingest.span_rules import FIRST_UNREPRESENTABLE_NS

EVENTS = pa.list_(
    pa.struct(
        [
            ("time", pa.timestamp("ns", "UTC")),
            ("name", pa.string()),
            ("attributes", columns.TEXT_MAP),
        ]
    )
)
LINKS = pa.list_(
    pa.struct(
        [("trace_id", pa.string()), ("span_id", pa.string()), ("attributes", columns.TEXT_MAP)]
    )
)
_STATUS_CODES = {0: "unset", 1: "ok", 2: "error"}


class _Unstorable(ValueError):
    """A nested value that parses but cannot be stored."""


def status_columns(
    n: int, raw_statuses: dict[int, bytes], problems: dict[int, str]
) -> dict[str, pa.Array]:
    codes: list[str] = ["unset"] * n
    messages: list[str | None] = [None] * n
    cache: dict[bytes, tuple[str, str | None]] = {}
    for row, raw in raw_statuses.items():
        if raw not in cache:
            try:
                status = trace_pb2.Status.FromString(raw)
            except DecodeError:
                problems.setdefault(row, "span status is not valid (malformed or not UTF-8)")
                continue
            cache[raw] = (_STATUS_CODES.get(status.code, "unset"), status.message or None)
        codes[row], messages[row] = cache[raw]
    return {
        "status_code": pa.array(codes, pa.string()),
        "status_message": pa.array(messages, pa.string()),
    }


def events_column(n: int, raw_lists: dict[int, list[bytes]], problems: dict[int, str]) -> pa.Array:
    return _nested(n, raw_lists, _decode_event, EVENTS, problems)


def links_column(n: int, raw_lists: dict[int, list[bytes]], problems: dict[int, str]) -> pa.Array:
    return _nested(n, raw_lists, _decode_link, LINKS, problems)


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
        except (DecodeError, UnicodeDecodeError, _Unstorable) as err:
            problems.setdefault(row, f"cannot decode span event or link: {err}")
    return pa.array(rows, arrow_type)


def _decode_event(raw: bytes) -> dict[str, Any]:
    event = trace_pb2.Span.Event.FromString(raw)
    if event.time_unix_nano >= FIRST_UNREPRESENTABLE_NS:
        raise _Unstorable("event time is past 2262-04-11, the last a timestamp can hold")
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
    """Attributes as (key, text) pairs, each key once (its last value)."""
    last = {kv.key: anyvalue.as_text(anyvalue.from_message(kv.value)) for kv in key_values}
    return list(last.items())
