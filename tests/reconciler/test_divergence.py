"""Divergences and variant pairs: exact inputs, rates, Wilson intervals and verdicts."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from tests.reconciler.fleet import policies

FP32 = "gbm 2.3 fp32 cloud"
INT8 = "gbm 2.3 int8 device"
NOISY = "gbm 2.3 fp16 near-edge"
FRAUD = policies(fraud={"comparator": "label", "tolerance": 0.02, "min_shared_inputs": 30})


def wilson(disagreements: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval, written out independently of the SQL."""
    z = NormalDist().inv_cdf(0.975)
    p = disagreements / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def truth(i: int) -> str:
    return "fraud" if i % 5 == 0 else "legit"


def flipped(label: str) -> str:
    return "legit" if label == "fraud" else "fraud"


def test_a_quantized_variant_that_flips_7_percent_is_diverging_with_exact_inputs_and_interval(
    fleet,
):
    spans = []
    for i in range(1000):
        spans.append(fleet.answer("fraud", f"in-{i}", FP32, at=i, label=truth(i)))
        label = flipped(truth(i)) if i % 100 < 7 else truth(i)
        spans.append(fleet.answer("fraud", f"in-{i}", INT8, at=i + 5, node="edge-7", label=label))
    fleet.commit(spans)

    fleet.reconcile(FRAUD)

    pair = fleet.rows(
        "SELECT variant_a, variant_b, shared_inputs, disagreements, disagreement_rate, rate_low,"
        " rate_high, noise_floor, verdict FROM variant_pairs"
    )
    low, high = wilson(70, 1000)
    assert pair == [(FP32, INT8, 1000, 70, 0.07, pytest.approx(low), pytest.approx(high), None,
                     "diverging")]  # fmt: skip
    assert (low, high) == pytest.approx((0.0558, 0.0875), abs=5e-5)
    diverging = fleet.rows(
        "SELECT input_fingerprint, output_a, output_b, node_a, node_b FROM divergences"
        " ORDER BY input_fingerprint"
    )
    expected = sorted(f"in-{i}" for i in range(1000) if i % 100 < 7)
    assert [row[0] for row in diverging] == expected
    assert diverging[0] == ("in-0", "fraud", "legit", "node-1", "edge-7")


def test_a_merely_noisy_variant_is_judged_against_its_noise_floor_not_flagged(fleet):
    spans = []
    for i in range(1000):
        spans.append(fleet.answer("fraud", f"in-{i}", FP32, at=i, label=truth(i)))
        first = flipped(truth(i)) if i % 20 == 0 else truth(i)  # 5% off on one node
        second = flipped(truth(i)) if i % 20 == 10 else truth(i)  # another 5% on a repeat
        spans.append(fleet.answer("fraud", f"in-{i}", NOISY, at=i + 1, node="a", label=first))
        spans.append(fleet.answer("fraud", f"in-{i}", NOISY, at=i + 2, node="b", label=second))
    fleet.commit(spans)

    fleet.reconcile(FRAUD)

    rows = dict(
        ((a, b), (n, d, floor, verdict))
        for a, b, n, d, floor, verdict in fleet.rows(
            "SELECT variant_a, variant_b, shared_inputs, disagreements, noise_floor, verdict "
            "FROM variant_pairs"
        )
    )
    assert rows[(NOISY, NOISY)] == (1000, 100, 0.1, "noise floor")
    # 5% disagreement with fp32: above the 2% tolerance, but not above the noise floor.
    assert rows[(NOISY, FP32)] == (1000, 50, 0.1, "within tolerance")


def test_a_pair_with_fewer_shared_inputs_than_the_minimum_is_not_judged(fleet):
    spans = []
    for i in range(29):
        spans.append(fleet.answer("fraud", f"in-{i}", FP32, label="legit"))
        spans.append(fleet.answer("fraud", f"in-{i}", INT8, label="fraud"))
    fleet.commit(spans)

    fleet.reconcile(FRAUD)

    assert fleet.rows("SELECT shared_inputs, disagreements, verdict FROM variant_pairs") == [
        (29, 29, "not enough data")
    ]


def test_answers_further_apart_than_the_window_are_not_compared(fleet):
    fleet.commit(
        [
            fleet.answer("fraud", "near", FP32, at=0, label="legit"),
            fleet.answer("fraud", "near", INT8, at=60, label="fraud"),
            fleet.answer("fraud", "far", FP32, at=0, label="legit"),
            fleet.answer("fraud", "far", INT8, at=7201, label="fraud"),
        ]
    )

    fleet.reconcile(policies(fraud={"window_s": 7200.0}))

    assert fleet.rows("SELECT input_fingerprint FROM divergences") == [("near",)]


def test_score_comparator_counts_differences_beyond_the_absolute_tolerance(fleet):
    eta = policies(eta={"comparator": "score", "tolerance": 0.05, "min_shared_inputs": 3})
    fleet.commit(
        [
            fleet.answer("eta", "a", FP32, score=0.50),
            fleet.answer("eta", "a", INT8, score=0.54),
            fleet.answer("eta", "b", FP32, score=0.50),
            fleet.answer("eta", "b", INT8, score=0.60),
            fleet.answer("eta", "c", FP32, score=0.20),
            fleet.answer("eta", "c", INT8, score=0.20),
        ]
    )

    fleet.reconcile(eta)

    assert fleet.rows("SELECT input_fingerprint, output_a, output_b FROM divergences") == [
        ("b", "0.5", "0.6")
    ]
    (mean, p95, rate) = fleet.rows(
        "SELECT mean_abs_delta, p95_abs_delta, disagreement_rate FROM variant_pairs"
    )[0]
    assert mean == pytest.approx((0.04 + 0.10 + 0.0) / 3)
    assert p95 == pytest.approx(0.04 + 0.9 * (0.10 - 0.04))  # linear interpolation
    assert rate == pytest.approx(1 / 3)


def test_topk_comparator_uses_the_overlap_of_the_lists(fleet):
    recs = policies(recs={"comparator": "topk", "topk_min_overlap": 0.8})
    base = [f"item-{n}" for n in range(10)]
    fleet.commit(
        [
            fleet.answer("recs", "two-swapped", FP32, topk=base),
            fleet.answer("recs", "two-swapped", INT8, topk=[*base[:8], "x", "y"]),
            fleet.answer("recs", "three-swapped", FP32, topk=base),
            fleet.answer("recs", "three-swapped", INT8, topk=[*base[:7], "x", "y", "z"]),
        ]
    )

    fleet.reconcile(recs)

    assert fleet.rows(
        "SELECT input_fingerprint, topk_overlap, disagrees FROM comparisons ORDER BY 1"
    ) == [("three-swapped", 0.7, True), ("two-swapped", 0.8, False)]


def test_digest_comparator_needs_equal_hashes_and_skips_answers_without_one(fleet):
    gen = policies(gen={"comparator": "digest"})
    fleet.commit(
        [
            fleet.answer("gen", "same", FP32, digest="abc"),
            fleet.answer("gen", "same", INT8, digest="abc"),
            fleet.answer("gen", "different", FP32, digest="abc"),
            fleet.answer("gen", "different", INT8, digest="abd"),
            fleet.answer("gen", "missing", FP32, digest="abc"),
            fleet.answer("gen", "missing", INT8, label="no digest"),
        ]
    )

    fleet.reconcile(gen)

    assert fleet.rows("SELECT input_fingerprint, disagrees FROM comparisons ORDER BY 1") == [
        ("different", True),
        ("same", False),
    ]


def test_a_span_delivered_twice_is_one_answer_not_a_repeat(fleet):
    span = fleet.answer("fraud", "in-1", FP32, label="legit")
    fleet.commit([span])
    fleet.commit([span])  # an at-least-once exporter retried

    fleet.reconcile(FRAUD)

    assert fleet.rows("SELECT answers, variants FROM reconciled") == [(1, 1)]
    assert fleet.rows("SELECT count(*) FROM reconcile_repeats") == [(0,)]
    assert fleet.rows("SELECT count(*) FROM variant_pairs") == [(0,)]
