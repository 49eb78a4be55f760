"""Into the lake: spans as Arrow, group commits, and the inventory (resources, heartbeats,
nodes)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from bench.fleet.catalog import (
    CATALOG,
    COLLECTOR_VERSION,
    FEATURES,
    HOUR_US,
    NEWEST_VERSION,
    REGIONS,
    SERVICES,
    SLOTS,
    STAGED_SLOTS,
    TIER_ACCEL,
    TIERS,
    TOPK,
    variants,
)
from bench.fleet.description import _Context
from bench.fleet.hashing import (
    S_CLOCK,
    S_FP_HI,
    S_FP_LO,
    S_HEARTBEAT,
    S_PENDING,
    S_RTT,
    S_SPAN,
    S_TRACE_HI,
    S_TRACE_LO,
    _hex,
)
from bench.fleet.nodes import _resource
from bench.fleet.spans import Block
from parallax.progress import Progress
from store.fleet.heartbeats import MODEL_STATE

# --- To Arrow and into the lake ---------------------------------------------------------

_LABELS = pa.array(["legit", "fraud"])
_ITEMS = pa.array([f"sku-{i:05d}" for i in range(CATALOG)])
_TIME = pa.timestamp("us", "UTC")
_TEXT_MAP = pa.map_(pa.string(), pa.string())
_STATUS = pa.array(["unset", "error"])
_TIMEOUT = pa.array(["inference timeout"])


def _topk(items: np.ndarray, present: np.ndarray) -> pa.Array:
    counts = np.where(present, TOPK, 0)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    values = _ITEMS.take(pa.array(items[present].ravel()))
    return pa.ListArray.from_arrays(pa.array(offsets), values, mask=pa.array(~present))


def _spans_table(ctx: _Context, block: Block, batch_seq: int) -> pa.Table:
    """The block as ``spans`` columns (ids as lowercase hex, enums as words)."""
    h, nodes, n = ctx.h, ctx.nodes, len(block["span"])
    span, node = block["span"], pa.array(block["node"])
    variant = pa.array(block["feature"].astype(np.int32) * len(SLOTS) + block["slot"])
    start = block["start"]
    end = start + (block["duration"] * 1000).astype(np.int64)
    label = block["label"]
    score = block["score"]
    error = block["error"]
    columns = {
        "trace_id": _hex([h.hash(span, S_TRACE_HI), h.hash(span, S_TRACE_LO)]),
        "span_id": _hex([h.hash(span, S_SPAN)]),
        "start_time": pa.array(start, _TIME),
        "end_time": pa.array(end, _TIME),
        "duration_ms": pa.array(block["duration"]),
        "status_code": _STATUS.take(pa.array(error.astype(np.int8))),
        "status_message": _TIMEOUT.take(pa.array(np.zeros(n, np.int8), mask=~error)),
        "service_name": pa.array(SERVICES).take(pa.array(nodes.tier).take(node)),
        "node_id": nodes.ids.take(node),
        "region": pa.array(REGIONS).take(pa.array(nodes.region).take(node)),
        "environment": nodes.environment.take(node),
        "feature": _VARIANT_COLUMNS["feature"].take(variant),
        "model_name": _VARIANT_COLUMNS["model_name"].take(variant),
        "model_version": _VARIANT_COLUMNS["model_version"].take(variant),
        "quantization": _VARIANT_COLUMNS["quantization"].take(variant),
        "hardware_tier": _VARIANT_COLUMNS["hardware_tier"].take(variant),
        "accelerator": _VARIANT_COLUMNS["accelerator"].take(variant),
        "input_fingerprint": _hex(
            [h.hash(block["input"], S_FP_HI), h.hash(block["input"], S_FP_LO)]
        ),
        "output_label": _LABELS.take(pa.array(label.astype(np.int32), mask=label < 0)),
        "output_score": pa.array(score, mask=np.isnan(score)),
        "output_topk": _topk(block["items"], block["items"][:, 0] >= 0),
        "confidence": pa.array(block["confidence"], mask=np.isnan(block["confidence"])),
        "cold_start": pa.array(block["cold"]),
        "attributes": pa.MapArray.from_arrays(
            pa.array(np.zeros(n + 1, np.int32)),
            pa.array([], pa.string()),
            pa.array([], pa.string()),
        ),
        "resource_id": pa.array(nodes.resource_ids).take(node),
        "ingested_at": pa.array(block["ingest"], _TIME),
    }
    table = pa.table(columns)
    return table.append_column("batch_seq", pa.array(np.full(n, batch_seq, np.int64)))


def _variant_columns() -> dict[str, pa.Array]:
    rows = variants()
    return {
        "feature": pa.array([v.feature for v in rows]),
        "model_name": pa.array([v.model for v in rows]),
        "model_version": pa.array([v.version for v in rows]),
        "quantization": pa.array([v.quantization for v in rows]),
        "hardware_tier": pa.array([v.tier for v in rows]),
        "accelerator": pa.array([v.accelerator for v in rows]),
    }


_VARIANT_COLUMNS = _variant_columns()
INSERT_SPANS = """
INSERT INTO spans BY NAME
SELECT *, 'inference' AS name, 'internal' AS kind, 'predict' AS operation,
       'parallax.sdk' AS scope_name, '0.1.0' AS scope_version
FROM fleet_data_spans
"""


@dataclass(frozen=True)
class _Staged:
    """One commit's rows, ready for DuckDB."""

    spans: pa.Table
    batches: pa.Table


def _stage(ctx: _Context, block: Block, batch_seq: int) -> _Staged:
    """The block's spans in arrival order, and a ledger row per node that sent some."""
    order = np.argsort(block["ingest"], kind="stable")
    block = {name: column[order] for name, column in block.items()}
    per_node = np.bincount(block["node"], minlength=ctx.nodes.count)
    present = pa.array(np.flatnonzero(per_node))
    rows = len(present)
    ledger = pa.table(
        {
            "node_id": ctx.nodes.ids.take(present),
            "buffer_id": ctx.nodes.buffer_ids.take(present),
            "batch_seq": pa.array(np.full(rows, batch_seq, np.int64)),
            "span_count": pa.array(per_node[np.flatnonzero(per_node)].astype(np.int32)),
            "rejected_count": pa.array(np.zeros(rows, np.int32)),
            "committed_at": pa.array(np.full(rows, block["ingest"].max()), _TIME),
        }
    )
    return _Staged(_spans_table(ctx, block, batch_seq), ledger)


def _commit(con: duckdb.DuckDBPyConnection, staged: _Staged) -> None:
    """One transaction, as the ingest's group commit: the spans and their ledger rows."""
    con.register("fleet_data_spans", staged.spans)
    con.register("fleet_data_batches", staged.batches)
    try:
        con.execute("BEGIN")
        try:
            con.execute(INSERT_SPANS)
            con.execute("INSERT INTO ingested_batches BY NAME SELECT * FROM fleet_data_batches")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.unregister("fleet_data_spans")
        con.unregister("fleet_data_batches")


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def _ahead(items: Iterator[_Staged]) -> Iterator[_Staged]:
    """``items``, computed one ahead in a thread: NumPy and Arrow work while DuckDB writes."""
    slot: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                slot.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            offer(_Failed(error))

    worker = threading.Thread(target=work, name="fleet-data-generator", daemon=True)
    worker.start()
    try:
        while (item := slot.get()) is not _DONE:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()


def _write(
    con: duckdb.DuckDBPyConnection,
    ctx: _Context,
    blocks: Iterator[Block],
    first_commit: int,
    total: int,
    progress: Progress,
) -> int:
    """Commit each block (numbered from ``first_commit + 1``); the number of commits.
    ``progress`` counts the ``total`` spans as they are committed."""
    staged = (_stage(ctx, block, first_commit + i) for i, block in enumerate(blocks, 1))
    progress.phase("write spans", total=total)
    commits = 0
    for item in _ahead(staged):
        _commit(con, item)
        commits += 1
        progress.advance(item.spans.num_rows)
    return commits


def _take(block: Block, rows: np.ndarray) -> Block:
    return {name: column[rows] for name, column in block.items()}


def _concat(blocks: list[Block]) -> Block:
    return {name: np.concatenate([b[name] for b in blocks]) for name in blocks[0]}


# --- Inventory: resources, heartbeats, nodes ----------------------------------------------


def _models(slot: int) -> list[dict[str, Any]]:
    version, quant = SLOTS[slot][0], SLOTS[slot][1]
    models = [
        {"model_name": f.model, "model_version": version, "quantization": quant,
         "loaded": True, "warm": True}
        for f in FEATURES
    ]  # fmt: skip
    if slot in STAGED_SLOTS:
        models += [dict(m, model_version=NEWEST_VERSION, loaded=False, warm=False) for m in models]
    return models


def _heartbeats(ctx: _Context, from_us: int, to_us: int) -> pa.Table:
    """An hourly heartbeat per node in (from_us, to_us], at a per-node minute of the hour."""
    nodes, h = ctx.nodes, ctx.h
    numbers = np.arange(nodes.count)
    phase = (h.uniform(numbers, S_HEARTBEAT) * HOUR_US).astype(np.int64)
    hours = np.arange(from_us // HOUR_US, to_us // HOUR_US + 1, dtype=np.int64) * HOUR_US
    when = (hours[:, None] + phase[None, :]).ravel()
    node = np.tile(numbers, len(hours))
    keep = (when > from_us) & (when <= to_us)
    when, node = when[keep], node[keep]
    seq = (when - ctx.lake_start_us) // HOUR_US + 1
    tier = nodes.tier[node]
    key = node.astype(np.uint64) << np.uint64(32) | seq.astype(np.uint64)
    node_arr = pa.array(node)
    rtt = np.array([60.0, 15.0, 2.0])[tier] * (0.7 + 0.6 * h.uniform(key, S_RTT))
    offset = np.array([30.0, 8.0, 1.0])[tier] * h.normal(numbers, S_CLOCK)[node]
    pending = np.where(h.uniform(key, S_PENDING) < 0.05, h.uniform(key, S_PENDING + 50) * 4e6, 0)
    model_lists = pa.array([_models(int(s)) for s in nodes.slot], pa.list_(MODEL_STATE))
    return pa.table(
        {
            "node_id": nodes.ids.take(node_arr),
            "heartbeat_seq": pa.array(seq),
            "received_at": pa.array(when, _TIME),
            "node_sent_at": pa.array(when - ((offset + rtt / 2) * 1000).astype(np.int64), _TIME),
            "hardware_tier": pa.array(TIERS).take(pa.array(tier)),
            "region": pa.array(REGIONS).take(pa.array(nodes.region).take(node_arr)),
            "accelerator": pa.array(TIER_ACCEL).take(pa.array(tier)),
            "collector_version": pa.array(np.full(len(node), COLLECTOR_VERSION)),
            "models": model_lists.take(node_arr),
            "pending_bytes": pa.array(pending.astype(np.int64)),
            "pending_batches": pa.array((pending // 200_000).astype(np.int64)),
            "oldest_pending_age_s": pa.array(pending / 1e5),
            "dropped_spans": pa.array(np.zeros(len(node), np.int64)),
            "disk_free_bytes": pa.array((np.array([8, 120, 900])[tier] * 2**30).astype(np.int64)),
            "clock_offset_ms": pa.array(offset),
            "round_trip_ms": pa.array(rtt),
        }
    )


LATEST_NODES = """
WITH latest AS (
    SELECT * FROM node_heartbeats
    QUALIFY row_number() OVER (PARTITION BY node_id ORDER BY received_at DESC) = 1
),
seen AS (
    SELECT node_id, min(received_at) AS first_seen_at, count(*) AS heartbeat_count
    FROM node_heartbeats GROUP BY node_id
)
SELECT latest.* EXCLUDE (received_at), latest.received_at AS last_seen_at,
       first_seen_at, heartbeat_count
FROM latest JOIN seen USING (node_id)
"""


def _write_inventory(
    con: duckdb.DuckDBPyConnection, ctx: _Context, from_us: int, to_us: int, resources: bool
) -> None:
    """Heartbeats for the period and the nodes' latest rows (and resources), one commit."""
    con.register("fleet_data_heartbeats", _heartbeats(ctx, from_us, to_us))
    try:
        con.execute("BEGIN")
        try:
            con.execute("INSERT INTO node_heartbeats BY NAME SELECT * FROM fleet_data_heartbeats")
            if resources:
                _insert_resources(con, ctx, from_us)
            ids = ctx.nodes.ids.to_pylist()
            con.execute("DELETE FROM nodes WHERE node_id IN (SELECT unnest(?))", [ids])
            con.execute(f"INSERT INTO nodes BY NAME {LATEST_NODES}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.unregister("fleet_data_heartbeats")


def _insert_resources(con: duckdb.DuckDBPyConnection, ctx: _Context, seen_us: int) -> None:
    nodes = ctx.nodes
    attributes = [
        _resource(nodes.ids[i].as_py(), int(nodes.tier[i]), int(nodes.region[i]),
                  nodes.environment[i].as_py())
        for i in range(nodes.count)
    ]  # fmt: skip
    con.register(
        "fleet_data_resources",
        pa.table(
            {
                "resource_id": pa.array(nodes.resource_ids),
                "attributes": pa.array(attributes, _TEXT_MAP),
                "first_seen_at": pa.array(np.full(nodes.count, seen_us), _TIME),
            }
        ),
    )
    try:
        con.execute("INSERT INTO resources BY NAME SELECT * FROM fleet_data_resources")
    finally:
        con.unregister("fleet_data_resources")
