"""The ingest pipeline as Prometheus metrics, read from its own state at scrape time.

The counters are the pipeline's ``IngestStats.totals`` (the same counts its ingest_stats
rows carry per interval), so there is one count of each thing; the queue gauges read
the requests in flight; the commit histograms are observed by the writer thread after
each group commit (``CommitHistograms``), and their ``_count`` and ``_sum`` are the
commits and commit seconds of the totals.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from store.ingest.pipeline import IngestPipeline

COMMIT_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
GROUP_SPANS_BUCKETS = (1, 10, 100, 500, 1000, 2500, 5000, 10_000, 20_000, 50_000, 100_000)
GROUP_REQUESTS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

# (metric, label, value, IngestStats counter): each counter exposed once
SPANS = (("accepted", "spans_accepted"), ("rejected", "spans_rejected"))
BATCHES = (("committed", "batches"), ("duplicate", "duplicate_batches"))
REFUSALS = (
    ("queue_full", "requests_refused"),
    ("invalid", "requests_invalid"),
    ("unauthenticated", "requests_unauthenticated"),
    ("permission_denied", "requests_denied"),
)
ATTRIBUTE_CUTS = (
    ("repeated_key", "repeated_keys"),
    ("attribute_dropped", "attributes_dropped"),
    ("value_truncated", "values_truncated"),
)


class CommitHistograms:
    """How long group commits take and how large the groups are (not registered:
    ``IngestCollector`` yields them)."""

    def __init__(self) -> None:
        self.seconds = Histogram(
            "parallax_ingest_commit_duration_seconds",
            "Time to commit one group of requests to the lake.",
            buckets=COMMIT_SECONDS_BUCKETS,
            registry=None,
        )
        self.spans = Histogram(
            "parallax_ingest_commit_group_spans",
            "Spans in one committed group.",
            buckets=GROUP_SPANS_BUCKETS,
            registry=None,
        )
        self.requests = Histogram(
            "parallax_ingest_commit_group_requests",
            "Requests in one committed group.",
            buckets=GROUP_REQUESTS_BUCKETS,
            registry=None,
        )

    def observe(self, seconds: float, spans: int, requests: int) -> None:
        self.seconds.observe(seconds)
        self.spans.observe(spans)
        self.requests.observe(requests)

    def collect(self) -> Iterator[Metric]:
        for histogram in (self.seconds, self.spans, self.requests):
            yield from histogram.collect()


class IngestCollector:
    """A Prometheus collector over one running ``IngestPipeline``."""

    def __init__(self, pipeline: IngestPipeline) -> None:
        self._pipeline = pipeline

    def collect(self) -> Iterator[Metric]:
        totals = self._pipeline.stats.totals
        yield _counter(
            "parallax_ingest_spans",
            "Spans committed (accepted) or refused one by one (rejected).",
            "outcome",
            SPANS,
            totals,
        )
        yield _counter(
            "parallax_ingest_batches",
            "Collector batches committed, and retries of batches already committed.",
            "outcome",
            BATCHES,
            totals,
        )
        yield _counter(
            "parallax_requests_refused",
            "Requests refused before any of their spans were stored, by reason (credential "
            "refusals include the Fleet service's).",
            "reason",
            REFUSALS,
            totals,
        )
        yield _counter(
            "parallax_ingest_attribute_cuts",
            "Attributes cut from stored spans, by kind of cut.",
            "cut",
            ATTRIBUTE_CUTS,
            totals,
        )
        queued = GaugeMetricFamily(
            "parallax_ingest_queue_spans", "Spans accepted and waiting for their commit."
        )
        queued.add_metric([], self._pipeline.queued_spans)
        yield queued
        requests = GaugeMetricFamily(
            "parallax_ingest_queue_requests", "Requests accepted and waiting for their commit."
        )
        requests.add_metric([], self._pipeline.queued_requests)
        yield requests
        yield from self._pipeline.commit_histograms.collect()


def _counter(name: str, doc: str, label: str, pairs, totals) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label])
    for value, field in pairs:
        family.add_metric([value], getattr(totals, field))
    return family
