"""``parallax collector``: the edge agent, wired as a chain of small stages.

    app --OTLP--> Receiver --> Tagger (identity, normalise, sample) --> Intake (group, fsync)
                                                                          |
                                   backend <--OTLP/gRPC-- Shipper <-- SegmentLog (disk)

An app's export is acknowledged once it is durable in the buffer; the shipper delivers
buffered batches whenever the backend is reachable. SIGTERM/SIGINT: stop receiving,
buffer what was accepted, ship for up to ``shutdown_flush_s``, keep the rest on disk.
"""

from __future__ import annotations

import logging
import shutil
import signal
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from collector.buffer import BufferSettings, SegmentLog
from collector.deadletter import DeadLetterFile
from collector.heartbeat import (
    BufferStats,
    Directive,
    HeartbeatClient,
    HeartbeatLoop,
    ModelState,
    NodeState,
)
from collector.intake import Intake
from collector.receiver import Receiver
from collector.sampling import Sampler
from collector.shipper import BackendClient, Shipper, ShipperOptions
from collector.tagging import NodeIdentity, Tagger
from parallax import __version__
from parallax.aio import EventLoopThread
from parallax.config import CollectorSettings, Settings
from parallax.errors import ConfigError

log = logging.getLogger("parallax.collector")
RECEIVER_GRACE_S = 5.0


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
    stopped: bool = False
    _summaries: threading.Event = field(default_factory=threading.Event)

    def summary_line(self) -> str:
        """One line for the log: what came in, what was kept, what was delivered or lost."""
        tagging, shipped, stats = self.tagger.counters, self.shipper.counters, self.buffer.stats()
        return (
            f"collector: {tagging.spans_in:,} spans in, {tagging.spans_sampled_out:,} sampled "
            f"out, {self.receiver.invalid_requests} invalid requests, "
            f"{tagging.unknown_quantization} unknown quantizations, {tagging.unknown_tier} "
            f"unknown tiers; {shipped.spans_delivered:,} delivered in "
            f"{shipped.batches_delivered:,} batches, {shipped.spans_rejected} rejected, "
            f"{shipped.retries} retries, {self.shipper.dead_letters.batches} dead-lettered; "
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
            for name, version, quantization, warm in self.tagger.models()
        )

    def node_state(self) -> NodeState:
        """What the next heartbeat reports: identity, models seen, buffer state."""
        stats = self.buffer.stats()
        return NodeState(
            node_id=self.identity.node_id,
            hardware_tier=self.identity.hardware_tier,
            region=self.identity.region,
            accelerator=self.identity.accelerator,
            collector_version=__version__,
            models=self.models(),
            buffer=BufferStats(
                pending_bytes=stats.pending_bytes,
                pending_batches=stats.pending_batches,
                oldest_pending_age_s=stats.oldest_pending_age_s,
                dropped_spans=stats.dropped_spans,
                disk_free_bytes=shutil.disk_usage(self.buffer.directory).free,
            ),
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
        self._summaries.set()
        if self.heartbeat is not None:
            self.heartbeat.stop(timeout=10)
        self.loop.run(self.grpc_server.stop(RECEIVER_GRACE_S))
        self.loop.close()
        self.intake.close()
        self.shipper.stop(self.settings.shutdown_flush_s)
        pending = self.buffer.stats().pending_batches
        log.info(self.summary_line())
        self.buffer.close()
        log.info("collector stopped; %d batch(es) stay buffered for the next start", pending)


def start_collector(settings: CollectorSettings) -> RunningCollector:
    """Open the buffer, start shipping and receiving; raises on an unusable buffer or port."""
    if not settings.backend:
        raise ConfigError("collector.backend is not set: the address of `parallax server`")
    identity = NodeIdentity(
        settings.node_id or socket.gethostname(),
        settings.hardware_tier,
        settings.accelerator,
        settings.region,
    )
    buffer = SegmentLog(buffer_settings(settings))
    try:
        tagger = Tagger(identity, Sampler(settings.sampling_ratio, settings.keep_confidence_below))
        intake = Intake(
            buffer, settings.batch_max_spans, settings.batch_max_bytes, settings.batch_linger_ms
        )
        shipper = Shipper(
            buffer,
            BackendClient(settings.backend, settings.gzip, settings.retry_max_s),
            shipper_options(settings, identity.node_id),
            DeadLetterFile(Path(settings.buffer_dir) / "dead-letter.jsonl"),
        )
        receiver = Receiver(tagger, intake)
        loop = EventLoopThread("collector-aio")
        grpc_server = loop.run(_create_server())
        grpc_server.add_generic_rpc_handlers((receiver.handler(),))
        port = grpc_server.add_insecure_port(settings.listen)
        if port == 0:
            loop.close()
            raise ConfigError(f"collector.listen: cannot listen on {settings.listen}")
        intake.start()
        shipper.start()
        loop.run(grpc_server.start())
    except BaseException:
        buffer.close()
        raise
    address = f"{settings.listen.rpartition(':')[0]}:{port}"
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
    collector.heartbeat = HeartbeatLoop(
        HeartbeatClient(settings.backend),
        collector.node_state,
        collector.apply,
        interval_s=settings.heartbeat_interval_s,
    )
    collector.heartbeat.start()
    threading.Thread(target=collector._log_summaries, name="collector-summary", daemon=True).start()
    return collector


def run_collector(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; return the exit code."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    collector = start_collector(settings.collector)
    print(f"parallax collector listening on {collector.address}", flush=True)
    stop.wait()
    collector.stop()
    return 0


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


async def _create_server() -> grpc.aio.Server:
    return grpc.aio.server(options=[("grpc.so_reuseport", 0)])
