"""Fleet heartbeat: report the node's state to the backend, follow the directive it returns.

``HeartbeatClient.beat(state)`` sends one ``parallax.fleet.v1.Fleet/Heartbeat`` (plain
synchronous gRPC, one channel) and returns the backend's ``Directive``. ``HeartbeatLoop``
beats from a thread every ``heartbeat_interval_s`` of the latest directive and hands each
changed directive to a callback (the collector sets its sampling ratio from it). When the
backend is unreachable the loop keeps the last directive, logs (rate-limited) and tries
again at the next interval; it never gives up.

Clock offset (NTP-style): for each heartbeat the client takes t0, its wall clock at send,
and t3 = t0 + the monotonic time the call took (a clock step during the call cannot
distort the round trip); the reply carries t1 and t2, the server's receive and send
times. Then

    offset     = ((t1 - t0) + (t2 - t3)) / 2    server clock minus node clock
    round trip = (t3 - t0) - (t2 - t1)          the error of offset is at most round trip / 2

The next heartbeat reports, of the last ``CLOCK_SAMPLES`` exchanges, the one with the
shortest round trip (NTP's clock filter: the least delayed exchange bounds the error best).
The backend records it in ``nodes.clock_offset_ms``.

Edge footprint: grpc, protobuf and the buffer's report type (no store, duckdb or pyarrow).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import grpc

from collector.buffer import BufferReport
from collector.uplink import Uplink, UplinkFiles
from parallax.proto.fleet.v1 import fleet_pb2, fleet_pb2_grpc
from parallax.versions import version_key

log = logging.getLogger("parallax.collector.heartbeat")

CLOCK_SAMPLES = 8
DEFAULT_TIMEOUT_S = 10.0
# gRPC waits up to 120 s between reconnection attempts by default: a heartbeat every
# 15 s would then miss several beats after the backend is back.
MAX_RECONNECT_BACKOFF_MS = 5_000


@dataclass(frozen=True)
class ModelState:
    """One model variant installed on the node."""

    model_name: str
    model_version: str
    quantization: str = ""
    loaded: bool = False
    warm: bool = False


@dataclass(frozen=True)
class NodeState:
    """What a heartbeat reports; ``buffer`` None when the node has no buffer report."""

    node_id: str
    hardware_tier: str = ""
    region: str = ""
    accelerator: str = ""
    collector_version: str = ""
    models: tuple[ModelState, ...] = ()
    buffer: BufferReport | None = None


@dataclass(frozen=True)
class ClockSample:
    """One round trip's estimate: server clock minus node clock, and the round trip."""

    offset_ns: int
    round_trip_ns: int


@dataclass(frozen=True)
class Directive:
    """What the backend asks of the node until the next heartbeat."""

    sampling_ratio: float
    heartbeat_interval_s: float
    min_versions: Mapping[str, str] = field(default_factory=dict)
    prewarm: tuple[str, ...] = ()

    def upgrades_required(self, models: Iterable[ModelState]) -> list[ModelState]:
        """The models served at a version below the fleet's minimum for them."""
        return [
            model
            for model in models
            if model.model_name in self.min_versions
            and version_key(model.model_version) < version_key(self.min_versions[model.model_name])
        ]


def clock_sample(t0: int, t1: int, t2: int, t3: int) -> ClockSample:
    """The NTP estimate from node send t0, server receive t1, server send t2, node receive t3."""
    offset = ((t1 - t0) + (t2 - t3)) // 2
    round_trip = max(0, (t3 - t0) - (t2 - t1))
    return ClockSample(offset, round_trip)


class HeartbeatClient:
    """Sends heartbeats over one channel; not for concurrent use (one loop beats at a time).

    ``clock`` is the node's wall clock in Unix nanoseconds (replaceable, e.g. to play a
    node whose clock is off).
    """

    def __init__(
        self,
        address: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        clock: Callable[[], int] = time.time_ns,
        files: UplinkFiles | None = None,
    ) -> None:
        self._uplink = Uplink(
            address,
            files or UplinkFiles(),
            [("grpc.max_reconnect_backoff_ms", MAX_RECONNECT_BACKOFF_MS)],
            on_channel=self._bind,
        )
        self._timeout_s = timeout_s
        self._clock = clock
        self._sequence = 0
        self._samples: deque[ClockSample] = deque(maxlen=CLOCK_SAMPLES)

    def _bind(self, channel: grpc.Channel) -> None:
        self._heartbeat = fleet_pb2_grpc.FleetStub(channel).Heartbeat

    @property
    def clock_estimate(self) -> ClockSample | None:
        """The estimate the next heartbeat reports; None before the first round trip."""
        return min(self._samples, key=lambda s: s.round_trip_ns, default=None)

    def beat(self, state: NodeState) -> Directive:
        """Send one heartbeat and return the directive.

        Raises grpc.RpcError when the backend does not answer OK (the node keeps its last
        directive), ValueError when the reply's directive is unusable.
        """
        self._sequence += 1
        request = _request(state, self._sequence, self.clock_estimate)
        t0 = self._clock()
        started = time.monotonic_ns()
        request.node_send_time_unix_nano = max(0, t0)
        auth = self._uplink.metadata()
        response = self._heartbeat(request, metadata=auth, timeout=self._timeout_s)
        t3 = t0 + (time.monotonic_ns() - started)
        t1, t2 = response.server_receive_time_unix_nano, response.server_send_time_unix_nano
        if t1 and t2:
            self._samples.append(clock_sample(t0, t1, t2, t3))
        return _directive(response)

    def close(self) -> None:
        self._uplink.close()

    def __enter__(self) -> HeartbeatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _request(
    state: NodeState, sequence: int, clock: ClockSample | None
) -> fleet_pb2.HeartbeatRequest:
    request = fleet_pb2.HeartbeatRequest(
        node_id=state.node_id,
        hardware_tier=state.hardware_tier,
        region=state.region,
        accelerator=state.accelerator,
        collector_version=state.collector_version,
        models=[
            fleet_pb2.ModelState(
                model_name=m.model_name,
                model_version=m.model_version,
                quantization=m.quantization,
                loaded=m.loaded,
                warm=m.warm,
            )
            for m in state.models
        ],
        sequence=sequence,
    )
    if state.buffer is not None:
        request.buffer.CopyFrom(buffer_message(state.buffer))
    if clock is not None:
        request.clock.offset_ns = clock.offset_ns
        request.clock.round_trip_ns = clock.round_trip_ns
    return request


def buffer_message(report: BufferReport) -> fleet_pb2.BufferStats:
    """The wire's ``BufferStats`` for a buffer report: the part of it the backend keeps."""
    return fleet_pb2.BufferStats(
        pending_bytes=report.pending_bytes,
        pending_batches=report.pending_batches,
        oldest_pending_age_seconds=report.oldest_pending_age_s,
        dropped_spans=report.dropped_spans,
        disk_free_bytes=report.disk_free_bytes,
    )


def _directive(response: fleet_pb2.HeartbeatResponse) -> Directive:
    ratio, interval = response.sampling_ratio, response.heartbeat_interval_seconds
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"the backend sent sampling_ratio {ratio}, outside 0..1")
    if not (math.isfinite(interval) and interval > 0):
        raise ValueError(f"the backend sent heartbeat_interval_seconds {interval}, not > 0")
    return Directive(
        sampling_ratio=ratio,
        heartbeat_interval_s=interval,
        min_versions=MappingProxyType(
            {m.model_name: m.min_version for m in response.minimum_versions}
        ),
        prewarm=tuple(response.prewarm_models),
    )


class HeartbeatLoop:
    """Beats from a daemon thread until ``stop()``; ``on_directive`` gets each changed directive.

    The first heartbeat goes out at ``start()``; then one every ``heartbeat_interval_s``
    of the latest directive (``interval_s`` until the first arrives). Waits on an Event,
    so ``stop()`` interrupts the wait at once (a heartbeat in flight finishes first,
    within the client's timeout). Failures are logged when they start, then at most once
    per ``log_every_s``, and when the backend answers again.
    """

    def __init__(
        self,
        client: HeartbeatClient,
        state: Callable[[], NodeState],
        on_directive: Callable[[Directive], None],
        interval_s: float = 15.0,
        log_every_s: float = 60.0,
    ) -> None:
        self._client = client
        self._state = state
        self._on_directive = on_directive
        self._interval_s = interval_s
        self._log_every_s = log_every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self.directive: Directive | None = None
        self.beats_ok = 0
        self.beats_failed = 0
        self._failing_since: int | None = None  # beats_failed when the failures started
        self._next_failure_log = 0.0

    @property
    def interval_s(self) -> float:
        return self._interval_s

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float | None = None) -> None:
        """Stop beating; wait up to ``timeout`` for the thread to end."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._beat_once()
            self._stop.wait(self._interval_s)

    def _beat_once(self) -> None:
        try:
            directive = self._client.beat(self._state())
        except grpc.RpcError as err:
            self._failed(f"{err.code().name}: {err.details()}")
            return
        except Exception as err:  # a bad state callback or directive: keep beating
            self._failed(f"{type(err).__name__}: {err}")
            return
        self.beats_ok += 1
        if self._failing_since is not None:
            log.info(
                "heartbeat reached the backend again after %d failed attempts",
                self.beats_failed - self._failing_since,
            )
            self._failing_since = None
        self._interval_s = directive.heartbeat_interval_s
        if directive != self.directive:
            self.directive = directive
            try:
                self._on_directive(directive)
            except Exception:
                log.exception("applying the backend's directive failed")

    def _failed(self, reason: str) -> None:
        self.beats_failed += 1
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = self.beats_failed - 1
            log.warning("heartbeat failed (will retry every %.1fs): %s", self._interval_s, reason)
            self._next_failure_log = now + self._log_every_s
        elif now >= self._next_failure_log:
            log.warning(
                "heartbeat still failing, %d attempts so far: %s",
                self.beats_failed - self._failing_since,
                reason,
            )
            self._next_failure_log = now + self._log_every_s
