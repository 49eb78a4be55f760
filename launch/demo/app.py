"""One simulated node's inference app: ``python -m launch.demo.app --plan ... --node ...``.

It scores its share of the shared input streams (``launch.demo.stream``) with real
models (``launch.demo.fraud``, ``launch.demo.recs``) in its node's precision, and
emits one span per inference with ``parallax_sdk.inference`` through the stock
OpenTelemetry SDK to *its own* collector (OTLP/gRPC). It follows the plan: switches
the fraud model's version when the rollout reaches the node (the new version is loaded
ahead, so the switch is warm), and on the cold-start node loads the recommender on its
first request (``parallax.cold_start`` = true, with the load in the span's latency).

The accelerator is simulated: each inference holds the span open for a time drawn
around the node's median latency (``NodePlan.latency_ms``), and a cold start adds a
warm-up of ``WARM_UP_S``. The models and their answers are real.

Protocol with the orchestrator: after loading models the app prints ``ready`` and reads
one line from stdin, the start time (Unix seconds); end of stdin, SIGTERM or SIGINT
stop it. On stopping it flushes its spans to the collector and writes the counts of
spans it produced (per feature and variant) to ``--counts``, a JSON file that is also
rewritten every ``COUNTS_EVERY_S`` while it runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Tracer

from launch.demo import fraud, recs
from launch.demo.plan import NodePlan, Plan
from launch.demo.stream import Session, SessionStream, TransactionStream
from launch.demo.transactions import Transactions
from parallax import conventions as conv
from parallax.logs import FORMATS, configure_logging
from parallax_sdk import inference

log = logging.getLogger("parallax.demo.app")
FRAUD_FEATURE, RECS_FEATURE = "fraud-scoring", "product-recs"
SERVICE = "checkout"
WARM_UP_S = 1.2
COUNTS_EVERY_S = 2.0
LATENCY_SPREAD = 0.45  # sigma of the log-normal accelerator time
RECS_LATENCY_FACTOR = 1.4


def fraud_model_path(models: Path, version: str) -> Path:
    return models / f"{fraud.MODEL_NAME}-{version}.npz"


def recs_model_path(models: Path) -> Path:
    return models / f"{recs.MODEL_NAME}-{recs.VERSION}.npz"


class Counts:
    """Spans produced per (feature, model, version, quantization), and cold starts."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._spans: Counter[tuple[str, str, str, str]] = Counter()
        self.cold_starts = 0

    def add(self, feature: str, model: str, version: str, quantization: str) -> None:
        self._spans[feature, model, version, quantization] += 1

    def write(self) -> None:
        rows = [
            {"feature": f, "model": m, "version": v, "quantization": q, "spans": n}
            for (f, m, v, q), n in sorted(self._spans.items())
        ]
        document = {
            "spans": rows,
            "total": sum(self._spans.values()),
            "cold_starts": self.cold_starts,
        }
        temporary = self._path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, self._path)


class _Cursor:
    """Walks one stream's inputs for this node in order, block after block."""

    def __init__(self, blocks: Callable[[int], Iterable[tuple[Any, ...]]], rate: float) -> None:
        self._blocks = blocks
        self._rate = rate
        self._number = 0
        self._items: Iterator[tuple[Any, ...]] = iter(())
        self._next: tuple[Any, ...] = ()
        self._advance()

    def _advance(self) -> None:
        while True:
            self._next = next(self._items, ())
            if self._next:
                return
            self._items = iter(list(self._blocks(self._number)))
            self._number += 1

    @property
    def next_due_s(self) -> float:
        return self._next[0] / self._rate

    def due(self, elapsed_s: float) -> Iterator[tuple[float, tuple[Any, ...]]]:
        """(due time, item) for every input due by ``elapsed_s``."""
        while self.next_due_s <= elapsed_s:
            item = self._next
            self._advance()
            yield item[0] / self._rate, item


class NodeApp:
    """The app of one node: scores its inputs on schedule and records a span for each."""

    def __init__(
        self, plan: Plan, node: NodePlan, models: Path, tracer: Tracer, counts: Counts
    ) -> None:
        self._node = node
        self._models = models
        self._tracer = tracer
        self._counts = counts
        self._rng = np.random.default_rng(
            [plan.seed, 41, [n.node_id for n in plan.nodes].index(node.node_id)]
        )
        versions = {switch.version for switch in node.fraud_versions}
        self._fraud = {
            v: fraud.FraudScorer(
                fraud.FraudModel.load(fraud_model_path(models, v)), node.quantization
            )
            for v in sorted(versions)
        }
        self._recs: recs.RecsScorer | None = None
        if not node.recs_cold_start:
            self._recs = recs.RecsScorer(
                recs.RecsModel.load(recs_model_path(models)), node.quantization
            )
        self._transactions = _Cursor(TransactionStream(plan, node.node_id).block, plan.fraud_rate)
        self._sessions = _Cursor(SessionStream(plan, node.node_id).block, plan.recs_rate)

    def run(self, start_epoch: float, stop: threading.Event) -> None:
        """Score inputs as they fall due until ``stop`` is set."""
        last_write = 0.0
        while not stop.is_set():
            elapsed = time.time() - start_epoch
            for due_s, (_, batch, position) in self._transactions.due(elapsed):
                self._score_transaction(due_s, batch, position, stop)
            for due_s, (_, session) in self._sessions.due(elapsed):
                if due_s >= self._node.recs_from_s:
                    self._score_session(session, stop)
            if time.monotonic() - last_write >= COUNTS_EVERY_S:
                self._counts.write()
                last_write = time.monotonic()
            next_due = min(self._transactions.next_due_s, self._sessions.next_due_s)
            stop.wait(max(0.0, min(next_due - (time.time() - start_epoch), 0.25)))

    def _score_transaction(
        self, due_s: float, batch: Transactions, position: int, stop: threading.Event
    ) -> None:
        version = self._node.fraud_version(due_s)
        scorer = self._fraud[version]
        transaction = batch.take(np.array([position]))
        with inference(
            self._tracer,
            feature=FRAUD_FEATURE,
            model=fraud.MODEL_NAME,
            version=version,
            quantization=self._node.quantization,
            inputs=batch.record(position),
            cold_start=False,
        ) as record:
            probability = float(scorer.probabilities(transaction)[0])
            stop.wait(self._accelerator_s(1.0))
            record.output(
                label=fraud.decision(probability),
                score=probability,
                confidence=abs(probability - 0.5) * 2,
            )
        self._counts.add(FRAUD_FEATURE, fraud.MODEL_NAME, version, self._node.quantization)

    def _score_session(self, session: Session, stop: threading.Event) -> None:
        cold = self._recs is None
        with inference(
            self._tracer,
            feature=RECS_FEATURE,
            model=recs.MODEL_NAME,
            version=recs.VERSION,
            quantization=self._node.quantization,
            inputs=session.record(),
            cold_start=cold,
        ) as record:
            if self._recs is None:
                log.info("loading %s on first request (cold start)", recs.MODEL_NAME)
                model = recs.RecsModel.load(recs_model_path(self._models))
                self._recs = recs.RecsScorer(model, self._node.quantization)
                stop.wait(WARM_UP_S)
                self._counts.cold_starts += 1
            products, score = self._recs.recommend(session.user, list(session.viewed))
            stop.wait(self._accelerator_s(RECS_LATENCY_FACTOR))
            names = [recs.product_id(p) for p in products]
            record.output(label=names[0], score=score, topk=names)
        self._counts.add(RECS_FEATURE, recs.MODEL_NAME, recs.VERSION, self._node.quantization)

    def _accelerator_s(self, factor: float) -> float:
        median_s = self._node.latency_ms * factor / 1000.0
        return float(self._rng.lognormal(math.log(median_s), LATENCY_SPREAD))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m launch.demo.app", description=__doc__)
    parser.add_argument("--plan", required=True, type=Path)
    parser.add_argument("--node", required=True)
    parser.add_argument("--models", required=True, type=Path)
    parser.add_argument("--collector", required=True, help="HOST:PORT of the node's collector")
    parser.add_argument("--counts", required=True, type=Path)
    parser.add_argument("--log-format", choices=FORMATS, default="text", help="log.format")
    args = parser.parse_args(argv)
    configure_logging(args.log_format, "info")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    plan = Plan.load(args.plan)
    node = plan.node(args.node)
    provider = _tracer_provider(args.collector)
    counts = Counts(args.counts)
    app = NodeApp(plan, node, args.models, provider.get_tracer("launch.demo.app"), counts)
    counts.write()
    print("ready", flush=True)
    line = sys.stdin.readline()
    if line.strip():
        threading.Thread(target=_stop_at_end_of_input, args=(stop,), daemon=True).start()
        log.info("started: %s %s, fraud %s", node.tier, node.quantization, _versions(node))
        app.run(float(line), stop)
    provider.force_flush()
    provider.shutdown()
    counts.write()
    log.info("stopped; produced %s", json.dumps(json.loads(args.counts.read_text())["total"]))
    return 0


def _tracer_provider(collector: str) -> TracerProvider:
    resource = Resource.create({conv.SERVICE_NAME: SERVICE, conv.DEPLOYMENT_ENVIRONMENT: "demo"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=collector, insecure=True),
            max_queue_size=65_536,
            schedule_delay_millis=500,
            max_export_batch_size=512,
        )
    )
    return provider


def _stop_at_end_of_input(stop: threading.Event) -> None:
    sys.stdin.read()  # returns at end of input: the orchestrator is gone
    stop.set()


def _versions(node: NodePlan) -> str:
    return ", ".join(f"{s.version} from {s.at_s:g}s" for s in node.fraud_versions)


if __name__ == "__main__":
    sys.exit(main())
