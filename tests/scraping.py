"""Reading a process's metrics listener as Prometheus and a prober would, and its gRPC
health service as a load balancer would."""

from __future__ import annotations

import http.client
import queue
import threading

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def get(address: str, path: str, headers: dict[str, str] | None = None, timeout: float = 30):
    """(status, headers, body text) of ``GET path``."""
    host, _, port = address.rpartition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


class Scrape:
    """One scrape of /metrics: every sample by name and labels."""

    def __init__(self, address: str) -> None:
        status, _, body = get(address, "/metrics")
        assert status == 200, body
        self.samples: dict[tuple[str, frozenset], float] = {}
        self.families: set[str] = set()
        for family in text_string_to_metric_families(body):
            self.families.add(family.name)
            if family.type == "counter":  # the parser names a counter's family without _total
                self.families.add(f"{family.name}_total")
            for sample in family.samples:
                self.samples[sample.name, frozenset(sample.labels.items())] = sample.value

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when the process has not produced it."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def names(self) -> set[str]:
        """Every sample name and family name exported."""
        return self.families | {name for name, _ in self.samples}


def check_health(address: str, service: str = "") -> int:
    with grpc.insecure_channel(address) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=30
        )
    return answer.status


class HealthWatch:
    """A ``Health/Watch`` stream read on a thread; ``next()`` waits for the next status."""

    def __init__(self, address: str) -> None:
        self._channel = grpc.insecure_channel(address)
        self._call = health_pb2_grpc.HealthStub(self._channel).Watch(
            health_pb2.HealthCheckRequest()
        )
        self._statuses: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for answer in self._call:
                self._statuses.put(answer.status)
        except grpc.RpcError:
            pass

    def next(self, timeout: float = 30) -> int:
        return self._statuses.get(timeout=timeout)

    def close(self) -> None:
        self._call.cancel()
        self._thread.join(10)
        self._channel.close()
