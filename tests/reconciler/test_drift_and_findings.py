"""Output drift without shared inputs, and findings that open, stay open and resolve."""

from __future__ import annotations

from datetime import timedelta

from parallax.config import ReconcilerSettings
from tests.reconciler.fleet import AS_OF, policies

FP32 = "gbm 2.3 fp32 cloud"
INT4 = "gbm 2.3 int4 device"
INT8 = "gbm 2.3 int8 device"
SETTINGS = ReconcilerSettings(drift_min_answers=100)


def scored(fleet, variant: str, scores: list[float], prefix: str) -> list[dict]:
    return [
        fleet.answer("fraud", f"{prefix}-{n}", variant, at=n, score=s) for n, s in enumerate(scores)
    ]


def test_variants_without_shared_inputs_show_drift_in_their_score_distributions(fleet):
    low = [0.05 + 0.1 * (n % 3) for n in range(200)]  # scores 0.05 .. 0.25
    high = [0.65 + 0.1 * (n % 3) for n in range(200)]  # scores 0.65 .. 0.85
    fleet.commit(
        scored(fleet, FP32, low, "a")
        + scored(fleet, INT8, low, "b")
        + scored(fleet, INT4, high, "c")
    )

    fleet.reconcile(policies(fraud={"comparator": "score"}), settings=SETTINGS)

    drift = {
        (a, b): (shared, verdict)
        for a, b, shared, verdict in fleet.rows(
            "SELECT variant_a, variant_b, shared_inputs, verdict FROM output_drift"
        )
    }
    assert drift == {
        (FP32, INT4): (0, "drifting"),
        (FP32, INT8): (0, "stable"),
        (INT4, INT8): (0, "drifting"),
    }
    psi = fleet.rows(
        "SELECT score_psi FROM output_drift WHERE variant_a = ? AND variant_b = ?", FP32, INT8
    )[0][0]
    assert psi == 0.0  # identical distributions
    assert fleet.rows("SELECT kind, severity, subject FROM findings ORDER BY subject") == [
        ("output drift", "info", f"{FP32} vs {INT4}"),
        ("output drift", "info", f"{INT4} vs {INT8}"),
    ]


def test_too_few_answers_are_not_judged_for_drift(fleet):
    fleet.commit(scored(fleet, FP32, [0.1] * 20, "a") + scored(fleet, INT4, [0.9] * 20, "b"))

    fleet.reconcile(policies(fraud={"comparator": "score"}), settings=SETTINGS)

    assert fleet.rows("SELECT verdict FROM output_drift") == [("not enough data",)]


def test_a_skew_finding_opens_stays_open_and_resolves_once_the_node_upgrades(fleet):
    rules = policies(fraud={"max_versions_behind": 0})
    fleet.commit(
        [
            fleet.answer("fraud", "a", "gbm 2.3 fp32 cloud", at=0, node="edge", label="x"),
            fleet.answer("fraud", "b", "gbm 2.1 fp32 cloud", at=10, node="lagging", label="x"),
        ]
    )
    fleet.reconcile(rules, as_of=AS_OF)
    fleet.reconcile(rules, as_of=AS_OF + timedelta(hours=1))
    opened = fleet.rows("SELECT kind, subject, status, first_seen, last_seen FROM findings")
    assert opened == [("skew violation", "lagging", "open", AS_OF, AS_OF + timedelta(hours=1))]

    fleet.commit(
        [fleet.answer("fraud", "c", "gbm 2.3 fp32 cloud", at=20, node="lagging", label="x")]
    )
    fleet.reconcile(rules, as_of=AS_OF + timedelta(hours=2))

    assert fleet.rows("SELECT status, first_seen, resolved_at FROM findings") == [
        ("resolved", AS_OF, AS_OF + timedelta(hours=2))
    ]


def test_a_diverging_pair_is_a_finding_with_its_rate_and_interval(fleet):
    spans = []
    for i in range(200):
        spans.append(fleet.answer("fraud", f"in-{i}", FP32, at=i, label="legit"))
        spans.append(
            fleet.answer("fraud", f"in-{i}", INT4, at=i, label="fraud" if i % 5 == 0 else "legit")
        )
    fleet.commit(spans)

    fleet.reconcile(policies(fraud={"tolerance": 0.02}))

    (severity, subject, detail) = fleet.rows("SELECT severity, subject, detail FROM findings")[0]
    assert (severity, subject) == ("critical", f"{FP32} vs {INT4}")
    assert detail.startswith("disagree on 20.0% of 200 shared inputs (95% interval 15.0-26.1%)")
