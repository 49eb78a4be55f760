"""Incremental runs are exact: they end where a rebuild from scratch ends, late data too."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from parallax.config import ReconcilerSettings
from tests.reconciler.fleet import T0, policies

RULES = policies(
    fraud={"comparator": "label", "min_shared_inputs": 5, "resolution": "majority"},
    eta={"comparator": "score", "tolerance": 0.05, "min_shared_inputs": 5,
         "resolution": "newest"},
    recs={"comparator": "topk", "min_shared_inputs": 5, "resolution": "highest_precision",
          "latency_budget_ms_by_tier": {"device": 25.0}},
)  # fmt: skip
# The latency window (two hours before LATER) holds some of the late spans, not all.
SETTINGS = ReconcilerSettings(latency_window_s=2 * 3600, latency_min_spans=5)
LATER = T0 + timedelta(hours=1)
VARIANTS = [
    "gbm 2.1 fp32 cloud",
    "gbm 2.3 fp32 cloud",
    "gbm 2.3 int8 device",
    "gbm 2.3 int4 device npu",
    "gbm 2.3 fp16 near-edge",
    "gbm 2.1 int8 near-edge",
]
DERIVED_TABLES = [
    "reconcile_repeats",
    "comparisons",
    "variant_pairs",
    "reconciled",
    "output_histograms",
    "output_drift",
    "traffic_hourly",
    "version_share",
    "skew",
    "latency_histograms",
    "latency_budgets",
]


def random_spans(fleet, rng: random.Random, count: int, late: bool) -> list[dict]:
    """Spans over 40 inputs per feature, so inputs recur across batches; some arrive late."""
    spans = []
    for _ in range(count):
        feature = rng.choice(["fraud", "eta", "recs"])
        item = rng.randrange(40)
        at = item * 60 + rng.uniform(0, 30) - (3 * 3600 * rng.random() if late else 0)
        kwargs = {
            "fraud": {"label": rng.choice(["fraud", "legit", "legit"])},
            "eta": {"score": round(rng.uniform(0.3, 0.5), 3)},
            "recs": {"topk": rng.sample([f"i{n}" for n in range(12)], 10)},
        }[feature]
        spans.append(
            fleet.answer(
                feature, f"{feature}-{item}", rng.choice(VARIANTS), at=at,
                node=f"node-{rng.randrange(6)}", ms=round(rng.lognormvariate(2.5, 0.5), 2),
                cold=rng.random() < 0.05, **kwargs,
            )
        )  # fmt: skip
    if spans:
        spans.append(dict(rng.choice(spans)))  # a duplicate delivery
    return spans


def snapshot(fleet) -> dict[str, list[tuple]]:
    def rounded(value):
        return round(value, 9) if isinstance(value, float) else value

    return {
        table: [
            tuple(map(rounded, row)) for row in fleet.rows(f"SELECT * FROM {table} ORDER BY ALL")
        ]
        for table in DERIVED_TABLES
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_runs_over_late_data_equal_a_full_rebuild(fleet, seed):
    rng = random.Random(seed)
    for batch in range(6):
        fleet.commit(random_spans(fleet, rng, 150, late=batch >= 3))
        if batch % 2:
            fleet.commit(random_spans(fleet, rng, 40, late=True))  # two commits in one run
        fleet.reconcile(RULES, settings=SETTINGS, as_of=LATER)
    incremental = snapshot(fleet)
    assert all(incremental.values())
    verdicts = {row[-1] for row in incremental["latency_budgets"]}
    assert {"over budget", "within budget"} <= verdicts

    fleet.reconcile(RULES, full=True, settings=SETTINGS, as_of=LATER)

    assert snapshot(fleet) == incremental


def test_incremental_runs_as_the_latency_window_moves_on_equal_a_full_rebuild(fleet):
    rng = random.Random(5)
    for run in range(5):
        fleet.commit(random_spans(fleet, rng, 120, late=run >= 2))
        fleet.reconcile(RULES, settings=SETTINGS, as_of=LATER + timedelta(minutes=10 * run))
    incremental = snapshot(fleet)
    window_start = LATER + timedelta(minutes=40) - timedelta(hours=2)
    assert fleet.rows("SELECT min(minute) = ? FROM latency_histograms", window_start) == [(True,)]

    fleet.reconcile(RULES, full=True, settings=SETTINGS, as_of=LATER + timedelta(minutes=40))

    assert snapshot(fleet) == incremental


def test_running_again_without_new_spans_changes_nothing(fleet):
    rng = random.Random(9)
    fleet.commit(random_spans(fleet, rng, 300, late=False))
    fleet.reconcile(RULES)
    before = snapshot(fleet)

    report = fleet.reconcile(RULES)

    assert (report.mode, report.new_spans, report.groups_recomputed) == ("incremental", 0, 0)
    assert snapshot(fleet) == before


def test_a_late_span_reopens_its_group_and_the_pair_statistics(fleet):
    fp32, int8 = "gbm 2.3 fp32 cloud", "gbm 2.3 int8 device"
    fleet.commit(
        [fleet.answer("fraud", f"in-{i}", v, at=i, label="legit") for i in range(5)
         for v in (fp32, int8)]
    )  # fmt: skip
    fleet.reconcile(RULES)
    assert fleet.rows("SELECT disagreements, verdict FROM variant_pairs") == [
        (0, "within tolerance")
    ]

    # Hours later a node reconnects: its int4 build answered in-0 first, and differently.
    int4 = "gbm 2.3 int4 device"
    fleet.commit([fleet.answer("fraud", "in-0", int4, at=-1, label="fraud")])
    report = fleet.reconcile(RULES)

    assert report.groups_recomputed == 1
    assert fleet.rows(
        "SELECT variant_a, variant_b, input_fingerprint FROM divergences ORDER BY ALL"
    ) == [(fp32, int4, "in-0"), (int4, int8, "in-0")]
    assert fleet.rows(
        "SELECT canonical_variant, output_label, agreed FROM reconciled"
        " WHERE input_fingerprint = 'in-0'"
    ) == [(fp32, "legit", False)]


def test_the_first_run_on_a_lake_is_a_full_one_and_records_its_watermark(fleet):
    fleet.commit([fleet.answer("fraud", "x", "gbm 2.3 fp32 cloud", label="legit")])

    first = fleet.reconcile(RULES)
    second = fleet.reconcile(RULES)

    assert (first.mode, first.new_spans) == ("full", 1)
    assert second.from_snapshot == first.to_snapshot
    assert fleet.rows("SELECT run_id, mode, new_spans FROM reconcile_runs ORDER BY run_id") == [
        (1, "full", 1),
        (2, "incremental", 0),
    ]


def test_a_full_rebuild_in_slices_equals_one_in_one_piece(fleet, monkeypatch):
    rng = random.Random(4)
    fleet.commit(random_spans(fleet, rng, 400, late=True))
    fleet.reconcile(RULES, full=True)
    whole = snapshot(fleet)

    monkeypatch.setattr("reconciler.run.SLICE_SPANS", 50)  # 9 slices
    fleet.reconcile(RULES, full=True)

    assert snapshot(fleet) == whole
