"""Recording heartbeats: ``node_heartbeats`` keeps every one, ``nodes`` the latest per node.

DuckLake has no primary keys and no UPSERT, so "latest" is kept by hand: in one
transaction the new ``nodes`` rows are computed from the arriving heartbeats and the
node's previous row, the previous row is deleted and the new one inserted. Readers see
the lake before or after that commit, never a node missing or twice. The transaction
runs on the lake's single writer thread (``IngestPipeline.run_in_writer``), so two
heartbeats of one node never race; a group of heartbeats is written with one INSERT per
table (each INSERT writes its own Parquet file).

``hardware_tier`` is stored canonically, as in ``spans`` (store.canonical): the
convention's word, the spelling as sent kept in ``hardware_tier_as_sent`` where it differed.

Across heartbeats of a node, ``nodes`` carries forward ``first_seen_at``, adds to
``heartbeat_count`` and keeps the latest clock estimate the node reported (a heartbeat
without one, e.g. the first after a collector restart, leaves the last known estimate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from parallax.proto.fleet.v1 import fleet_pb2
from store.canonical import canonical_columns, rule_for

MAX_NODE_ID_LENGTH = 256  # as for the parallax-node-id header of span batches
MAX_INT64 = 2**63 - 1


class InvalidHeartbeat(ValueError):
    """The request cannot be recorded; the node should fix it, not retry it."""


@dataclass(frozen=True)
class Heartbeat:
    """A valid heartbeat and when the server received it (t1)."""

    request: fleet_pb2.HeartbeatRequest
    received_ns: int


def validate(request: fleet_pb2.HeartbeatRequest) -> None:
    """Raise InvalidHeartbeat when the request breaks the contract in fleet.proto."""
    if not request.node_id:
        raise InvalidHeartbeat("node_id is required")
    if len(request.node_id) > MAX_NODE_ID_LENGTH:
        raise InvalidHeartbeat(f"node_id is longer than {MAX_NODE_ID_LENGTH} characters")
    counts = {
        "sequence": request.sequence,
        "node_send_time_unix_nano": request.node_send_time_unix_nano,
        "buffer.pending_bytes": request.buffer.pending_bytes,
        "buffer.pending_batches": request.buffer.pending_batches,
        "buffer.dropped_spans": request.buffer.dropped_spans,
        "buffer.disk_free_bytes": request.buffer.disk_free_bytes,
    }
    for name, value in counts.items():
        if value > MAX_INT64:
            raise InvalidHeartbeat(f"{name} is above 2^63-1")
    age = request.buffer.oldest_pending_age_seconds
    if not (math.isfinite(age) and age >= 0):
        raise InvalidHeartbeat(f"buffer.oldest_pending_age_seconds must be >= 0, got {age}")


MODEL_STATE = pa.struct(  # nodes.models and node_heartbeats.models, one element
    [
        ("model_name", pa.string()),
        ("model_version", pa.string()),
        ("quantization", pa.string()),
        ("loaded", pa.bool_()),
        ("warm", pa.bool_()),
    ]
)
_TIME = pa.timestamp("us", tz="UTC")
_TIER = rule_for("hardware_tier")


def staged_table(heartbeats: list[Heartbeat]) -> pa.Table:
    """The heartbeats as ``node_heartbeats`` rows, plus ``arrival`` (their order)."""
    requests = [h.request for h in heartbeats]
    buffers = [r.buffer if r.HasField("buffer") else None for r in requests]
    clocks = [r.clock if r.HasField("clock") else None for r in requests]

    def buffer_column(name: str, kind: pa.DataType) -> pa.Array:
        return pa.array([None if b is None else getattr(b, name) for b in buffers], kind)

    tiers, tiers_as_sent = canonical_columns(
        pa.array([r.hardware_tier or None for r in requests], pa.string()), _TIER
    )

    return pa.table(
        {
            "node_id": [r.node_id for r in requests],
            "heartbeat_seq": pa.array([r.sequence for r in requests], pa.int64()),
            "received_at": pa.array([h.received_ns // 1000 for h in heartbeats], _TIME),
            "node_sent_at": pa.array(
                [r.node_send_time_unix_nano // 1000 or None for r in requests], _TIME
            ),
            "hardware_tier": tiers,
            "hardware_tier_as_sent": tiers_as_sent,
            "region": [r.region or None for r in requests],
            "accelerator": [r.accelerator or None for r in requests],
            "collector_version": [r.collector_version or None for r in requests],
            "models": pa.array(
                [[_model(m) for m in r.models] for r in requests], pa.list_(MODEL_STATE)
            ),
            "pending_bytes": buffer_column("pending_bytes", pa.int64()),
            "pending_batches": buffer_column("pending_batches", pa.int64()),
            "oldest_pending_age_s": buffer_column("oldest_pending_age_seconds", pa.float64()),
            "dropped_spans": buffer_column("dropped_spans", pa.int64()),
            "disk_free_bytes": buffer_column("disk_free_bytes", pa.int64()),
            "clock_offset_ms": pa.array(
                [None if c is None else c.offset_ns / 1e6 for c in clocks], pa.float64()
            ),
            "round_trip_ms": pa.array(
                [None if c is None else c.round_trip_ns / 1e6 for c in clocks], pa.float64()
            ),
            "arrival": pa.array(range(len(heartbeats)), pa.int64()),
        }
    )


def _model(model: fleet_pb2.ModelState) -> dict:
    return {
        "model_name": model.model_name or None,
        "model_version": model.model_version or None,
        "quantization": model.quantization or None,
        "loaded": model.loaded,
        "warm": model.warm,
    }


# The new `nodes` row of every node in the group. `previous` aggregates, so that a node
# with more than one row (possible only with several writers on one lake) heals to one.
NEW_NODE_ROWS = """
WITH arrived AS (
    SELECT
        node_id,
        count(*) AS heartbeats,
        min(received_at) AS first_received_at,
        arg_max(clock_offset_ms, arrival) FILTER (WHERE clock_offset_ms IS NOT NULL)
            AS clock_offset_ms,
        arg_max(round_trip_ms, arrival) FILTER (WHERE clock_offset_ms IS NOT NULL)
            AS round_trip_ms
    FROM staged_heartbeats
    GROUP BY node_id
),
latest AS (
    SELECT * FROM staged_heartbeats
    QUALIFY row_number() OVER (PARTITION BY node_id ORDER BY arrival DESC) = 1
),
previous AS (
    SELECT
        node_id,
        min(first_seen_at) AS first_seen_at,
        max(heartbeat_count) AS heartbeat_count,
        arg_max(clock_offset_ms, last_seen_at) AS clock_offset_ms,
        arg_max(round_trip_ms, last_seen_at) AS round_trip_ms
    FROM nodes
    WHERE node_id IN (SELECT node_id FROM arrived)
    GROUP BY node_id
)
SELECT
    latest.node_id,
    latest.hardware_tier,
    latest.hardware_tier_as_sent,
    latest.region,
    latest.accelerator,
    latest.collector_version,
    latest.models,
    latest.pending_bytes,
    latest.pending_batches,
    latest.oldest_pending_age_s,
    latest.dropped_spans,
    latest.disk_free_bytes,
    coalesce(arrived.clock_offset_ms, previous.clock_offset_ms) AS clock_offset_ms,
    CASE WHEN arrived.clock_offset_ms IS NOT NULL
        THEN arrived.round_trip_ms ELSE previous.round_trip_ms END AS round_trip_ms,
    latest.heartbeat_seq,
    latest.node_sent_at,
    coalesce(previous.first_seen_at, arrived.first_received_at) AS first_seen_at,
    latest.received_at AS last_seen_at,
    coalesce(previous.heartbeat_count, 0) + arrived.heartbeats AS heartbeat_count
FROM latest
JOIN arrived USING (node_id)
LEFT JOIN previous USING (node_id)
"""


def record_heartbeats(con: duckdb.DuckDBPyConnection, heartbeats: list[Heartbeat]) -> None:
    """Append the heartbeats to the history and replace their nodes' latest rows.

    Runs inside the caller's transaction (``run_in_writer`` commits or rolls back).
    """
    con.register("staged_heartbeats", staged_table(heartbeats))
    try:
        con.execute(
            "INSERT INTO node_heartbeats BY NAME SELECT * EXCLUDE (arrival) FROM staged_heartbeats"
        )
        new_rows = con.execute(NEW_NODE_ROWS).to_arrow_table()
        con.execute("DELETE FROM nodes WHERE node_id IN (SELECT node_id FROM staged_heartbeats)")
        con.register("new_node_rows", new_rows)
        try:
            con.execute("INSERT INTO nodes BY NAME SELECT * FROM new_node_rows")
        finally:
            con.unregister("new_node_rows")
    finally:
        con.unregister("staged_heartbeats")
