"""The server's health and metrics (parallax.observability wired to its parts).

Alive: both ingest stages run and none is stuck (``IngestPipeline.problem``), and the
reconciler's thread runs when it is configured. Ready: alive, not draining, and the
last commit the lake was asked for succeeded (a lake that refuses commits, a full disk
say, answers UNAVAILABLE until it takes one again). The metrics read the parts' own
state at scrape time: the ingest counters (store.ingest.metrics), the reconciler's runs
and open findings (reconciler.metrics), heartbeats recorded, and the process's CPU,
memory and descriptors.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, Metric

from parallax.config import Settings
from parallax.health import Check
from parallax.observability import Observability
from reconciler import ReconcilerLoop
from store.fleet import FleetService
from store.ingest.metrics import IngestCollector
from store.ingest.pipeline import IngestPipeline


def server_observability(
    settings: Settings,
    pipeline: IngestPipeline,
    fleet: FleetService,
    reconciler: ReconcilerLoop | None,
) -> Observability:
    """The server's registry with every part's metrics; health is judged once it runs."""
    observability = Observability("server.metrics_listen", settings.server.metrics_listen)
    observability.register(IngestCollector(pipeline))
    observability.register(_HeartbeatCollector(fleet))
    if reconciler is not None:
        observability.register(reconciler.metrics)
    ProcessCollector(registry=observability.registry)
    PlatformCollector(registry=observability.registry)
    return observability


def server_checks(
    pipeline: IngestPipeline, reconciler: ReconcilerLoop | None
) -> tuple[Check, Check]:
    """The server's liveness and readiness checks."""

    def liveness() -> list[str]:
        problems = [problem] if (problem := pipeline.problem()) else []
        if reconciler is not None and not reconciler.alive:
            problems.append("the reconciler's thread is not running")
        return problems

    def readiness() -> list[str]:
        return [failure] if (failure := pipeline.lake_failure) else []

    return liveness, readiness


class _HeartbeatCollector:
    def __init__(self, fleet: FleetService) -> None:
        self._fleet = fleet

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "parallax_fleet_heartbeats_recorded",
            "Heartbeats from collectors recorded in the lake.",
            value=self._fleet.heartbeats_recorded,
        )
