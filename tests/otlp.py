"""Small builders for OTLP requests with exactly the shape a test needs."""

from __future__ import annotations

import itertools
import zlib
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from parallax import conventions as conv

_ids = itertools.count(1)
BASE_TIME_NS = 1_790_000_000_000_000_000


def any_value(value: Any) -> AnyValue:
    if isinstance(value, AnyValue):
        return value
    out = AnyValue()
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, bytes):
        out.bytes_value = value
    elif isinstance(value, list):
        out.array_value.values.extend(any_value(v) for v in value)
    elif isinstance(value, dict):
        out.kvlist_value.values.extend(
            KeyValue(key=k, value=any_value(v)) for k, v in value.items()
        )
    else:
        out.string_value = value
    return out


def attributes(values: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in values.items()]


def inference_span(**overrides: Any) -> Span:
    """A valid inference span; attribute keys given as keyword 'attrs' are merged in."""
    n = next(_ids)
    span = Span(
        trace_id=n.to_bytes(16, "big"),
        span_id=n.to_bytes(8, "big"),
        name="inference fraud-scoring",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=BASE_TIME_NS + n * 1_000_000,
        end_time_unix_nano=BASE_TIME_NS + n * 1_000_000 + 12_500_000,
    )
    attrs = {
        conv.FEATURE: "fraud-scoring",
        conv.GEN_AI_REQUEST_MODEL: "fraud-gbm",
        conv.MODEL_VERSION: "2.3",
        conv.MODEL_QUANTIZATION: "int8",
        conv.INPUT_FINGERPRINT: f"fp-{n:06d}",
        conv.OUTPUT_LABEL: "fraud" if n % 2 else "legit",
        conv.OUTPUT_SCORE: n / 1000,
        conv.CONFIDENCE: 0.9,
        conv.COLD_START: False,
    }
    attrs.update(overrides.pop("attrs", {}))
    span.attributes.extend(attributes({k: v for k, v in attrs.items() if v is not None}))
    for field, value in overrides.items():
        setattr(span, field, value)
    return span


def export_request(
    spans: list[Span], resource: dict[str, Any] | None = None, scope: str = "tests"
) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        attributes(resource if resource is not None else {conv.HOST_ID: "node-a"})
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = scope
    scope_spans.spans.extend(spans)
    return request


def gzip_bomb(mebibytes: int) -> bytes:
    """A small gzip body that inflates to ``mebibytes`` MiB of zeros."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    return b"".join(deflater.compress(zeros) for _ in range(mebibytes)) + deflater.flush()
