"""Skew: versions in use, how far each node is behind, and the tolerance violations."""

from __future__ import annotations

from datetime import timedelta

from parallax.config import ReconcilerSettings
from tests.reconciler.fleet import AS_OF, T0, policies

DAY = 86400.0
DAYS_BEFORE_AS_OF = (AS_OF - T0).total_seconds() / DAY


def served(fleet, feature: str, version: str, node: str, days_ago: float) -> dict:
    at = (DAYS_BEFORE_AS_OF - days_ago) * DAY
    return fleet.answer(feature, f"{node}-{version}-{days_ago}", f"gbm {version} fp32 cloud",
                        at=at, node=node, label="legit")  # fmt: skip


def add_node(fleet, node_id: str, versions: list[str], seen_days_ago: float = 0.0) -> None:
    seen = AS_OF - timedelta(days=seen_days_ago)
    models = [{"model_name": "gbm", "model_version": v, "quantization": "fp32",
               "loaded": True, "warm": True} for v in versions]  # fmt: skip
    fleet.con.execute(
        "INSERT INTO nodes (node_id, models, heartbeat_seq, first_seen_at, last_seen_at,"
        " heartbeat_count) VALUES (?, ?, 1, ?, ?, 1)",
        [node_id, models, seen, seen],
    )


def skew_rows(fleet) -> dict[str, tuple]:
    rows = fleet.rows(
        "SELECT node_id, model_version, newest_version, versions_behind, round(days_behind, 3),"
        " source, violation, reason FROM skew"
    )
    return {row[0]: row[1:] for row in rows}


def test_nodes_two_versions_behind_a_feature_that_tolerates_one_are_violations(fleet):
    fleet.commit(
        [
            served(fleet, "fraud", "2.1", "old", days_ago=1),
            served(fleet, "fraud", "2.2", "middle", days_ago=1),
            served(fleet, "fraud", "2.3", "new", days_ago=3),
        ]
    )

    fleet.reconcile(policies(fraud={"max_versions_behind": 1, "max_days_behind": 30.0}))

    assert skew_rows(fleet) == {
        "old": ("2.1", "2.3", 2, 3.0, "traffic", True, "2 versions behind 2.3 (tolerates 1)"),
        "middle": ("2.2", "2.3", 1, 3.0, "traffic", False, None),
        "new": ("2.3", "2.3", 0, None, "traffic", False, None),
    }
    assert fleet.rows(
        "SELECT model_version, version_rank, traffic_spans, round(traffic_share, 4), nodes"
        " FROM version_share ORDER BY version_rank"
    ) == [("2.3", 0, 1, 0.3333, 1), ("2.2", 1, 1, 0.3333, 1), ("2.1", 2, 1, 0.3333, 1)]


def test_a_version_ten_days_old_is_within_a_thirty_day_tolerance_and_forty_is_not(fleet):
    fleet.commit(
        [
            served(fleet, "recent", "2.3", "upgraded", days_ago=10),
            served(fleet, "recent", "2.1", "lagging", days_ago=0.5),
            served(fleet, "stale", "2.3", "upgraded", days_ago=40),
            served(fleet, "stale", "2.1", "lagging", days_ago=0.5),
        ]
    )
    tolerance = {"max_versions_behind": 1, "max_days_behind": 30.0}
    fleet.reconcile(
        policies(recent=tolerance, stale=tolerance),
        settings=ReconcilerSettings(skew_window_s=60 * DAY),
    )

    violations = fleet.rows("SELECT feature, node_id, reason FROM skew WHERE violation")
    assert violations == [("stale", "lagging", "40.0 days behind (tolerates 30)")]


def test_node_inventory_says_what_a_node_runs_even_without_recent_traffic(fleet):
    fleet.commit(
        [
            served(fleet, "fraud", "2.3", "cloud-1", days_ago=2),
            served(fleet, "fraud", "2.1", "edge-1", days_ago=1),  # its traffic says 2.1 ...
        ]
    )
    add_node(fleet, "edge-1", ["2.3"])  # ... but it has upgraded since
    add_node(fleet, "edge-2", ["2.1", "2.2"], seen_days_ago=0.1)  # silent, two loaded
    add_node(fleet, "gone", ["1.0"], seen_days_ago=30)  # outside the skew window

    fleet.reconcile(policies(fraud={"max_versions_behind": 0}))

    rows = skew_rows(fleet)
    assert rows["edge-1"][:5] == ("2.3", "2.3", 0, None, "inventory")
    assert rows["edge-2"][:3] == ("2.2", "2.3", 1)  # the newest it has loaded
    assert rows["edge-2"][5] is True
    assert "gone" not in rows
