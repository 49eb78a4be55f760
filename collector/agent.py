"""``parallax collector``: the edge agent, wired as a chain of small stages.

    app --OTLP--> Receiver --> Tagger (identity, inventory, sample) --> Intake (group, fsync)
                                                                          |
                                   backend <--OTLP/gRPC-- Shipper <-- SegmentLog (disk)

An app's export is acknowledged once it is durable in the buffer; the shipper delivers
buffered batches whenever the backend is reachable. SIGTERM/SIGINT: stop receiving,
buffer what was accepted, ship for up to ``shutdown_flush_s``, keep the rest on disk.
When a thread of it dies (``collector.metrics.liveness``), it stops and exits 1 for its
supervisor to restart it (parallax.supervision).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import grpc

from collector.admission import ExportAdmission
from collector.buffer import BufferSettings, SegmentLog
from collector.deadletter import DeadLetterFile
from collector.heartbeat import (
    Directive,
    HeartbeatClient,
    HeartbeatLoop,
    ModelState,
    NodeState,
)
from collector.http_receiver import http_receiver
from collector.intake import Intake
from collector.metrics import CollectorMetrics, liveness, readiness
from collector.otel_env import NO_OTEL, OtelEnvironment
from collector.receiver import Receiver
from collector.sampling import Sampler
from collector.shipper import BackendClient, Shipper, ShipperOptions
from collector.tagging import NodeIdentity, Tagger
from collector.uplink import UplinkFiles
from parallax import __version__
from parallax.aio import EventLoopThread
from parallax.config import CollectorSettings, Settings
from parallax.errors import ConfigError
from parallax.exposure import is_loopback, require_loopback_unless_secured
from parallax.observability import Observability
from parallax.otlp_grpc import TRACE_SERVICE
from parallax.otlp_http import OtlpHttpListener
from parallax.supervision import serve_until_stopped, stop_on_signals

log = logging.getLogger("parallax.collector")
RECEIVER_GRACE_S = 5.0
# The receiver's connections: an app's channel idle this long is closed (it reconnects
# when it next exports); any connection is closed after CONNECTION_MAX_AGE_S, its calls
# in progress getting CONNECTION_AGE_GRACE_S to finish. Calls past the limit below are
# refused by gRPC itself; the collector's own admission refuses far earlier.
CONNECTION_MAX_IDLE_S = 300
CONNECTION_MAX_AGE_S = 3600
CONNECTION_AGE_GRACE_S = 30
GRPC_CALLS_PER_EXPORT_SLOT = 8
STREAMS_PER_CONNECTION = 64
# How long an admitted export may wait for room under collector.intake_max_bytes before
# it is refused with RetryInfo.
ADMISSION_WAIT_S = 1.0
UNIX_SOCKET_MODE = 0o660


@dataclass
class RunningCollector:
    """A started collector; ``stop()`` shuts it down cleanly (idempotent)."""

    settings: CollectorSettings
    identity: NodeIdentity
    buffer: SegmentLog
    tagger: Tagger
    intake: Intake
    shipper: Shipper
    receiver: Receiver
    grpc_server: grpc.aio.Server
    loop: EventLoopThread
    address: str
    heartbeat: HeartbeatLoop | None = None
    observability: Observability | None = None
    http: OtlpHttpListener | None = None  # the receiver on collector.http_listen, when set
    http_address: str = ""
    stopped: bool = False
    _summaries: threading.Event = field(default_factory=threading.Event)

    def summary_line(self) -> str:
        """One line for the log: what came in, what was kept, what was delivered or lost."""
        tagging, shipped, stats = self.tagger.counters, self.shipper.counters, self.buffer.stats()
        refused = self.receiver.admission.counters
        dead_letters = self.shipper.dead_letters
        return (
            f"collector: {tagging.spans_in:,} spans in, {tagging.spans_sampled_out:,} sampled "
            f"out, {self.receiver.counters.invalid_requests} invalid requests, "
            f"{refused.exports_refused_busy + refused.exports_refused_bytes:,} exports refused "
            f"as busy, {self.receiver.counters.spans_too_large} spans too large; "
            f"{shipped.spans_delivered:,} delivered in "
            f"{shipped.batches_delivered:,} batches, {shipped.spans_rejected} rejected, "
            f"{shipped.retries} retries, {dead_letters.batches} dead-lettered "
            f"({dead_letters.dropped_spans:,} dead-lettered spans dropped); "
            f"buffer {stats.pending_batches} batches pending (oldest "
            f"{stats.oldest_pending_age_s:.0f}s), {stats.dropped_spans:,} spans dropped"
        )

    def _log_summaries(self) -> None:
        while not self._summaries.wait(self.settings.heartbeat_interval_s):
            log.info(self.summary_line())

    def models(self) -> tuple[ModelState, ...]:
        """The model variants this node has served, as traffic showed them."""
        return tuple(
            ModelState(name, version, quantization, loaded=True, warm=warm)
            for name, version, quantization, warm in self.tagger.inventory.models()
        )

    def node_state(self) -> NodeState:
        """What the next heartbeat reports: identity, models seen, buffer state."""
        return NodeState(
            node_id=self.identity.node_id,
            hardware_tier=self.identity.hardware_tier,
            region=self.identity.region,
            accelerator=self.identity.accelerator,
            collector_version=__version__,
            models=self.models(),
            buffer=self.buffer.stats(),
        )

    def apply(self, directive: Directive) -> None:
        """Follow the backend's directive: sampling ratio; warn about required upgrades."""
        if directive.sampling_ratio != self.tagger.sampler.ratio:
            log.info(
                "sampling ratio %.3f -> %.3f (backend directive)",
                self.tagger.sampler.ratio,
                directive.sampling_ratio,
            )
            self.tagger.sampler.ratio = directive.sampling_ratio
        for model in directive.upgrades_required(self.models()):
            log.warning(
                "model %s %s is below the fleet minimum %s: upgrade required",
                model.model_name,
                model.model_version,
                directive.min_versions[model.model_name],
            )

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self.observability is not None:
            self.observability.drain()  # NOT_SERVING while the buffer takes what was accepted
        self._summaries.set()
        if self.heartbeat is not None:
            self.heartbeat.stop(timeout=10)
        if self.http is not None:
            self.loop.run(self.http.stop(RECEIVER_GRACE_S))
        self.loop.run(self.grpc_server.stop(RECEIVER_GRACE_S))
        self.loop.close()
        self.intake.close()
        self.shipper.stop(self.settings.shutdown_flush_s)
        pending = self.buffer.stats().pending_batches
        log.info(self.summary_line())
        self.buffer.close()
        log.info("collector stopped; %d batch(es) stay buffered for the next start", pending)
        if self.observability is not None:
            self.observability.close()


def start_collector(
    settings: CollectorSettings, otel: OtelEnvironment = NO_OTEL
) -> RunningCollector:
    """Open the buffer, start shipping and receiving; raises on an unusable buffer or port.

    ``otel``: what the node's OTEL_* variables add beyond ``settings`` (collector.otel_env).
    """
    if not settings.backend:
        raise ConfigError("collector.backend is not set: the address of `parallax server`")
    if settings.intake_max_bytes < settings.receive_max_message_bytes:
        raise ConfigError(
            "collector.intake_max_bytes must be at least collector.receive_max_message_bytes "
            "(else the largest export could never be accepted)"
        )
    receiver_token = _receiver_token(settings)
    otel.check(settings.backend, settings.listen)
    uplink = uplink_files(settings, otel)
    identity = NodeIdentity(
        settings.node_id or socket.gethostname(),
        settings.hardware_tier,
        settings.accelerator,
        settings.region,
        otel.resource,
    )
    buffer = SegmentLog(buffer_settings(settings))
    observability = Observability("collector.metrics_listen", settings.metrics_listen)
    try:
        tagger = Tagger(identity, Sampler(settings.sampling_ratio, settings.keep_confidence_below))
        intake = Intake(
            buffer, settings.batch_max_spans, settings.batch_max_bytes, settings.batch_linger_ms
        )
        shipper = Shipper(
            buffer,
            BackendClient(settings.backend, settings.gzip, settings.retry_max_s, uplink),
            shipper_options(settings, identity.node_id),
            DeadLetterFile(
                Path(settings.buffer_dir) / "dead-letter.jsonl", settings.dead_letter_max_bytes
            ),
        )
        receiver = Receiver(
            tagger,
            intake,
            ExportAdmission(
                settings.max_concurrent_exports,
                settings.intake_max_bytes,
                settings.receive_max_message_bytes,
                ADMISSION_WAIT_S,
            ),
            settings.batch_max_bytes,
            receiver_token,
        )
        loop = EventLoopThread("collector-aio")
        grpc_server = loop.run(_create_server(settings, observability.interceptors()))
        grpc_server.add_generic_rpc_handlers((receiver.handler(),))
        observability.add_health_to(grpc_server, loop, (TRACE_SERVICE,))
        address = _bind(grpc_server, settings.listen, loop)
        http, http_address = None, ""
        if settings.http_listen:
            http = http_receiver(receiver, settings, receiver_token, observability.count_http)
            http_address = loop.run(http.start("collector.http_listen", settings.http_listen))
        observability.listen()
        intake.start()
        shipper.start()
        loop.run(grpc_server.start())
    except BaseException:
        observability.close()
        buffer.close()
        raise
    log.info(
        "collector %s listening on %s, shipping to %s, buffer %s",
        identity.node_id,
        address,
        settings.backend,
        settings.buffer_dir,
    )
    collector = RunningCollector(
        settings, identity, buffer, tagger, intake, shipper, receiver, grpc_server, loop, address
    )
    collector.observability = observability
    collector.http, collector.http_address = http, http_address
    observability.register(CollectorMetrics(collector))
    collector.heartbeat = HeartbeatLoop(
        HeartbeatClient(settings.backend, files=uplink),
        collector.node_state,
        collector.apply,
        interval_s=settings.heartbeat_interval_s,
    )
    collector.heartbeat.start()
    observability.start(partial(liveness, collector), partial(readiness, collector))
    threading.Thread(target=collector._log_summaries, name="collector-summary", daemon=True).start()
    return collector


def run_collector(
    settings: Settings,
    otel: OtelEnvironment = NO_OTEL,
    on_ready: Callable[[RunningCollector], None] | None = None,
) -> int:
    """Run until SIGTERM/SIGINT; return the exit code (1: a thread of it died)."""
    with stop_on_signals() as stop:
        collector = start_collector(settings.collector, otel)
        print(f"parallax collector listening on {collector.address}", flush=True)
        if on_ready:
            on_ready(collector)
        problems = partial(_problem, collector)
        if serve_until_stopped("the collector", problems, collector.stop, stop):
            return 1
        collector.stop()
        return 0


def _problem(collector: RunningCollector) -> str | None:
    return "; ".join(liveness(collector)) or None


def uplink_files(settings: CollectorSettings, otel: OtelEnvironment = NO_OTEL) -> UplinkFiles:
    files = UplinkFiles(
        settings.backend_ca_file,
        settings.tls_cert_file,
        settings.tls_key_file,
        settings.token_file,
        system_roots=otel.tls_with_system_roots(settings.backend, settings.backend_ca_file),
        headers=otel.uplink_headers(settings.token_file),
    )
    files.check()
    if not files.tls and not is_loopback(settings.backend):
        log.warning(
            "the uplink to %s is plaintext: set collector.backend_ca_file (docs/security.md)",
            settings.backend,
        )
    return files


def _receiver_token(settings: CollectorSettings) -> str:
    """The token apps must send (empty: none), after checking the listen address is safe."""
    token = ""
    if settings.receiver_token_file:
        token = Path(settings.receiver_token_file).read_text(encoding="utf-8").strip()
        if not token:
            raise ConfigError(f"{settings.receiver_token_file}: the receiver token is empty")
    require_loopback_unless_secured(
        "the collector's receiver",
        settings.listen,
        secured=bool(token),
        insecure=settings.insecure,
        needed="collector.receiver_token_file (or listen on unix:PATH)",
    )
    return token


def _bind(grpc_server: grpc.aio.Server, listen: str, loop: EventLoopThread) -> str:
    """Listen on HOST:PORT or unix:PATH (a socket only the collector's user and group may
    use); the address actually bound."""
    port = grpc_server.add_insecure_port(listen)
    if port == 0:
        loop.close()
        raise ConfigError(f"collector.listen: cannot listen on {listen}")
    if listen.startswith("unix:"):
        os.chmod(listen.removeprefix("unix:").removeprefix("//"), UNIX_SOCKET_MODE)
        return listen
    return f"{listen.rpartition(':')[0]}:{port}"


def buffer_settings(settings: CollectorSettings) -> BufferSettings:
    return BufferSettings(
        directory=Path(settings.buffer_dir),
        max_segment_bytes=settings.buffer_segment_bytes,
        max_total_bytes=settings.buffer_max_bytes,
        fsync_policy=settings.fsync,
        fsync_interval_ms=settings.fsync_interval_ms,
        zstd_level=settings.zstd_level,
        dictionary=settings.zstd_dictionary,
    )


def shipper_options(settings: CollectorSettings, node_id: str) -> ShipperOptions:
    return ShipperOptions(
        node_id=node_id,
        max_in_flight=settings.max_in_flight,
        gzip=settings.gzip,
        request_timeout_s=settings.request_timeout_s,
        retry_initial_s=settings.retry_initial_s,
        retry_max_s=settings.retry_max_s,
        bandwidth_bytes_per_s=settings.bandwidth_bytes_per_s,
    )


async def _create_server(
    settings: CollectorSettings, interceptors: list[grpc.aio.ServerInterceptor]
) -> grpc.aio.Server:
    return grpc.aio.server(
        interceptors=interceptors,
        options=receiver_server_options(settings),
        maximum_concurrent_rpcs=settings.max_concurrent_exports * GRPC_CALLS_PER_EXPORT_SLOT,
    )


def receiver_server_options(settings: CollectorSettings) -> list[tuple[str, int]]:
    """gRPC options of the receiver's server (the numbers are in docs/collector.md).

    Without BDP probing a call's HTTP/2 window stays at 64 KiB until the receiver reads
    its message, so calls waiting for admission or refused hold no more than that.
    """
    return [
        ("grpc.so_reuseport", 0),
        ("grpc.max_receive_message_length", settings.receive_max_message_bytes),
        ("grpc.max_concurrent_streams", STREAMS_PER_CONNECTION),
        ("grpc.http2.bdp_probe", 0),
        ("grpc.max_connection_idle_ms", CONNECTION_MAX_IDLE_S * 1000),
        ("grpc.max_connection_age_ms", CONNECTION_MAX_AGE_S * 1000),
        ("grpc.max_connection_age_grace_ms", CONNECTION_AGE_GRACE_S * 1000),
    ]
