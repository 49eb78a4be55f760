"""The benchmark app: the stock OpenTelemetry SDK creating inference spans at a set rate.

Runs as a child process of bench/collector.py (``collector.py --app SPEC``) and reports
what it created and what its exporter got acknowledged.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from typing import Any

from bench.report import latency_ms
from bench.workload import FEATURES, QUANTIZATIONS, VERSIONS
from parallax import conventions as conv

SDK_QUEUE = 2048  # BatchSpanProcessor defaults, stated so the JSON says what was used
SDK_BATCH = 512
APP_RESOURCE = {
    conv.SERVICE_NAME: "inference-app",
    conv.CLOUD_REGION: "eu-west",
    conv.HARDWARE_TIER: "near-edge",
}


def span_attributes(rng: random.Random) -> dict[str, Any]:
    """One inference span's attributes, as bench/workload.py builds them."""
    feature = rng.choice(FEATURES)
    return {
        conv.FEATURE: feature,
        conv.GEN_AI_REQUEST_MODEL: f"{feature}-model",
        conv.GEN_AI_OPERATION_NAME: "predict",
        conv.MODEL_VERSION: rng.choice(VERSIONS),
        conv.MODEL_QUANTIZATION: rng.choice(QUANTIZATIONS),
        conv.HARDWARE_ACCELERATOR: "npu",
        conv.INPUT_FINGERPRINT: rng.randbytes(16).hex(),
        conv.OUTPUT_LABEL: rng.choice(("fraud", "legit")),
        conv.OUTPUT_SCORE: rng.random(),
        conv.CONFIDENCE: rng.random(),
        conv.COLD_START: rng.random() < 0.01,
        "app.request_id": rng.randrange(1 << 40),
    }


class CountingExporter:
    """Wraps the stock OTLPSpanExporter and counts what it got acknowledged."""

    def __init__(self, inner: Any, t0: float) -> None:
        from opentelemetry.sdk.trace.export import SpanExportResult

        self.inner = inner
        self.success = SpanExportResult.SUCCESS
        self.t0 = t0
        self.ok_spans = 0
        self.failed_spans = 0
        self.failed_exports = 0
        self.ok_by_second: Counter = Counter()
        self.latencies: list[float] = []

    def export(self, spans: Any) -> Any:
        began = time.monotonic()
        result = self.inner.export(spans)
        done = time.monotonic()
        if result == self.success:
            self.ok_spans += len(spans)
            self.ok_by_second[int(done - self.t0)] += len(spans)
            self.latencies.append(done - began)
        else:
            self.failed_spans += len(spans)
            self.failed_exports += 1
        return result

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


def run_app(spec: dict[str, Any]) -> None:
    """The app (``--app SPEC``): create spans for ``duration_s``, then shut the SDK down.

    ``rate`` 0: as fast as the exporter keeps up (pause while the SDK queue is nearly
    full); otherwise paced at ``rate`` spans/s. Prints ``STARTED`` then one ``RESULT``
    JSON line.
    """
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind

    rng = random.Random(spec["seed"])
    t0 = time.monotonic()
    exporter = CountingExporter(OTLPSpanExporter(endpoint=spec["endpoint"], insecure=True), t0)
    processor = BatchSpanProcessor(exporter)  # stock defaults: queue 2048, batch 512, 5 s
    provider = TracerProvider(resource=Resource.create(APP_RESOURCE))
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("parallax.bench.app")
    sdk_queue = getattr(getattr(processor, "_batch_processor", None), "_queue", None)
    high_water = SDK_QUEUE - SDK_BATCH

    duration, rate = spec["duration_s"], spec["rate"]
    created_by_second: Counter = Counter()
    created = paused = 0
    chunk = max(1, rate // 100) if rate else 64  # paced: 100 chunks per second
    print(f"STARTED {time.time():.6f}", flush=True)
    cpu0, wall0 = time.thread_time(), time.monotonic()
    t_next = wall0
    while True:
        now = time.monotonic()
        elapsed = now - wall0
        if elapsed >= duration:
            break
        if rate:
            if now < t_next:
                time.sleep(t_next - now)
            t_next += chunk / rate
        elif sdk_queue is not None and len(sdk_queue) >= high_water:
            paused += 1
            time.sleep(0.001)
            continue
        for _ in range(chunk):
            attributes = span_attributes(rng)
            with tracer.start_as_current_span(
                f"inference {attributes[conv.FEATURE]}", kind=SpanKind.SERVER, attributes=attributes
            ):
                pass
        created += chunk
        created_by_second[int(time.monotonic() - wall0)] += chunk
    creation_wall = time.monotonic() - wall0
    creation_cpu = time.thread_time() - cpu0
    handed_before_shutdown = exporter.ok_spans + exporter.failed_spans
    shutdown0 = time.monotonic()
    provider.shutdown()  # exports what is queued (bounded by the SDK's 30 s timeout)
    shutdown_s = time.monotonic() - shutdown0
    left = len(sdk_queue) if sdk_queue is not None else 0
    handed = exporter.ok_spans + exporter.failed_spans
    result = {
        "created": created,
        "exported_ok": exporter.ok_spans,
        "export_failed_spans": exporter.failed_spans,
        "export_failed_requests": exporter.failed_exports,
        "dropped_by_sdk_queue": created - handed - left,
        "left_in_queue_at_exit": left,
        "exported_during_shutdown": handed - handed_before_shutdown,
        "creation_wall_s": round(creation_wall, 3),
        "shutdown_s": round(shutdown_s, 3),
        "creation_thread_cpu_s": round(creation_cpu, 3),
        "process_cpu_s": round(time.process_time(), 3),
        "paused_for_queue": paused,
        "created_by_second": [created_by_second.get(s, 0) for s in range(int(duration) + 1)],
        "exported_by_second": [
            exporter.ok_by_second.get(s, 0)
            for s in range(max(exporter.ok_by_second, default=0) + 1)
        ],
        "export_latency_ms": latency_ms(exporter.latencies),
        "rate": rate,
    }
    print("RESULT " + json.dumps(result), flush=True)
