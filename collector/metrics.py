"""The collector's health checks and Prometheus metrics, read from its stages' own state.

Alive: the intake thread, every shipper worker and the heartbeat thread run. Ready:
alive, not draining, and the buffer took the last batch it was given (a full or failing
disk makes the collector not ready until an append succeeds again). Every metric is read
at scrape time from the counters the stages keep anyway (the same the summary log line
and the heartbeat report), so nothing is counted twice; the buffer's loss counters cover
its whole life, restarts included. Exports accepted or refused at the receiver, by
transport (gRPC or HTTP) and status, are ``parallax_requests_total``
(parallax.observability).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from collector.agent import RunningCollector


def liveness(collector: RunningCollector) -> list[str]:
    problems = []
    if not collector.intake.alive:
        problems.append("the intake thread is not running")
    workers = collector.shipper.workers_alive
    if workers < collector.settings.max_in_flight:
        problems.append(
            f"{collector.settings.max_in_flight - workers} of "
            f"{collector.settings.max_in_flight} shipper workers are not running"
        )
    if collector.heartbeat is not None and not collector.heartbeat.alive:
        problems.append("the heartbeat thread is not running")
    return problems


def readiness(collector: RunningCollector) -> list[str]:
    failure = collector.intake.append_failure
    return [failure] if failure else []


class CollectorMetrics:
    """A Prometheus collector over one ``RunningCollector``."""

    def __init__(self, collector: RunningCollector) -> None:
        self._collector = collector

    def collect(self) -> Iterator[Metric]:
        running = self._collector
        tagging, shipped = running.tagger.counters, running.shipper.counters
        received, admission = running.receiver.counters, running.receiver.admission.counters
        dead_letters, buffer = running.shipper.dead_letters, running.buffer.stats()
        yield _counter("spans_received", "Spans apps exported to this collector.", tagging.spans_in)
        yield _counter(
            "spans_sampled_out", "Spans left out by sampling.", tagging.spans_sampled_out
        )
        yield _counter(
            "spans_too_large",
            "Spans left out of an export: larger than collector.batch_max_bytes alone.",
            received.spans_too_large,
        )
        refused = CounterMetricFamily(
            "parallax_collector_exports_refused",
            "Exports the receiver refused, by reason.",
            labels=["reason"],
        )
        for reason, count in (
            ("invalid", received.invalid_requests),
            ("unauthenticated", received.unauthenticated),
            ("busy", admission.exports_refused_busy),
            ("intake_full", admission.exports_refused_bytes),
        ):
            refused.add_metric([reason], count)
        yield refused
        yield from self._shipping(shipped, dead_letters)
        yield from _buffer_metrics(buffer)

    def _shipping(self, shipped, dead_letters) -> Iterator[Metric]:
        yield _counter(
            "batches_delivered", "Batches the server acknowledged.", shipped.batches_delivered
        )
        yield _counter(
            "spans_delivered", "Spans the server acknowledged and kept.", shipped.spans_delivered
        )
        yield _counter(
            "spans_rejected",
            "Spans the server refused one by one (partial_success); not retried.",
            shipped.spans_rejected,
        )
        yield _counter("retries", "Deliveries retried after a retryable failure.", shipped.retries)
        yield _counter(
            "delivered_payload_bytes",
            "OTLP payload bytes of the delivered batches, before the uplink's gzip.",
            shipped.bytes_sent,
        )
        yield _counter(
            "dead_letter_batches",
            "Batches the server refused for good, written to the dead-letter file.",
            dead_letters.batches,
        )
        yield _counter(
            "dead_letter_dropped_spans",
            "Spans of dead-letter entries dropped (rotated out, too large or unwritable).",
            dead_letters.dropped_spans,
        )


def _buffer_metrics(buffer) -> Iterator[Metric]:
    yield _gauge(
        "buffer_pending_batches", "Batches buffered and not yet delivered.", buffer.pending_batches
    )
    yield _gauge(
        "buffer_pending_spans", "Spans buffered and not yet delivered.", buffer.pending_spans
    )
    yield _gauge(
        "buffer_pending_bytes",
        "Stored (compressed) bytes of undelivered batches.",
        buffer.pending_bytes,
    )
    yield _gauge(
        "buffer_oldest_pending_age_seconds",
        "Age of the oldest undelivered batch (0 when none is pending).",
        buffer.oldest_pending_age_s,
    )
    yield _gauge("buffer_disk_bytes", "Bytes the buffer's files take on disk.", buffer.disk_bytes)
    yield _gauge(
        "buffer_disk_free_bytes",
        "Free bytes on the buffer directory's file system.",
        buffer.disk_free_bytes,
    )
    yield _counter(
        "buffer_dropped_batches",
        "Undelivered batches dropped whole because the buffer was full (whole life).",
        buffer.dropped_batches,
    )
    yield _counter(
        "buffer_dropped_spans",
        "Spans of the batches dropped because the buffer was full (whole life).",
        buffer.dropped_spans,
    )
    yield _counter(
        "buffer_corrupt_records",
        "Batches lost to checksum failures or damaged headers (whole life).",
        buffer.corrupt_records,
    )


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"parallax_collector_{name}", doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"parallax_collector_{name}", doc, value=value)
