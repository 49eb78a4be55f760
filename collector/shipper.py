"""The shipper: buffered batches to the backend, asynchronously, until each is delivered.

``max_in_flight`` workers take batches from the buffer in order and send each as one
OTLP/gRPC request (gzip) carrying the batch identity — ``parallax-node-id``,
``parallax-buffer-id`` and ``parallax-batch-seq`` (docs/wire-contract.md) — so that the
backend stores a retried batch once. A batch is acknowledged in the buffer only after
the backend answered OK, which it does only after committing it; acknowledgements
delivered at about the same time share one durable ledger write.

Failures (collector.retry): retryable ones are retried with exponential backoff and
full jitter, honouring RetryInfo, without a give-up deadline; permanent ones go to the
dead-letter file with the reason and are acknowledged (retrying cannot help);
``partial_success`` rejections are counted and logged, not retried.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector.bandwidth import BandwidthLimit
from collector.buffer import SegmentLog, UnknownSequenceError
from collector.buffer.stats import BufferedBatch
from collector.deadletter import DeadLetterFile
from collector.retry import Backoff, classify
from collector.uplink import Uplink, UplinkFiles
from parallax.conventions import BATCH_SEQUENCE_HEADER, BUFFER_ID_HEADER, NODE_ID_HEADER
from parallax.otlp_grpc import EXPORT_METHOD
from parallax.ratelimit import RateLimitedLog

log = logging.getLogger("parallax.collector")
IDLE_POLL_S = 0.5


@dataclass
class ShipperCounters:
    batches_delivered: int = 0
    spans_delivered: int = 0
    spans_rejected: int = 0  # refused by the backend through partial_success
    retries: int = 0
    bytes_sent: int = 0


@dataclass(frozen=True)
class ShipperOptions:
    node_id: str
    max_in_flight: int = 16
    gzip: bool = True
    request_timeout_s: float = 30.0
    retry_initial_s: float = 0.5
    retry_max_s: float = 30.0
    bandwidth_bytes_per_s: int = 0


class BackendClient:
    """One gRPC channel to the backend (collector.uplink: TLS, certificate, token);
    sends a batch's bytes as an Export call."""

    def __init__(
        self,
        address: str,
        gzip: bool,
        max_reconnect_s: float = 30.0,
        files: UplinkFiles | None = None,
    ) -> None:
        compression = grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression
        # gRPC's own reconnect backoff grows to 120 s by default: after a long outage the
        # channel would stay down that long after the backend is back. Cap it like ours.
        options = [
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", int(max_reconnect_s * 1000)),
        ]
        self._uplink = Uplink(
            address, files or UplinkFiles(), options, compression, on_channel=self._bind
        )

    def _bind(self, channel: grpc.Channel) -> None:
        self._export = channel.unary_unary(
            EXPORT_METHOD,
            request_serializer=None,
            response_deserializer=ExportTraceServiceResponse.FromString,
        )

    @property
    def channel(self) -> grpc.Channel:
        return self._uplink.channel

    def export(
        self, payload: bytes, metadata: list[tuple[str, str]], timeout: float
    ) -> ExportTraceServiceResponse:
        auth = self._uplink.metadata()
        return self._export(payload, metadata=[*auth, *metadata], timeout=timeout)

    def close(self) -> None:
        self._uplink.close()


class Shipper:
    """Workers that deliver every buffered batch; ``stop()`` keeps the undelivered on disk."""

    def __init__(
        self,
        buffer: SegmentLog,
        client: BackendClient,
        options: ShipperOptions,
        dead_letters: DeadLetterFile,
    ) -> None:
        self._buffer = buffer
        self._client = client
        self._options = options
        self.dead_letters = dead_letters
        self.counters = ShipperCounters()
        self._counters_lock = threading.Lock()
        self._stop = threading.Event()
        self._draining = threading.Event()
        self._dispatch_lock = threading.Lock()
        self._cursor = 0
        self._answers = threading.Condition()
        self._answered = 0  # successful requests so far: wakes workers waiting to retry
        self._ack_lock = threading.Lock()
        self._unacknowledged: list[int] = []
        self._acknowledging = False
        self._bandwidth = BandwidthLimit(options.bandwidth_bytes_per_s, self._stop)
        self._errors = RateLimitedLog(log)
        self._metadata = [
            (NODE_ID_HEADER, options.node_id),
            (BUFFER_ID_HEADER, buffer.buffer_id),
        ]
        self._workers = [
            threading.Thread(target=self._work, name=f"shipper-{i}", daemon=True)
            for i in range(options.max_in_flight)
        ]

    def start(self) -> None:
        for worker in self._workers:
            worker.start()

    @property
    def workers_alive(self) -> int:
        return sum(worker.is_alive() for worker in self._workers)

    def stop(self, flush_s: float) -> None:
        """Keep shipping for up to ``flush_s`` while batches remain, then stop; the rest
        stays in the buffer for the next start."""
        self._draining.set()
        deadline = time.monotonic() + flush_s
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self._stop.set()
        with self._answers:
            self._answers.notify_all()
        self._client.close()  # cancels calls in flight: their batches stay unacknowledged
        for worker in self._workers:
            worker.join()

    # -- workers ----------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            batch = self._next_batch()
            if batch is None:
                if self._draining.is_set():
                    return  # caught up during shutdown
                continue
            self._deliver(batch)

    def _next_batch(self) -> BufferedBatch | None:
        with self._dispatch_lock:
            for batch in self._buffer.pending(after=self._cursor):
                self._cursor = batch.seq
                return batch
            cursor = self._cursor
        self._buffer.wait_for_pending(after=cursor, timeout=IDLE_POLL_S)
        return None

    def _deliver(self, batch: BufferedBatch) -> None:
        backoff = Backoff(self._options.retry_initial_s, self._options.retry_max_s)
        metadata = [*self._metadata, (BATCH_SEQUENCE_HEADER, str(batch.seq))]
        while not self._stop.is_set():
            if not self._buffer.is_pending(batch.seq):
                return  # dropped by the size bound while waiting: counted there, not sent
            if not self._bandwidth.take(len(batch.payload)):
                return
            try:
                response = self._client.export(
                    batch.payload, metadata, self._options.request_timeout_s
                )
            except grpc.RpcError as error:
                if self._stop.is_set():
                    return  # shutting down: the batch stays on disk
                failure = classify(error)
                if not failure.retryable:
                    self._dead_letter(batch, failure.code.name, failure.message)
                    return
                self._count(retries=1)
                self._errors.log(
                    logging.WARNING,
                    "retry",
                    "backend %s (%s); retrying batch %d",
                    failure.code.name,
                    failure.message,
                    batch.seq,
                )
                delay = backoff.next_delay(failure.retry_after_s)
                if failure.retry_after_s is not None:  # the server asked for this pause
                    if self._stop.wait(delay):
                        return
                elif self._wait_unless_backend_answers(delay):
                    backoff.reset()  # another worker got through: the backend is back
                if self._stop.is_set():
                    return
                continue
            self._delivered(batch, response)
            return

    def _wait_unless_backend_answers(self, delay: float) -> bool:
        """Wait ``delay`` seconds, or less if another worker's request succeeds meanwhile
        (after an outage every worker retries at once instead of at its own backoff).
        True when woken by such a success."""
        with self._answers:
            seen = self._answered
            self._answers.wait_for(
                lambda: self._stop.is_set() or self._answered != seen, timeout=delay
            )
            return self._answered != seen

    def _delivered(self, batch: BufferedBatch, response: ExportTraceServiceResponse) -> None:
        with self._answers:
            self._answered += 1
            self._answers.notify_all()
        rejected = response.partial_success.rejected_spans
        if rejected:
            self._errors.log(
                logging.WARNING,
                "partial",
                "backend rejected %d span(s) of batch %d: %s",
                rejected,
                batch.seq,
                response.partial_success.error_message,
            )
        self._count(
            batches_delivered=1,
            spans_delivered=batch.span_count - rejected,
            spans_rejected=rejected,
            bytes_sent=len(batch.payload),
        )
        self._ack(batch.seq)

    def _dead_letter(self, batch: BufferedBatch, code: str, message: str) -> None:
        log.error(
            "backend refused batch %d for good (%s: %s); dead-lettered", batch.seq, code, message
        )
        self.dead_letters.add(
            self._options.node_id, batch.seq, batch.span_count, code, message, batch.payload
        )
        self._ack(batch.seq)

    def _ack(self, seq: int) -> None:
        """Acknowledge in groups: one durable ledger write (two fsyncs) for all the batches
        delivered meanwhile. The worker that finds no write under way does the writing."""
        with self._ack_lock:
            self._unacknowledged.append(seq)
            if self._acknowledging:
                return
            self._acknowledging = True
        while True:
            with self._ack_lock:
                seqs, self._unacknowledged = self._unacknowledged, []
                if not seqs:
                    self._acknowledging = False
                    return
            with contextlib.suppress(UnknownSequenceError):
                self._buffer.ack_many(seqs)

    def _count(self, **increments: int) -> None:
        with self._counters_lock:
            for name, value in increments.items():
                setattr(self.counters, name, getattr(self.counters, name) + value)
