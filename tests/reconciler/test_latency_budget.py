"""The latency budget check: each variant's warm p99 over the latency window against the
budget of its tier, a finding while it is over, exact at the edge of the p99."""

from __future__ import annotations

from datetime import timedelta

import pytest

from parallax.config import ReconcilerSettings
from tests.reconciler.fleet import T0, policies

AS_OF = T0 + timedelta(minutes=50)  # every span below started in the hour before
CLOUD_SLOW = "gbm 2.3 fp32 cloud"
CLOUD_EDGE = "gbm 2.2 fp32 cloud"
DEVICE_COLD = "gbm 2.3 int8 device npu"
DEVICE_FEW = "gbm 2.3 int4 device"
RULES = policies(fraud={"latency_budget_ms": 30.0, "latency_budget_ms_by_tier": {"cloud": 10.0}})
BUCKET = 2 ** (1 / 16)  # the histogram's bucket ratio


def timed(fleet, variant: str, durations: list[float], *, cold: bool = False, at: float = 0.0):
    """One span per duration of ``variant``, a second apart from ``at``, on their own inputs."""
    return [
        fleet.answer("fraud", f"{variant}-{at}-{i}", variant, at=at + i, ms=ms, cold=cold)
        for i, ms in enumerate(durations)
    ]


def budgets(fleet) -> dict[str, tuple]:
    return {
        row[0]: row[1:]
        for row in fleet.rows(
            "SELECT variant, hardware_tier, spans, cold_starts, over_budget, budget_ms, verdict "
            "FROM latency_budgets"
        )
    }


def p99(fleet, variant: str) -> float:
    return fleet.rows("SELECT p99_ms FROM latency_budgets WHERE variant = ?", variant)[0][0]


@pytest.fixture
def judged(fleet):
    """Four variants of one feature, 200 or fewer spans each, judged once."""
    fleet.commit(
        timed(fleet, CLOUD_SLOW, [8.0] * 197 + [50.0] * 3)  # 3 of 200 slower: p99 = 50
        + timed(fleet, CLOUD_EDGE, [8.0] * 198 + [50.0] * 2)  # 2 of 200 slower: p99 = 8
        + timed(fleet, DEVICE_COLD, [20.0] * 150)
        + timed(fleet, DEVICE_COLD, [900.0] * 5, cold=True, at=200)
        + timed(fleet, DEVICE_FEW, [100.0] * 50)
    )
    fleet.reconcile(RULES, as_of=AS_OF)
    return fleet


def test_each_variant_is_judged_against_the_budget_of_its_tier_cold_starts_apart(judged):
    # DEVICE_COLD's five 900 ms cold starts would put its p99 over 30 ms if they counted.
    assert budgets(judged) == {
        CLOUD_SLOW: ("cloud", 200, 0, 3, 10.0, "over budget"),
        CLOUD_EDGE: ("cloud", 200, 0, 2, 10.0, "within budget"),
        DEVICE_COLD: ("device", 150, 5, 0, 30.0, "within budget"),
        DEVICE_FEW: ("device", 50, 0, 50, 30.0, "not enough data"),
    }


def test_the_p99_is_the_nearest_rank_one_within_a_bucket_above(judged):
    # 200 spans: the p99 is the 198th fastest (DuckDB's quantile_disc picks the same).
    assert 50.0 <= p99(judged, CLOUD_SLOW) <= 50.0 * BUCKET
    assert p99(judged, CLOUD_EDGE) == 8.0  # a bucket ends at 8 = 2^3
    exact = judged.rows(
        "SELECT quantile_disc(duration_ms, 0.99) FROM spans WHERE px_variant(model_name, "
        "model_version, quantization, hardware_tier, accelerator) = ?",
        CLOUD_EDGE,
    )
    assert exact == [(8.0,)]


def test_only_a_variant_over_its_budget_is_a_finding(judged):
    assert judged.rows("SELECT kind, severity, feature, subject, status FROM findings") == [
        ("latency over budget", "warning", "fraud", CLOUD_SLOW, "open")
    ]
    (detail,) = judged.rows("SELECT detail FROM findings")[0]
    assert detail.startswith("warm p99 5")  # 50 ms, up to one bucket above
    assert "over the 10 ms budget of the cloud tier: 3 of 200 warm spans slower since" in detail
    assert detail.endswith("2026-10-31 23:50 UTC; cold starts left out: 0")


def test_the_finding_resolves_once_the_p99_is_back_under_the_budget(judged):
    judged.commit(timed(judged, CLOUD_SLOW, [8.0] * 200, at=300))  # 3 of 400 slower now
    later = AS_OF + timedelta(minutes=5)
    judged.reconcile(RULES, as_of=later)

    assert budgets(judged)[CLOUD_SLOW][-1] == "within budget"
    assert judged.rows("SELECT subject, status, resolved_at FROM findings") == [
        (CLOUD_SLOW, "resolved", later)
    ]


def test_spans_that_left_the_window_are_no_longer_judged(judged):
    judged.reconcile(RULES, as_of=AS_OF + timedelta(hours=2))

    assert judged.rows("SELECT count(*) FROM latency_histograms") == [(0,)]
    assert budgets(judged) == {}
    assert judged.rows("SELECT status FROM findings") == [("resolved",)]


def test_the_minimum_of_warm_spans_is_a_setting(fleet):
    fleet.commit(timed(fleet, CLOUD_SLOW, [50.0] * 20))

    fleet.reconcile(RULES, as_of=AS_OF, settings=ReconcilerSettings(latency_min_spans=20))

    assert budgets(fleet)[CLOUD_SLOW][-1] == "over budget"
