"""A process's self-observation, wired the same way in ``parallax server`` and
``parallax collector``: its own Prometheus registry (never the global one), a count of
every call by transport, method and status code, its ``Health`` with the gRPC health
service on its gRPC port, and the metrics listener (parallax.metrics_http).

Order of life: create it before the gRPC server (``interceptors()`` go into the server),
``add_health_to(server)`` and ``listen()`` before the server starts, ``start()`` once every
part runs; ``drain()`` first thing when it stops (NOT_SERVING, /readyz 503 while
in-flight work finishes), ``close()`` last.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import grpc
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from parallax import __version__
from parallax.aio import EventLoopThread
from parallax.grpc_health import CallCounter, GrpcHealth
from parallax.health import Check, Health
from parallax.metrics_http import MetricsListener

HEALTH_INTERVAL_S = 1.0


class Observability:
    def __init__(self, metrics_key: str, metrics_listen: str) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.health = Health(HEALTH_INTERVAL_S)
        self.requests = Counter(
            "parallax_requests",
            "Calls answered, by transport (grpc, http), method and status code.",
            ["transport", "method", "code"],
            registry=self.registry,
        )
        self.registry.register(_HealthCollector(self.health))
        self._grpc_health: list[GrpcHealth] = []
        self._listener = (
            MetricsListener(metrics_key, metrics_listen, self.registry, self.health)
            if metrics_listen
            else None
        )
        self.metrics_address = ""

    def count_request(self, transport: str, method: str, code: str) -> None:
        """One call answered; ``method`` must come from a fixed set, never from the client."""
        self.requests.labels(transport, method, code).inc()

    def register(self, collector: Collector) -> None:
        self.registry.register(collector)

    def count_http(self, request: str, status: int) -> None:
        """One OTLP/HTTP request answered (parallax.otlp_http's ``on_answer``)."""
        self.count_request("http", request, str(status))

    def interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        return [CallCounter(lambda method, code: self.count_request("grpc", method, code))]

    def add_health_to(
        self, server: grpc.aio.Server, loop: EventLoopThread, services: Iterable[str]
    ) -> None:
        grpc_health = GrpcHealth(loop, services)
        grpc_health.add_to(server, self.health)
        self._grpc_health.append(grpc_health)

    def listen(self) -> None:
        """Open the metrics listener (before the process serves: a port in use stops the
        start); raises ConfigError if it cannot listen."""
        if self._listener is not None:
            self.metrics_address = self._listener.start()

    def start(self, liveness: Check, readiness: Check) -> None:
        """Start judging health by these checks, once every part of the process runs."""
        self.health.start(liveness, readiness)

    def drain(self) -> None:
        self.health.drain()
        for grpc_health in self._grpc_health:
            grpc_health.drain()

    def close(self) -> None:
        self.health.stop()
        if self._listener is not None:
            self._listener.stop()


class _HealthCollector:
    """The verdict of ``Health`` as gauges an alert can fire on, and the version."""

    def __init__(self, health: Health) -> None:
        self._health = health

    def collect(self) -> Iterator[Metric]:
        verdict = self._health.verdict
        yield GaugeMetricFamily(
            "parallax_alive", "1 while the process's threads run, else 0.", value=verdict.alive
        )
        yield GaugeMetricFamily(
            "parallax_ready",
            "1 while the process is ready for work (not draining, its parts healthy), else 0.",
            value=verdict.ready,
        )
        info = GaugeMetricFamily(
            "parallax_build_info", "The running Parallax version.", labels=["version"]
        )
        info.add_metric([__version__], 1)
        yield info
