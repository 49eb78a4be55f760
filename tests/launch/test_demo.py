"""`parallax demo --headless`: a short run leaves in the lake everything the issue promises.

One real run (server, 4 collectors, 4 apps, a cut link) of 50 seconds, then the lake is
read read-only. Nothing here depends on timing beyond the run itself: the plan and the
input streams are deterministic by seed, and the demo waits for delivery before it stops
the collectors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from launch.demo.plan import Plan
from parallax.config import StoreSettings, without_settings_env
from tests.servers import lake_rows

NODES, DURATION_S, OUTAGE_S = 4, 50, 10


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    lake = tmp_path_factory.mktemp("demo") / "lake"
    command = [
        sys.executable, "-m", "launch.cli", "demo", "--lake", str(lake), "--headless",
        "--nodes", str(NODES), "--duration", str(DURATION_S), "--outage-s", str(OUTAGE_S),
        "--seed", "7",
    ]  # fmt: skip
    env = without_settings_env(os.environ)
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    return result, lake


@pytest.fixture(scope="module")
def plan(demo_run) -> Plan:
    return Plan.load(demo_run[1] / "demo" / "plan.json")


@pytest.fixture(scope="module")
def store(demo_run) -> StoreSettings:
    return StoreSettings(path=str(demo_run[1]))


def produced(lake: Path, node_id: str) -> dict:
    return json.loads((lake / "demo" / "nodes" / node_id / "counts.json").read_text())


@pytest.mark.slow
def test_the_demo_exits_cleanly_and_so_does_every_process_it_started(demo_run, plan):
    result, lake = demo_run
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    exits = json.loads((lake / "demo" / "exits.json").read_text())
    nodes = [node.node_id for node in plan.nodes]
    expected = {"server"} | {f"collector-{n}" for n in nodes} | {f"app-{n}" for n in nodes}
    assert exits == dict.fromkeys(expected, 0)
    assert "parallax sql --lake" in result.stdout
    assert "Demo summary" in result.stdout


@pytest.mark.slow
def test_every_node_reports_in_the_nodes_table(store, plan):
    rows = lake_rows(store, "SELECT node_id, hardware_tier, region FROM nodes ORDER BY 1")
    assert rows == sorted((n.node_id, n.tier, n.region) for n in plan.nodes)


@pytest.mark.slow
def test_every_variant_the_apps_ran_has_spans_in_the_lake(demo_run, store, plan):
    lake = demo_run[1]
    expected = {
        (row["feature"], row["model"], row["version"], row["quantization"], node.tier)
        for node in plan.nodes
        for row in produced(lake, node.node_id)["spans"]
    }
    found = set(
        lake_rows(
            store,
            "SELECT DISTINCT feature, model_name, model_version, quantization, hardware_tier "
            "FROM spans",
        )
    )
    assert found == expected
    assert {v[2] for v in found} == {"2.1", "2.2", "2.3", "1.4"}
    assert {v[3] for v in found} == {"fp32", "fp16", "int8"}


@pytest.mark.slow
def test_the_lagging_node_violates_the_skew_tolerance_and_only_it(store, plan):
    lagging = next(node for node in plan.nodes if node.lagging)
    violations = lake_rows(
        store,
        "SELECT node_id, model_version, newest_version, versions_behind, source FROM skew "
        "WHERE feature = 'fraud-scoring' AND violation",
    )
    assert violations == [(lagging.node_id, "2.1", "2.3", 2, "inventory")]
    findings = lake_rows(
        store, "SELECT subject FROM findings WHERE kind = 'skew violation' AND status = 'open'"
    )
    assert findings == [(lagging.node_id,)]


@pytest.mark.slow
def test_int8_and_fp32_builds_of_one_version_really_diverge(store):
    pairs = lake_rows(
        store,
        "SELECT variant_a, variant_b FROM variant_pairs "
        "WHERE feature = 'fraud-scoring' AND verdict = 'diverging'",
    )
    same_version = [
        (a, b)
        for a, b in pairs
        if a.split()[1] == b.split()[1] and {a.split()[2], b.split()[2]} == {"int8", "fp32"}
    ]
    assert same_version, pairs
    fp16_pairs = lake_rows(
        store,
        "SELECT max(disagreement_rate) FROM variant_pairs WHERE feature = 'fraud-scoring' "
        "AND split_part(variant_a, ' ', 2) = split_part(variant_b, ' ', 2) "
        "AND variant_a LIKE '% fp16 %' AND variant_b LIKE '% fp32 %'",
    )
    assert fp16_pairs[0][0] is not None and fp16_pairs[0][0] < 0.02  # fp16 rarely differs


@pytest.mark.slow
def test_the_offline_node_backfills_every_span_its_app_produced_once(demo_run, store, plan):
    offline = next(node for node in plan.nodes if node.outage)
    counts = produced(demo_run[1], offline.node_id)
    expected = sorted(
        (row["feature"], row["version"], row["quantization"], row["spans"])
        for row in counts["spans"]
    )
    in_lake = lake_rows(
        store,
        "SELECT feature, model_version, quantization, count(*), count(DISTINCT span_id) "
        "FROM spans WHERE node_id = ? GROUP BY ALL ORDER BY ALL",
        [offline.node_id],
    )
    assert [row[:4] for row in in_lake] == expected
    assert all(row[3] == row[4] for row in in_lake)  # no span stored twice
    start, end = offline.outage
    (late,) = lake_rows(
        store,
        "SELECT count(*) FROM spans WHERE node_id = ? "
        "AND epoch(ingested_at) - epoch(start_time) > ?",
        [offline.node_id, (end - start) / 2],
    )
    assert late[0] > 0  # spans of the outage arrived after it: buffered, then backfilled


@pytest.mark.slow
def test_the_cold_start_is_one_slow_span_of_the_cold_node(store, plan):
    cold = next(node for node in plan.nodes if node.recs_cold_start)
    rows = lake_rows(
        store,
        "SELECT node_id, feature, duration_ms FROM spans WHERE cold_start ORDER BY start_time",
    )
    assert [row[:2] for row in rows] == [(cold.node_id, "product-recs")]
    assert rows[0][2] >= 1000
