"""Bytes per span on the collector's disk and on the wire, and the cost of each collector
stage, measured in-process on requests the stock SDK encodes."""

from __future__ import annotations

import gzip
import random
import statistics
import time
from pathlib import Path
from typing import Any

from bench.sdk_app import APP_RESOURCE, SDK_BATCH, span_attributes
from parallax import conventions as conv

NODE_ID = "bench-node-01"
GZIP_LEVEL = 6  # gRPC core's gzip message compression uses zlib's default level


def sdk_requests(batches: int, spans_per_batch: int, spacing_ns: int, seed: str) -> list[bytes]:
    """Serialized OTLP requests as the stock SDK encodes them and the collector tags them.

    Span times are spread ``spacing_ns`` apart (as a paced app would create them), so
    timestamps compress as they would in real traffic.
    """
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
    from opentelemetry.trace import SpanKind

    from collector.sampling import Sampler
    from collector.tagging import NodeIdentity, Tagger

    ended: list[Any] = []

    class Keep(SpanExporter):
        def export(self, spans: Any) -> Any:
            ended.extend(spans)

    provider = TracerProvider(resource=Resource.create(APP_RESOURCE))
    provider.add_span_processor(SimpleSpanProcessor(Keep()))
    tracer = provider.get_tracer("parallax.bench.app")
    tagger = Tagger(NodeIdentity(NODE_ID), Sampler(1.0, 0.5))
    rng = random.Random(seed)
    clock = time.time_ns()
    out = []
    for _ in range(batches):
        ended.clear()
        for _ in range(spans_per_batch):
            attributes = span_attributes(rng)
            clock += spacing_ns
            span = tracer.start_span(
                f"inference {attributes[conv.FEATURE]}",
                kind=SpanKind.SERVER,
                attributes=attributes,
                start_time=clock,
            )
            span.end(end_time=clock + rng.randint(2_000_000, 40_000_000))
        request = ExportTraceServiceRequest.FromString(encode_spans(ended).SerializeToString())
        tagger.process(request)
        out.append(request.SerializeToString())
    provider.shutdown()
    return out


def measure_disk(workdir: Path, quick: bool) -> dict[str, Any]:
    """Bytes per span in SegmentLog: batches of 16 and 512, dictionary on and off."""
    from collector.buffer import BufferSettings, SegmentLog

    train = 256  # BufferSettings.dictionary_train_samples: small batches before training
    measured = {16: 400 if quick else 1500, 512: 12 if quick else 48}
    spacing = {16: 300_000_000, 512: 500_000}  # a quiet node (~3/s) vs 2,000 spans/s
    print("  encoding SDK requests...", flush=True)
    small_train = sdk_requests(train, 16, spacing[16], "train-16")
    data = {
        size: sdk_requests(measured[size], size, spacing[size], f"m-{size}") for size in (16, 512)
    }
    results: dict[str, Any] = {}
    for size in (16, 512):
        payloads = data[size]
        spans = size * len(payloads)
        raw = sum(map(len, payloads))
        gz = sum(len(gzip.compress(p, GZIP_LEVEL, mtime=0)) for p in payloads)
        row: dict[str, Any] = {
            "batches_measured": len(payloads),
            "spans_measured": spans,
            "raw_protobuf_bytes_per_span": round(raw / spans, 1),
            "gzip6_bytes_per_span": round(gz / spans, 1),
            "gzip6_ratio": round(raw / gz, 2),
        }
        for dictionary in (False, True):
            directory = workdir / f"disk-{size}-{'dict' if dictionary else 'plain'}"
            settings = BufferSettings(
                directory=directory, dictionary=dictionary, fsync_policy="interval"
            )
            log = SegmentLog(settings)
            try:
                for payload in small_train:  # the node's early small traffic (trains the dict)
                    log.append(payload, 16)
                before = log.stats()
                cpu0 = time.thread_time()
                for payload in payloads:
                    log.append(payload, size)
                cpu = time.thread_time() - cpu0
                log.flush()
                after = log.stats()
            finally:
                log.close()
            stored = after.disk_bytes - before.disk_bytes
            key = "zstd_dict" if dictionary else "zstd_plain"
            row[key] = {
                "bytes_per_span": round(stored / spans, 1),
                "ratio_vs_raw": round(raw / stored, 2),
                "dictionary_id": after.dictionary_id,
                "dictionary_bytes": _dictionary_bytes(directory),
                "append_cpu_us_per_span": round(cpu / spans * 1e6, 2),
            }
        results[f"batch_{size}"] = row
    results["notes"] = (
        "disk bytes = growth of SegmentLog.stats().disk_bytes (record headers included) over "
        "the measured batches, after 256 small (16-span) batches of the node's early traffic "
        "were appended first (with dictionary=True this trains the 16 KiB dictionary; "
        "without them a node that only ever sends 512-span batches never trains one, "
        "because only payloads up to 64 KiB are dictionary samples). zstd level 3. "
        "gzip6 = gzip level 6 of the same requests (what gRPC's gzip sends)."
    )
    results["zstd_level"] = BufferSettings(directory=workdir).zstd_level
    return results


def _dictionary_bytes(directory: Path) -> int:
    folder = directory / "dictionaries"
    return sum(f.stat().st_size for f in folder.iterdir()) if folder.exists() else 0


def measure_stage_costs(workdir: Path) -> dict[str, Any]:
    """Single-thread CPU per span of each step a 512-span export takes in the collector,
    next to the SDK's own costs (create a span, encode it). Microseconds per span."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor as Simple
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import SpanKind

    from collector.buffer import BufferSettings, SegmentLog
    from collector.sampling import Sampler
    from collector.tagging import NodeIdentity, Tagger

    batches, size = 12, SDK_BATCH
    rng = random.Random("stages")
    ended: list[Any] = []

    class Keep(SpanExporter):
        def export(self, spans: Any) -> Any:
            ended.extend(spans)

    provider = TracerProvider(resource=Resource.create(APP_RESOURCE))
    provider.add_span_processor(Simple(Keep()))
    tracer = provider.get_tracer("parallax.bench.app")
    costs: dict[str, list[float]] = {}

    def timed(name: str, fn: Any) -> Any:
        cpu0 = time.thread_time()
        value = fn()
        costs.setdefault(name, []).append((time.thread_time() - cpu0) / size * 1e6)
        return value

    def create() -> None:
        for _ in range(size):
            attributes = span_attributes(rng)
            with tracer.start_as_current_span(
                f"inference {attributes[conv.FEATURE]}", kind=SpanKind.SERVER, attributes=attributes
            ):
                pass

    tagger = Tagger(NodeIdentity(NODE_ID), Sampler(1.0, 0.5))
    log = SegmentLog(BufferSettings(directory=workdir / "stages", dictionary=True))
    try:
        for _ in range(batches):
            ended.clear()
            timed("sdk: attributes + create/end span (processor keeps it)", create)
            wire = timed(
                "sdk: encode 512-span request", lambda: encode_spans(ended).SerializeToString()
            )
            request = timed(
                "collector: parse request", lambda w=wire: ExportTraceServiceRequest.FromString(w)
            )
            timed("collector: tag + sample", lambda r=request: tagger.process(r))
            payload = timed("collector: serialize", lambda r=request: r.SerializeToString())
            seq = timed(
                "collector: buffer append (zstd + write + fsync)",
                lambda p=payload: log.append(p, size),
            )
            timed(
                "collector: buffer read (decompress)",
                lambda s=seq: next(iter(log.pending(after=s - 1))),
            )
            timed(
                "collector: gzip level 6 (gRPC, on send)",
                lambda p=payload: gzip.compress(p, GZIP_LEVEL, mtime=0),
            )
            log.ack(seq)
    finally:
        log.close()
        provider.shutdown()
    medians = {name: round(statistics.median(values[2:]), 2) for name, values in costs.items()}
    collector_total = sum(v for k, v in medians.items() if k.startswith("collector:"))
    return {
        "us_per_span_median": medians,
        "collector_steps_total_us_per_span": round(collector_total, 2),
        "batches": batches,
        "spans_per_batch": size,
        "notes": "time.thread_time() of one thread, median over batches 3..12; the fsync "
        "itself is wall time in the disk, not CPU",
    }
