"""Realistic inference spans for benchmarks: OTLP requests as an edge node's collector sends them.

One request = one resource (the node) with ``spans_per_request`` inference spans carrying
the Parallax conventions (~12 attributes, ~500 bytes per span encoded).
"""

from __future__ import annotations

import random
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from parallax import conventions as conv

FEATURES = ("fraud-scoring", "product-recs", "churn-risk")
VERSIONS = ("2.1", "2.3", "3.0")
QUANTIZATIONS = ("fp32", "fp16", "int8", "int4")
TIERS = ("device", "near-edge", "cloud")


def attribute(key: str, value: object) -> KeyValue:
    """One OTLP KeyValue with the AnyValue type picked from the Python type."""
    kv = KeyValue(key=key)
    if isinstance(value, bool):
        kv.value.bool_value = value
    elif isinstance(value, int):
        kv.value.int_value = value
    elif isinstance(value, float):
        kv.value.double_value = value
    else:
        kv.value.string_value = str(value)
    return kv


def inference_request(
    node: int, spans_per_request: int = 512, rng: random.Random | None = None
) -> ExportTraceServiceRequest:
    """An export request from node ``node`` with realistic inference spans."""
    rng = rng or random.Random(node)
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        [
            attribute(conv.SERVICE_NAME, "inference-app"),
            attribute(conv.HOST_ID, f"node-{node:04d}"),
            attribute(conv.CLOUD_REGION, rng.choice(("eu-west", "us-east"))),
            attribute(conv.HARDWARE_TIER, TIERS[node % len(TIERS)]),
        ]
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "parallax.sdk"
    now = time.time_ns()
    for index in range(spans_per_request):
        feature = rng.choice(FEATURES)
        span = scope_spans.spans.add()
        span.trace_id = rng.randbytes(16)
        span.span_id = rng.randbytes(8)
        span.name = f"inference {feature}"
        span.kind = 2
        span.start_time_unix_nano = now + index * 1_000
        span.end_time_unix_nano = span.start_time_unix_nano + rng.randint(2_000_000, 40_000_000)
        span.attributes.extend(
            [
                attribute(conv.FEATURE, feature),
                attribute(conv.GEN_AI_REQUEST_MODEL, f"{feature}-model"),
                attribute(conv.GEN_AI_OPERATION_NAME, "predict"),
                attribute(conv.MODEL_VERSION, rng.choice(VERSIONS)),
                attribute(conv.MODEL_QUANTIZATION, rng.choice(QUANTIZATIONS)),
                attribute(conv.HARDWARE_ACCELERATOR, "npu"),
                attribute(conv.INPUT_FINGERPRINT, rng.randbytes(16).hex()),
                attribute(conv.OUTPUT_LABEL, rng.choice(("fraud", "legit"))),
                attribute(conv.OUTPUT_SCORE, rng.random()),
                attribute(conv.CONFIDENCE, rng.random()),
                attribute(conv.COLD_START, rng.random() < 0.01),
                attribute("app.request_id", rng.randrange(1 << 40)),
            ]
        )
    return request
