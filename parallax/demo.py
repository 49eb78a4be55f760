"""``parallax demo``: the ingest path end to end on the embedded default lake.

Starts ``parallax server`` as its own process, has three simulated edge nodes score a
shared stream of transactions with a small logistic model in fp32 and int8 (weights
really quantized, so some answers really differ), exports one span per inference with
the stock OpenTelemetry SDK, then shows what analysts see with ``parallax sql``.
The full fleet demo (collectors, reconciler, dashboard) arrives with issue #6.
"""

from __future__ import annotations

import json
import math
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from parallax import conventions as conv

EXAMPLE_QUERIES = {
    "Inferences per variant": (
        "SELECT node_id, hardware_tier, model_version, quantization, count(*) AS inferences, "
        "round(quantile_cont(duration_ms, 0.95), 2) AS p95_ms "
        "FROM inferences GROUP BY ALL ORDER BY node_id"
    ),
    "Inputs that quantized models label differently from fp32": (
        "SELECT count(*) AS shared_inputs, "
        "count(*) FILTER (WHERE labels > 1) AS disagreeing_inputs "
        "FROM (SELECT input_fingerprint, count(DISTINCT output_label) AS labels "
        "      FROM inferences GROUP BY 1 HAVING count(DISTINCT quantization) > 1)"
    ),
    "Ingest self-telemetry": (
        "SELECT sum(spans_accepted) AS spans, sum(commits) AS commits, "
        "sum(spans_rejected) AS rejected FROM ingest_stats"
    ),
}


@dataclass(frozen=True)
class Node:
    node_id: str
    tier: str
    quantization: str


NODES = (
    Node("edge-device-01", "device", "int4"),
    Node("edge-near-01", "near-edge", "int8"),
    Node("cloud-01", "cloud", "fp32"),
)
WEIGHTS = (1.7, -0.9, 2.3, 0.4, -1.2, 0.8)
BIAS = -0.6


def score(features: list[float], quantization: str) -> float:
    """Logistic score; int8/int4 quantize weights and inputs symmetrically to 8/4 bits."""
    weights, inputs = list(WEIGHTS), list(features)
    levels = {"int8": 127, "int4": 7}.get(quantization)
    if levels:
        weights, inputs = _quantize(weights, levels), _quantize(inputs, levels)
    z = BIAS + sum(w * x for w, x in zip(weights, inputs, strict=True))
    return 1 / (1 + math.exp(-z))


def _quantize(values: list[float], levels: int) -> list[float]:
    step = max(abs(v) for v in values) / levels or 1.0
    return [round(v / step) * step for v in values]


def main(lake: str, transactions: int, seed: int) -> int:
    server = subprocess.Popen(
        [sys.executable, "-m", "parallax.cli", "server", "--lake", lake, "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        match = re.search(r"listening on (\S+)", server.stdout.readline())
        if not match:
            print("parallax demo: the server did not start (see its log above)", file=sys.stderr)
            return 1
        print(f"server listening on {match[1]}, lake {lake}")
        sent = _run_fleet(match[1], transactions, random.Random(seed))
        print(f"{sent} inferences exported by {len(NODES)} nodes")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    for title, query in EXAMPLE_QUERIES.items():
        print(f"\n{title}:\n  parallax sql --lake {lake} {json.dumps(query)}")
        subprocess.run(
            [sys.executable, "-m", "parallax.cli", "sql", "--lake", lake, query], check=True
        )
    return 0


def _run_fleet(address: str, transactions: int, rng: random.Random) -> int:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from collector.sdk import fingerprint as canonical_fingerprint

    providers = {}
    for node in NODES:
        resource = Resource.create(
            {
                conv.SERVICE_NAME: "fraud-app",
                conv.HOST_ID: node.node_id,
                conv.HARDWARE_TIER: node.tier,
            }
        )
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=address, insecure=True))
        )
        providers[node] = provider
    sent = 0
    for _ in range(transactions):
        features = [rng.gauss(0, 1) for _ in WEIGHTS]
        fingerprint = canonical_fingerprint(features)
        for node in rng.sample(NODES, k=2):  # each input is scored by two nodes
            _infer(providers[node].get_tracer("demo"), node, features, fingerprint)
            sent += 1
    for provider in providers.values():
        provider.shutdown()
    return sent


def _infer(tracer, node: Node, features: list[float], fingerprint: str) -> None:
    with tracer.start_as_current_span("inference fraud-scoring") as span:
        started = time.perf_counter()
        value = score(features, node.quantization)
        span.set_attributes(
            {
                conv.FEATURE: "fraud-scoring",
                conv.GEN_AI_REQUEST_MODEL: "fraud-logit",
                conv.GEN_AI_OPERATION_NAME: "predict",
                conv.MODEL_VERSION: "2.3",
                conv.MODEL_QUANTIZATION: node.quantization,
                conv.INPUT_FINGERPRINT: fingerprint,
                conv.OUTPUT_SCORE: value,
                conv.OUTPUT_LABEL: "fraud" if value >= 0.5 else "legit",
                conv.CONFIDENCE: abs(value - 0.5) * 2,
                conv.COLD_START: False,
                "app.compute_us": round((time.perf_counter() - started) * 1e6, 1),
            }
        )
