"""Shared helpers for the buffer tests: realistic OTLP payloads and small-buffer settings."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from collector.buffer import BufferSettings, SegmentLog
from parallax import conventions as conv


def _attribute(key: str, value: object) -> KeyValue:
    kv = KeyValue(key=key)
    if isinstance(value, float):
        kv.value.double_value = value
    elif isinstance(value, bool):
        kv.value.bool_value = value
    else:
        kv.value.string_value = str(value)
    return kv


def _otlp_batch(span_count: int, seed: int = 0) -> bytes:
    """A serialized ExportTraceServiceRequest with ``span_count`` inference spans."""
    rng = random.Random(seed)
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        [
            _attribute(conv.SERVICE_NAME, "inference-app"),
            _attribute(conv.HOST_ID, f"node-{seed % 7:04d}"),
            _attribute(conv.HARDWARE_TIER, "device"),
        ]
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "parallax.sdk"
    for index in range(span_count):
        span = scope_spans.spans.add()
        span.trace_id = rng.randbytes(16)
        span.span_id = rng.randbytes(8)
        span.name = "inference fraud-scoring"
        span.start_time_unix_nano = 1_700_000_000_000_000_000 + index * 1_000
        span.end_time_unix_nano = span.start_time_unix_nano + rng.randint(2_000_000, 40_000_000)
        span.attributes.extend(
            [
                _attribute(conv.FEATURE, "fraud-scoring"),
                _attribute(conv.MODEL_VERSION, rng.choice(("2.1", "2.3", "3.0"))),
                _attribute(conv.MODEL_QUANTIZATION, rng.choice(("fp16", "int8"))),
                _attribute(conv.INPUT_FINGERPRINT, rng.randbytes(16).hex()),
                _attribute(conv.OUTPUT_LABEL, rng.choice(("fraud", "legit"))),
                _attribute(conv.OUTPUT_SCORE, rng.random()),
            ]
        )
    return request.SerializeToString()


@pytest.fixture
def otlp_batch() -> Callable[..., bytes]:
    """``otlp_batch(span_count, seed=0)``: bytes of a realistic OTLP export request."""
    return _otlp_batch


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., BufferSettings]:
    """Settings for a buffer in a fresh temporary directory; keyword overrides apply."""

    def make(**overrides: object) -> BufferSettings:
        values: dict[str, object] = {"directory": tmp_path / "buffer", "dictionary": False}
        values.update(overrides)
        return BufferSettings(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture
def open_log() -> Iterator[Callable[[BufferSettings], SegmentLog]]:
    """Opens buffers and closes whatever a test leaves open."""
    opened: list[SegmentLog] = []

    def open_(settings: BufferSettings) -> SegmentLog:
        log = SegmentLog(settings)
        opened.append(log)
        return log

    yield open_
    for log in opened:
        log.close()
