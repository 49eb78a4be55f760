"""The dashboard's fixture lake: six known nodes, two features, known divergences.

Everything is relative to ``AS_OF``; tests open the dashboard with ``?until=`` set to it,
so statuses and windows do not depend on when the suite runs. The reconciler computes
its tables from these spans and heartbeats (``reconcile(..., full=True, as_of=AS_OF)``).

Nodes (heartbeat tolerance 90 s): four online, ``edge-03`` stale (silent 150 s),
``edge-04`` offline (silent 2 h, which was so already an hour before ``AS_OF``).

``fraud-scoring``: 200 inputs in the hour before ``AS_OF``, answered by five variants.
The reference fp32 (cloud-01) and fp16 (near-01) always agree; int8 (edge-01) flips the
label on 4 inputs (i % 50 == 0), int4 (edge-02) on 20 (i % 10 == 0); 2.2 int8 (edge-03)
answers the 100 even inputs and flips i % 50 == 0 too. cloud-01 and edge-02 answer the
first 40 inputs twice; edge-02's repeats of inputs 5 and 25 disagree (a 5 % noise floor).
The first span of each node is a cold start (900 ms). Warm latency is constant per
variant: fp32 8 ms, fp16 15 ms, int8 22 ms, int4 41 ms (over the 30 ms budget).
``churn``: 50 inputs, two to three hours before ``AS_OF``, cloud-01 and near-01 agree.
Versions of fraud-gbm: 2.3 newest, 2.2 on edge-03 (1 behind: tolerated), 2.1 loaded on
edge-04 (2 behind: a skew violation).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import pandas as pd

from parallax.config import ReconcilerSettings, StoreSettings
from store.lake import open_writer

AS_OF = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
UNTIL = AS_OF.strftime("%Y-%m-%dT%H:%M")  # the ?until= value of AS_OF
FRAUD_INPUTS = 200
CHURN_INPUTS = 50
REPEATED = 40  # inputs that cloud-01 and edge-02 answer twice
REFERENCE = "fraud-gbm 2.3 fp32 cloud gpu-a100"
INT4 = "fraud-gbm 2.3 int4 device npu"
INT8 = "fraud-gbm 2.3 int8 device npu"


@dataclass(frozen=True)
class Node:
    node_id: str
    tier: str
    region: str
    accelerator: str
    silent_s: float  # before AS_OF
    models: tuple[tuple[str, str, str], ...]  # (model, version, quantization)
    first_seen_s: float = 2 * 3600
    pending_batches: int = 0
    oldest_pending_age_s: float = 0.0
    dropped_spans: int = 0
    clock_offset_ms: float = 1.5


NODES = [
    Node(
        "cloud-01",
        "cloud",
        "us-east",
        "gpu-a100",
        5,
        (("fraud-gbm", "2.3", "fp32"), ("churn-lr", "1.0", "fp32")),
    ),
    Node(
        "near-01",
        "near-edge",
        "eu-west",
        "gpu-t4",
        20,
        (("fraud-gbm", "2.3", "fp16"), ("churn-lr", "1.0", "fp16")),
        clock_offset_ms=850.0,
    ),
    Node("edge-01", "device", "eu-west", "npu", 10, (("fraud-gbm", "2.3", "int8"),)),
    Node(
        "edge-02",
        "device",
        "eu-west",
        "npu",
        30,
        (("fraud-gbm", "2.3", "int4"),),
        pending_batches=12,
        oldest_pending_age_s=340.0,
    ),
    Node("edge-03", "device", "us-east", "npu", 150, (("fraud-gbm", "2.2", "int8"),)),
    Node(
        "edge-04",
        "device",
        "us-east",
        "npu",
        2 * 3600,
        (("fraud-gbm", "2.1", "int8"),),
        first_seen_s=6 * 3600,
        dropped_spans=1500,
    ),
]
BY_ID = {node.node_id: node for node in NODES}


def build(settings: StoreSettings) -> StoreSettings:
    """Write the fixture into a new lake and run the reconciler on it."""
    from reconciler import reconcile
    from reconciler.policy_file import policies_from_mapping

    policies = policies_from_mapping(
        {
            "features": {
                "fraud-scoring": {
                    "comparator": "label",
                    "resolution": "reference",
                    "reference_variant": REFERENCE,
                    "min_shared_inputs": 30,
                },
            }
        },
        "dashboard fixture",
    )
    with open_writer(settings) as lake:
        _insert(lake.con, "spans", spans())
        _insert(lake.con, "node_heartbeats", heartbeats())
        _insert(lake.con, "nodes", nodes())
        reconcile(lake, policies, ReconcilerSettings(), full=True, as_of=AS_OF)
    return settings


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    con.register("fixture_rows", frame)
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM fixture_rows")
    con.unregister("fixture_rows")


def spans() -> pd.DataFrame:
    rows: list[dict] = []
    ids = itertools.count(1)
    first = set()

    def answer(node: Node, model: str, version: str, quant: str, feature: str, fp: str,
               at: datetime, label: str, duration: float) -> None:  # fmt: skip
        cold = node.node_id not in first
        first.add(node.node_id)
        n = next(ids)
        ms = 900.0 if cold else duration
        rows.append(
            {
                "trace_id": f"{n:032x}", "span_id": f"{n:016x}", "name": f"inference {feature}",
                "kind": "server", "start_time": at, "end_time": at + timedelta(milliseconds=ms),
                "duration_ms": ms, "status_code": "ok", "service_name": f"{feature}-app",
                "node_id": node.node_id, "region": node.region, "environment": "prod",
                "feature": feature, "model_name": model, "operation": "classify",
                "model_version": version, "quantization": quant, "hardware_tier": node.tier,
                "accelerator": node.accelerator, "input_fingerprint": fp,
                "output_label": label, "output_score": 0.9 if label == "fraud" else 0.1,
                "confidence": 0.8, "cold_start": cold, "attributes": {}, "scope_name": "fixture",
                "ingested_at": at + timedelta(seconds=1),
            }
        )  # fmt: skip

    nodes = BY_ID
    for i in range(FRAUD_INPUTS):
        fp, at = f"fp-{i:03d}", AS_OF - timedelta(minutes=55) + timedelta(seconds=15 * i)
        truth = "fraud" if i % 7 == 0 else "legit"
        flipped = "legit" if truth == "fraud" else "fraud"
        answer(nodes["cloud-01"], "fraud-gbm", "2.3", "fp32", "fraud-scoring", fp, at, truth, 8.0)
        answer(nodes["near-01"], "fraud-gbm", "2.3", "fp16", "fraud-scoring", fp, at, truth, 15.0)
        int8 = flipped if i % 50 == 0 else truth
        answer(nodes["edge-01"], "fraud-gbm", "2.3", "int8", "fraud-scoring", fp, at, int8, 22.0)
        int4 = flipped if i % 10 == 0 else truth
        answer(nodes["edge-02"], "fraud-gbm", "2.3", "int4", "fraud-scoring", fp, at, int4, 41.0)
        if i % 2 == 0:
            answer(
                nodes["edge-03"], "fraud-gbm", "2.2", "int8", "fraud-scoring", fp, at, int8, 22.0
            )
        if i < REPEATED:
            again = at + timedelta(seconds=2)
            answer(
                nodes["cloud-01"],
                "fraud-gbm",
                "2.3",
                "fp32",
                "fraud-scoring",
                fp,
                again,
                truth,
                8.0,
            )
            repeat = flipped if i in (5, 25) else int4
            answer(
                nodes["edge-02"],
                "fraud-gbm",
                "2.3",
                "int4",
                "fraud-scoring",
                fp,
                again,
                repeat,
                41.0,
            )
    for i in range(CHURN_INPUTS):
        fp, at = f"churn-{i:03d}", AS_OF - timedelta(hours=3) + timedelta(seconds=60 * i)
        label = "stay" if i % 3 else "leave"
        answer(nodes["cloud-01"], "churn-lr", "1.0", "fp32", "churn", fp, at, label, 8.0)
        answer(nodes["near-01"], "churn-lr", "1.0", "fp16", "churn", fp, at, label, 15.0)
    return pd.DataFrame(rows)


def _state(node: Node) -> dict:
    return {
        "node_id": node.node_id, "hardware_tier": node.tier, "region": node.region,
        "accelerator": node.accelerator, "collector_version": "0.1.0",
        "models": [
            {"model_name": m, "model_version": v, "quantization": q, "loaded": True, "warm": True}
            for m, v, q in node.models
        ],
        "pending_bytes": node.pending_batches * 50_000, "pending_batches": node.pending_batches,
        "oldest_pending_age_s": node.oldest_pending_age_s, "dropped_spans": node.dropped_spans,
        "disk_free_bytes": 10 * 2**30, "clock_offset_ms": node.clock_offset_ms,
        "round_trip_ms": 4.0,
    }  # fmt: skip


def heartbeats() -> pd.DataFrame:
    """One heartbeat a minute from each node's first to its last (its silence before AS_OF)."""
    rows = []
    for node in NODES:
        last = AS_OF - timedelta(seconds=node.silent_s)
        at, times = AS_OF - timedelta(seconds=node.first_seen_s), []
        while at < last:
            times.append(at)
            at += timedelta(seconds=60)
        for seq, received in enumerate([*times, last], start=1):
            rows.append(
                {**_state(node), "heartbeat_seq": seq, "received_at": received,
                 "node_sent_at": received}
            )  # fmt: skip
    return pd.DataFrame(rows)


def nodes() -> pd.DataFrame:
    beats = heartbeats()
    rows = []
    for node in NODES:
        mine = beats[beats.node_id == node.node_id]
        rows.append(
            {
                **_state(node), "heartbeat_seq": int(mine.heartbeat_seq.max()),
                "node_sent_at": mine.received_at.max(), "first_seen_at": mine.received_at.min(),
                "last_seen_at": mine.received_at.max(), "heartbeat_count": len(mine),
            }
        )  # fmt: skip
    return pd.DataFrame(rows)
