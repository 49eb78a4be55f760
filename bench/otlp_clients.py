"""Load generator clients: pre-built OTLP requests sent with batch ids, retries counted."""

from __future__ import annotations

import contextlib
import dataclasses
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from bench.workload import inference_request
from parallax import conventions
from parallax.conventions import BATCH_SEQUENCE_HEADER, NODE_ID_HEADER

MIB = 1024 * 1024
METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


@dataclass(frozen=True)
class ClientSpec:
    """What one client worker does (picklable: it crosses to worker processes)."""

    index: int
    address: str
    spans_per_request: int
    pool_size: int
    inflight: int
    compression: str
    duration_s: float
    drain_s: float
    call_timeout_s: float
    node_prefix: str


@dataclass
class Tally:
    """One lane's counts; merged per client, then per run."""

    ok_requests: int = 0
    acked_spans: int = 0
    rejected_spans: int = 0
    retries_exhausted: int = 0
    retries_other: int = 0
    abandoned: int = 0
    errors: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # successful attempt
    batch_latencies: list[float] = field(default_factory=list)  # first attempt -> OK
    per_second: Counter = field(default_factory=Counter)  # second since start -> spans

    def merge(self, other: Tally) -> None:
        for name in (
            "ok_requests",
            "acked_spans",
            "rejected_spans",
            "retries_exhausted",
            "retries_other",
            "abandoned",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.update(other.errors)
        self.latencies.extend(other.latencies)
        self.batch_latencies.extend(other.batch_latencies)
        self.per_second.update(other.per_second)

    def to_dict(self) -> dict[str, Any]:
        """Plain containers only (dataclasses.asdict would mangle the Counters)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["errors"] = dict(self.errors)
        data["per_second"] = dict(self.per_second)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tally:
        tally = cls(**data)
        tally.errors = Counter(data["errors"])
        tally.per_second = Counter(data["per_second"])
        return tally


class Box:
    """Stands in for multiprocessing.Value in thread mode."""

    def __init__(self, value: float) -> None:
        self.value = value


def build_pool(client: int, size: int, spans_per_request: int) -> list[bytes]:
    """Distinct serialized requests (own trace and span ids) for one client."""
    return [
        inference_request(
            node=client * size + i,
            spans_per_request=spans_per_request,
            rng=random.Random(f"parallax-bench-{client}-{i}"),
        ).SerializeToString()
        for i in range(size)
    ]


def retry_delay(err: grpc.RpcError) -> float:
    """The RetryInfo delay of a RESOURCE_EXHAUSTED answer (1 s when it carries none)."""
    with contextlib.suppress(Exception):
        status = rpc_status.from_call(err)
        for detail in status.details if status else ():
            if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                info = error_details_pb2.RetryInfo()
                detail.Unpack(info)
                return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return 1.0


def run_client(spec: ClientSpec, ready: Any, go: Any, start_at: Any, abort: Any, out: Any) -> None:
    """A client worker: build the pool, say ready, send from its lanes until the deadline."""
    try:
        began = time.perf_counter()
        pool = build_pool(spec.index, spec.pool_size, spec.spans_per_request)
        build_s = time.perf_counter() - began
        compression = (
            grpc.Compression.Gzip if spec.compression == "gzip" else grpc.Compression.NoCompression
        )
        options = [
            ("grpc.max_send_message_length", 64 * MIB),
            ("grpc.max_receive_message_length", 64 * MIB),
        ]
        with grpc.insecure_channel(spec.address, options, compression) as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            export = channel.unary_unary(
                METHOD, request_serializer=None, response_deserializer=None
            )
            ready.put(spec.index)
            while not go.wait(0.2):
                if abort.is_set():
                    return
            t0 = start_at.value
            cpu0 = time.process_time()
            tallies = [Tally() for _ in range(spec.inflight)]
            lanes = [
                threading.Thread(
                    target=_lane,
                    args=(spec, export, pool, t0, abort, tallies[lane], lane),
                    name=f"client{spec.index}-lane{lane}",
                    daemon=True,
                )
                for lane in range(spec.inflight)
            ]
            for lane in lanes:
                lane.start()
            for lane in lanes:
                lane.join()
            cpu_s = time.process_time() - cpu0
        total = Tally()
        for tally in tallies:
            total.merge(tally)
        out.put(
            {
                "client": spec.index,
                "tally": total.to_dict(),
                "cpu_s": cpu_s,
                "pool_build_s": build_s,
                "request_bytes": sum(map(len, pool)) / len(pool),
            }
        )
    except BaseException as err:  # report to the parent rather than dying silently
        out.put({"client": spec.index, "failed": repr(err)})


def _lane(
    spec: ClientSpec,
    export: grpc.UnaryUnaryMultiCallable,
    pool: list[bytes],
    t0: float,
    abort: Any,
    tally: Tally,
    lane: int,
) -> None:
    """One collector identity sending one batch at a time until the deadline."""
    node = f"{spec.node_prefix}-c{spec.index}-l{lane}"
    identity: tuple[tuple[str, str], ...] = ((NODE_ID_HEADER, node),)
    buffer_header = getattr(conventions, "BUFFER_ID_HEADER", None)
    if buffer_header:  # sent by our collector where the wire contract has it
        identity += ((buffer_header, random.Random(node).randbytes(8).hex()),)
    deadline = t0 + spec.duration_s
    hard_deadline = deadline + spec.drain_s
    position, seq = lane, 0
    while not abort.is_set() and time.time() < deadline:
        payload = pool[position % len(pool)]
        position += 1
        seq += 1
        metadata = (*identity, (BATCH_SEQUENCE_HEADER, str(seq)))
        first_attempt = time.perf_counter()
        while True:
            now = time.time()
            if abort.is_set() or now >= hard_deadline:
                tally.abandoned += 1
                break
            attempt = time.perf_counter()
            try:
                reply = export(
                    payload,
                    timeout=max(1.0, min(spec.call_timeout_s, hard_deadline - now)),
                    metadata=metadata,
                )
            except grpc.RpcError as err:
                code = err.code()
                if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    tally.retries_exhausted += 1
                    abort.wait(retry_delay(err) * random.uniform(0.8, 1.2))
                    continue
                tally.errors[code.name] += 1
                if code in RETRYABLE:  # same batch id: a committed batch is not written twice
                    tally.retries_other += 1
                    abort.wait(0.5)
                    continue
                break  # not retryable: the batch is dropped
            done = time.perf_counter()
            rejected = (
                ExportTraceServiceResponse.FromString(reply).partial_success.rejected_spans
                if reply
                else 0
            )
            acked = spec.spans_per_request - rejected
            tally.ok_requests += 1
            tally.acked_spans += acked
            tally.rejected_spans += rejected
            tally.latencies.append(done - attempt)
            tally.batch_latencies.append(done - first_attempt)
            tally.per_second[int(time.time() - t0)] += acked
            break
