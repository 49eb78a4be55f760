"""Fleet/Heartbeat end to end: real gRPC server on loopback, real lake, the collector's client."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime

import grpc
import pytest

from collector.buffer import BufferReport
from collector.heartbeat import HeartbeatClient, ModelState, NodeState
from parallax.proto.fleet.v1 import fleet_pb2, fleet_pb2_grpc
from store.fleet import FleetPolicy
from store.lake import connect
from tests.servers import lake_rows

SECOND_NS = 1_000_000_000


def node_state(node_id: str = "edge-1", **changes) -> NodeState:
    state = NodeState(
        node_id=node_id,
        hardware_tier="device",
        region="eu-west-1",
        accelerator="npu",
        collector_version="0.1.0",
        models=(
            ModelState("fraud-scorer", "2.1.0", "int8", loaded=True, warm=True),
            ModelState("fraud-scorer", "2.0.0", "fp16", loaded=False, warm=False),
        ),
        buffer=BufferReport(
            pending_batches=2,
            pending_spans=9,
            pending_bytes=4096,
            oldest_pending_age_s=3.5,
            dropped_batches=1,
            dropped_spans=7,
            corrupt_records=0,
            torn_tails_truncated=0,
            quarantined_segments=0,
            disk_bytes=8192,
            segment_count=1,
            dictionary_id=0,
            next_seq=5,
            disk_free_bytes=10**9,
        ),
    )
    return dataclasses.replace(state, **changes)


def query(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


@pytest.fixture
def heartbeats(server):
    client = HeartbeatClient(server.address)
    yield client
    client.close()


def test_a_heartbeat_lands_in_nodes_and_in_the_history(server, heartbeats, store_settings):
    before = datetime.now().astimezone()

    directive = heartbeats.beat(node_state())

    assert directive.sampling_ratio == 1.0
    assert directive.heartbeat_interval_s == 15.0
    assert dict(directive.min_versions) == {}
    assert directive.prewarm == ()
    con = connect(store_settings, read_only=True)
    nodes = query(
        con,
        "SELECT node_id, hardware_tier, region, accelerator, collector_version, models, "
        "pending_bytes, pending_batches, oldest_pending_age_s, dropped_spans, disk_free_bytes, "
        "clock_offset_ms, heartbeat_seq, heartbeat_count, first_seen_at = last_seen_at, "
        "last_seen_at, node_sent_at FROM nodes",
    )
    assert len(nodes) == 1
    *columns, last_seen_at, node_sent_at = nodes[0]
    assert columns == [
        "edge-1",
        "device",
        "eu-west-1",
        "npu",
        "0.1.0",
        [
            {
                "model_name": "fraud-scorer",
                "model_version": "2.1.0",
                "quantization": "int8",
                "loaded": True,
                "warm": True,
            },
            {
                "model_name": "fraud-scorer",
                "model_version": "2.0.0",
                "quantization": "fp16",
                "loaded": False,
                "warm": False,
            },
        ],
        4096,
        2,
        3.5,
        7,
        10**9,
        None,  # no clock estimate before the first round trip
        1,
        1,
        True,
    ]
    assert before <= node_sent_at <= last_seen_at <= datetime.now().astimezone()
    history = query(
        con,
        "SELECT node_id, heartbeat_seq, received_at, models[1].model_version, dropped_spans "
        "FROM node_heartbeats",
    )
    con.close()
    assert history == [("edge-1", 1, last_seen_at, "2.1.0", 7)]


def test_the_tier_is_stored_canonically_with_the_spelling_as_sent(
    server, heartbeats, store_settings
):
    heartbeats.beat(node_state("edge-1", hardware_tier="NEAR_EDGE"))
    heartbeats.beat(node_state("edge-2", hardware_tier="near-edge"))
    heartbeats.beat(node_state("edge-3", hardware_tier=""))

    con = connect(store_settings, read_only=True)
    for table in ("nodes", "node_heartbeats"):
        rows = query(
            con, f"SELECT node_id, hardware_tier, hardware_tier_as_sent FROM {table} ORDER BY 1"
        )
        assert rows == [
            ("edge-1", "near-edge", "NEAR_EDGE"),
            ("edge-2", "near-edge", None),
            ("edge-3", None, None),
        ], table
    con.close()


def test_a_second_heartbeat_replaces_the_node_row_and_appends_to_the_history(
    server, heartbeats, store_settings
):
    heartbeats.beat(node_state())
    heartbeats.beat(node_state("edge-2"))
    heartbeats.beat(
        node_state(
            collector_version="0.2.0",
            models=(ModelState("fraud-scorer", "2.2.0", "int8", loaded=True, warm=False),),
            buffer=None,
        )
    )

    con = connect(store_settings, read_only=True)
    nodes = query(
        con,
        "SELECT node_id, collector_version, len(models), models[1].model_version, "
        "pending_bytes, heartbeat_seq, heartbeat_count, first_seen_at, last_seen_at "
        "FROM nodes ORDER BY node_id",
    )
    history = query(
        con,
        "SELECT node_id, heartbeat_seq, collector_version, pending_bytes, received_at "
        "FROM node_heartbeats ORDER BY received_at",
    )
    con.close()
    assert [row[:-2] for row in nodes] == [
        ("edge-1", "0.2.0", 1, "2.2.0", None, 3, 2),
        ("edge-2", "0.1.0", 2, "2.1.0", 4096, 2, 1),
    ]
    assert [row[:-1] for row in history] == [
        ("edge-1", 1, "0.1.0", 4096),
        ("edge-2", 2, "0.1.0", 4096),
        ("edge-1", 3, "0.2.0", None),
    ]
    received_at = [row[-1] for row in history]
    assert nodes[0][-2:] == (received_at[0], received_at[2])  # first and last seen
    assert nodes[1][-2:] == (received_at[1], received_at[1])


def test_changing_the_policy_changes_the_directive_nodes_receive(server, heartbeats):
    fleet = server.fleet
    assert heartbeats.beat(node_state()).sampling_ratio == 1.0

    fleet.set_policy(
        FleetPolicy(
            sampling_ratio=0.25,
            heartbeat_interval_s=30.0,
            min_versions={"fraud-scorer": "2.1.0", "churn": "1.10"},
            prewarm=("churn",),
        )
    )
    directive = heartbeats.beat(node_state())

    assert directive.sampling_ratio == 0.25
    assert directive.heartbeat_interval_s == 30.0
    assert dict(directive.min_versions) == {"fraud-scorer": "2.1.0", "churn": "1.10"}
    assert directive.prewarm == ("churn",)
    assert directive.upgrades_required(node_state().models) == [
        ModelState("fraud-scorer", "2.0.0", "fp16", loaded=False, warm=False)
    ]

    fleet.set_policy(dataclasses.replace(fleet.policy, sampling_ratio=0.0, min_versions={}))
    directive = heartbeats.beat(node_state())
    assert (directive.sampling_ratio, dict(directive.min_versions)) == (0.0, {})


def test_a_policy_out_of_range_is_refused():
    with pytest.raises(ValueError, match="sampling_ratio"):
        FleetPolicy(sampling_ratio=1.5)
    with pytest.raises(ValueError, match="heartbeat_interval_s"):
        FleetPolicy(heartbeat_interval_s=0)
    with pytest.raises(ValueError, match="min_versions"):
        FleetPolicy(min_versions={"fraud-scorer": ""})


def test_a_heartbeat_without_a_node_id_is_rejected_as_invalid_argument(
    server, heartbeats, store_settings
):
    with pytest.raises(grpc.RpcError) as raised:
        heartbeats.beat(node_state(node_id=""))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "node_id" in raised.value.details()

    with grpc.insecure_channel(server.address) as channel:
        stub = fleet_pb2_grpc.FleetStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.Heartbeat(
                fleet_pb2.HeartbeatRequest(
                    node_id="edge-1", buffer=fleet_pb2.BufferStats(pending_bytes=2**63)
                ),
                timeout=10,
            )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert lake_rows(store_settings, "SELECT count(*) FROM node_heartbeats") == [(0,)]


def test_the_clock_offset_a_node_estimates_is_reported_and_stored(server, store_settings):
    node_clock_behind_ns = 5 * SECOND_NS
    with HeartbeatClient(
        server.address, clock=lambda: time.time_ns() - node_clock_behind_ns
    ) as heartbeats:
        heartbeats.beat(node_state())  # the first round trip gives the first estimate
        estimate = heartbeats.clock_estimate
        assert estimate is not None
        assert abs(estimate.offset_ns - node_clock_behind_ns) < estimate.round_trip_ns / 2 + 0.05e9
        heartbeats.beat(node_state())  # ... which the second heartbeat reports

    with HeartbeatClient(server.address) as restarted:  # no estimate yet after a restart
        restarted.beat(node_state())

    con = connect(store_settings, read_only=True)
    nodes = query(con, "SELECT clock_offset_ms, round_trip_ms FROM nodes")
    history = query(con, "SELECT clock_offset_ms FROM node_heartbeats ORDER BY received_at")
    con.close()
    [(offset_ms, round_trip_ms)] = nodes
    assert abs(offset_ms - 5000) < 100
    assert 0 <= round_trip_ms < 1000
    # the history holds what each heartbeat reported; nodes keeps the last known estimate
    assert history == [(None,), (offset_ms,), (None,)]


def test_heartbeats_arriving_together_are_recorded_with_one_row_per_node(server, store_settings):
    with grpc.insecure_channel(server.address) as channel:
        heartbeat = fleet_pb2_grpc.FleetStub(channel).Heartbeat
        calls = [
            heartbeat.future(
                fleet_pb2.HeartbeatRequest(node_id=f"edge-{node}", sequence=seq), timeout=30
            )
            for seq in (1, 2, 3)
            for node in range(20)
        ]
        for call in calls:
            assert call.result().sampling_ratio == 1.0

    assert lake_rows(
        store_settings,
        "SELECT count(*), count(DISTINCT node_id), min(heartbeat_count), max(heartbeat_count), "
        "(SELECT count(*) FROM node_heartbeats) FROM nodes",
    ) == [(20, 20, 3, 3, 60)]
