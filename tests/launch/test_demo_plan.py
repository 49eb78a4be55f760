"""The demo's script and its shared input streams."""

from __future__ import annotations

import pytest

from launch.demo.plan import Plan, build_plan, layout
from launch.demo.stream import SessionStream, TransactionStream
from parallax_sdk import fingerprint


def test_six_nodes_span_three_tiers_and_two_regions_with_one_node_per_role():
    plan = build_plan(6, seed=7, duration_s=None, outage_s=60)
    assert {(n.tier, n.region) for n in plan.nodes} == {
        (tier, region)
        for tier in ("device", "near-edge", "cloud")
        for region in ("eu-west-1", "us-east-1")
    }
    assert [n.node_id for n in plan.nodes if n.lagging] == ["us-near-01"]
    assert [n.node_id for n in plan.nodes if n.outage] == ["eu-device-01"]
    assert [n.node_id for n in plan.nodes if n.recs_cold_start] == ["us-device-01"]
    assert plan.node("eu-device-01").outage == (36.0, 96.0)


def test_every_node_but_the_lagging_one_moves_through_both_waves_in_order():
    plan = build_plan(6, seed=7, duration_s=50, outage_s=10)
    for node in plan.nodes:
        versions = [switch.version for switch in node.fraud_versions]
        assert versions == (["2.1"] if node.lagging else ["2.1", "2.2", "2.3"])
        assert node.fraud_version(0) == "2.1"
        assert node.fraud_version(49) == versions[-1]
    first_wave_done = max(n.fraud_versions[1].at_s for n in plan.nodes if not n.lagging)
    second_wave_starts = min(n.fraud_versions[2].at_s for n in plan.nodes if not n.lagging)
    assert first_wave_done < second_wave_starts  # a mover is never two versions behind


def test_more_nodes_alternate_regions_and_keep_unique_ids():
    ids = [node_id for node_id, _, _ in layout(10)]
    assert len(set(ids)) == 10
    assert ids[6:] == ["eu-device-02", "us-device-02", "eu-near-02", "us-near-02"]
    with pytest.raises(ValueError, match="at least 3"):
        build_plan(2, seed=7, duration_s=None, outage_s=60)


def test_the_plan_survives_its_json_file(tmp_path):
    plan = build_plan(4, seed=3, duration_s=40, outage_s=5)
    plan.save(tmp_path / "plan.json")
    assert Plan.load(tmp_path / "plan.json") == plan


def test_nodes_draw_the_same_inputs_and_every_input_has_one_home_and_maybe_a_shadow():
    plan = build_plan(4, seed=7, duration_s=None, outage_s=60)
    seen: dict[int, list[str]] = {}
    records = {}
    for node in plan.nodes:
        for index, batch, position in TransactionStream(plan, node.node_id).block(0):
            seen.setdefault(index, []).append(node.node_id)
            record = batch.record(position)
            assert records.setdefault(index, fingerprint(record)) == fingerprint(record)
    assert len(seen) == 256  # every input is scored by someone
    shadowed = [nodes for nodes in seen.values() if len(nodes) == 2]
    assert 0.2 < len(shadowed) / len(seen) < 0.6
    for nodes in shadowed:  # the home (device or near-edge) and a cloud node
        assert sorted(plan.node(n).tier == "cloud" for n in nodes) == [False, True]
    sessions = [s for n in plan.nodes for _, s in SessionStream(plan, n.node_id).block(1)]
    assert len(sessions) >= 256 and all(len(s.viewed) == 3 for s in sessions)
