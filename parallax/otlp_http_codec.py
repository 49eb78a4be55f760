"""OTLP/HTTP bodies: from a request body to serialized protobuf, from an answer to a body.

Per the OTLP specification (protocol/exporter.md, "OTLP/HTTP"):

- ``Content-Type: application/x-protobuf`` carries the binary ExportTraceServiceRequest;
  ``application/json`` carries OTLP/JSON: protobuf's JSON mapping with lowerCamelCase
  names (the proto names are accepted too), enums as integers (or names), 64-bit
  integers as strings (or numbers), and trace and span ids as hex strings, not base64.
  Unknown fields are ignored, as receivers must.
- ``Content-Encoding: gzip`` (and ``deflate``, which the OpenTelemetry SDKs can send) is
  inflated here with a bound: a body that inflates past ``max_bytes`` is refused as
  TOO_LARGE after at most ``max_bytes + 1`` bytes, however far it would go.
- The answer is encoded in the request's content type: ExportTraceServiceResponse on
  success, google.rpc.Status for every 4xx and 5xx.

Every failure to decode is a ``CallRefused`` (INVALID or TOO_LARGE): whatever the bytes,
decoding raises nothing else.
"""

from __future__ import annotations

import base64
import json
import math
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from parallax.calls import CallRefused, Refusal

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MEDIA_TYPES = (PROTOBUF, JSON)
ENCODINGS = ("", "identity", "gzip", "deflate")
# zlib window bits: gzip framing only; deflate as zlib framing (or gzip, told apart).
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": 32 + zlib.MAX_WBITS}
# OTLP/JSON spells ids in hex; protobuf's JSON mapping expects base64 for bytes.
_ID_FIELDS = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")
JSON_MAX_DEPTH = 64  # nesting of AnyValue lists and maps that JSON decoding accepts

HTTP_STATUS = {
    Refusal.INVALID: 400,
    Refusal.TOO_LARGE: 413,
    Refusal.UNAUTHENTICATED: 401,
    Refusal.PERMISSION_DENIED: 403,
    Refusal.BUSY: 429,
    Refusal.UNAVAILABLE: 503,
    Refusal.TIMED_OUT: 503,
}
_RPC_CODES = {
    Refusal.INVALID: code_pb2.INVALID_ARGUMENT,
    Refusal.TOO_LARGE: code_pb2.RESOURCE_EXHAUSTED,
    Refusal.UNAUTHENTICATED: code_pb2.UNAUTHENTICATED,
    Refusal.PERMISSION_DENIED: code_pb2.PERMISSION_DENIED,
    Refusal.BUSY: code_pb2.RESOURCE_EXHAUSTED,
    Refusal.UNAVAILABLE: code_pb2.UNAVAILABLE,
    Refusal.TIMED_OUT: code_pb2.DEADLINE_EXCEEDED,
}


def media_type(content_type: str | None) -> str | None:
    """The OTLP media type named by a Content-Type header; None for any other."""
    if not content_type:
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    return media if media in MEDIA_TYPES else None


def content_encoding(header: str | None) -> str | None:
    """The supported content coding named by a Content-Encoding header; None for others."""
    encoding = (header or "").strip().lower()
    return encoding if encoding in ENCODINGS else None


def decode_export(body: bytes, media: str, encoding: str, max_bytes: int) -> bytes:
    """The serialized ExportTraceServiceRequest a body carries (protobuf is passed on
    as sent, for the receiver to parse its own way)."""
    data = inflate(body, encoding, max_bytes)
    return data if media == PROTOBUF else json_to_protobuf(data)


def inflate(body: bytes, encoding: str, max_bytes: int) -> bytes:
    """``body`` decoded from ``encoding``; TOO_LARGE beyond ``max_bytes`` decoded bytes."""
    if encoding in ("", "identity"):
        if len(body) > max_bytes:
            raise too_large(max_bytes)
        return body
    out = bytearray()
    rest = body
    while rest:  # concatenated gzip members are one body
        inflater = zlib.decompressobj(_WBITS[encoding])
        try:
            out += inflater.decompress(rest, max_bytes + 1 - len(out))
        except zlib.error as err:
            raise CallRefused(Refusal.INVALID, f"not a valid {encoding} body: {err}") from err
        if len(out) > max_bytes:
            raise too_large(max_bytes)
        if not inflater.eof:
            raise CallRefused(Refusal.INVALID, f"the {encoding} body is truncated")
        rest = inflater.unused_data
    return bytes(out)


def json_to_protobuf(data: bytes) -> bytes:
    """An OTLP/JSON export request, serialized as protobuf."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        raise CallRefused(Refusal.INVALID, f"not JSON: {_short(err)}") from err
    if not isinstance(document, dict):
        raise CallRefused(Refusal.INVALID, "an OTLP/JSON export is a JSON object")
    request = ExportTraceServiceRequest()
    try:
        for resource_spans in _items(document, "resourceSpans", "resource_spans"):
            for scope_spans in _items(resource_spans, "scopeSpans", "scope_spans"):
                for span in _items(scope_spans, "spans"):
                    _hex_ids_to_base64(span)
                    for link in _items(span, "links"):
                        _hex_ids_to_base64(link)
        json_format.ParseDict(
            document, request, ignore_unknown_fields=True, max_recursion_depth=JSON_MAX_DEPTH
        )
        return request.SerializeToString()
    except CallRefused:
        raise
    except Exception as err:  # protobuf's parser raises several types; all mean the input
        raise CallRefused(Refusal.INVALID, f"not an OTLP/JSON export: {_short(err)}") from err


def encode(message: Message, media: str) -> bytes:
    """``message`` in the request's media type."""
    if media == JSON:
        return json_format.MessageToJson(message, indent=None).encode()
    return message.SerializeToString()


def status_body(refused: CallRefused, media: str) -> bytes:
    """The google.rpc.Status body of a refusal, in the request's media type."""
    status = status_pb2.Status(code=_RPC_CODES[refused.refusal], message=refused.message)
    return encode(status, media)


def retry_after_header(refused: CallRefused) -> dict[str, str]:
    """``Retry-After`` in whole seconds (at least 1) for a retryable refusal."""
    if refused.retry_after_s is None:
        return {}
    return {"Retry-After": str(max(1, math.ceil(refused.retry_after_s)))}


def _items(parent: Any, *names: str) -> list:
    for name in names:
        if isinstance(parent, dict) and name in parent:
            value = parent[name]
            if not isinstance(value, list):
                raise CallRefused(Refusal.INVALID, f"{name} must be a JSON array")
            return value
    return []


def _hex_ids_to_base64(item: Any) -> None:
    if not isinstance(item, dict):
        return
    for name in _ID_FIELDS:
        value = item.get(name)
        if value is None:
            continue
        try:
            item[name] = base64.b64encode(bytes.fromhex(value)).decode()
        except (TypeError, ValueError) as err:
            raise CallRefused(Refusal.INVALID, f"{name} must be a hex string") from err


def too_large(max_bytes: int) -> CallRefused:
    return CallRefused(Refusal.TOO_LARGE, f"the request is larger than {max_bytes} bytes")


def _short(err: Exception) -> str:
    return str(err)[:200]
