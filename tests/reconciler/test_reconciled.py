"""reconciled: one canonical answer per input, chosen by the feature's resolution."""

from __future__ import annotations

from tests.reconciler.fleet import policies

FP32_23 = "gbm 2.3 fp32 cloud"
INT8_23 = "gbm 2.3 int8 device"
FP16_23 = "gbm 2.3 fp16 near-edge"
FP32_21 = "gbm 2.1 fp32 cloud"
INT4_24 = "gbm 2.4 int4 device"
REFERENCE_21_ELSE_PRECISION = {
    "resolution": "reference",
    "reference_variant": FP32_21,
    "reference_fallback": "highest_precision",
}


def canonical(fleet) -> dict[str, tuple]:
    rows = fleet.rows(
        "SELECT input_fingerprint, canonical_variant, resolved_by, output_label, variants,"
        " agreeing_variants, agreed FROM reconciled"
    )
    return {row[0]: row[1:] for row in rows}


def answers(fleet, fingerprint: str, labels: dict[str, str]) -> list[dict]:
    return [
        fleet.answer("fraud", fingerprint, variant, at=n, label=label)
        for n, (variant, label) in enumerate(labels.items())
    ]


def test_reference_answer_is_canonical_and_the_fallback_applies_when_it_did_not_answer(fleet):
    rules = policies(fraud=REFERENCE_21_ELSE_PRECISION)
    fleet.commit(
        answers(fleet, "with-ref", {FP32_21: "legit", FP32_23: "fraud", INT8_23: "fraud"})
        + answers(fleet, "without-ref", {INT8_23: "fraud", FP16_23: "legit"})
    )

    fleet.reconcile(rules)

    assert canonical(fleet) == {
        "with-ref": (FP32_21, "reference", "legit", 3, 1, False),
        "without-ref": (FP16_23, "highest_precision", "legit", 2, 1, False),
    }


def test_reference_without_fallback_leaves_the_input_unresolved(fleet):
    rules = policies(
        fraud={
            "resolution": "reference",
            "reference_variant": FP32_21,
            "reference_fallback": "none",
        }
    )
    fleet.commit(answers(fleet, "x", {INT8_23: "fraud"}))

    fleet.reconcile(rules)

    assert canonical(fleet) == {"x": (None, "none", None, 1, 0, True)}


def test_newest_prefers_the_highest_version_then_precision(fleet):
    fleet.commit(answers(fleet, "x", {FP32_21: "a", INT8_23: "b", FP32_23: "c"}))

    fleet.reconcile(policies(fraud={"resolution": "newest"}))

    assert canonical(fleet)["x"][:3] == (FP32_23, "newest", "c")


def test_highest_precision_ties_go_to_the_newest_version(fleet):
    fleet.commit(answers(fleet, "x", {FP32_21: "a", FP32_23: "b", INT4_24: "c"}))

    fleet.reconcile(policies(fraud={"resolution": "highest_precision"}))

    assert canonical(fleet)["x"][:3] == (FP32_23, "highest_precision", "b")


def test_majority_takes_the_answer_most_variants_agree_with(fleet):
    fleet.commit(
        answers(fleet, "x", {FP32_23: "legit", INT8_23: "fraud", INT4_24: "fraud"})
        + answers(fleet, "tie", {FP32_21: "legit", INT4_24: "fraud"})
    )

    fleet.reconcile(policies(fraud={"resolution": "majority"}))

    result = canonical(fleet)
    # Two of three say fraud; among them the most precise (int8 before int4) is canonical.
    assert result["x"] == (INT8_23, "majority", "fraud", 3, 2, False)
    # One vote each: the tie goes to the highest precision.
    assert result["tie"] == (FP32_21, "majority", "legit", 2, 1, False)


def test_a_single_answer_is_its_own_canonical_answer_and_agrees(fleet):
    fleet.commit(answers(fleet, "alone", {INT8_23: "fraud"}))

    fleet.reconcile()

    assert canonical(fleet) == {"alone": (INT8_23, "majority", "fraud", 1, 1, True)}


def test_an_input_with_one_span_gets_the_row_the_general_path_gives_a_repeated_one(fleet):
    # One span takes the short path (nothing to aggregate or compare); two spans of one
    # variant take the general one: the rows differ only in the answers counted.
    rules = policies(fraud=REFERENCE_21_ELSE_PRECISION)
    fleet.commit(
        [
            fleet.answer("fraud", "once-ref", FP32_21, at=0, label="legit"),
            fleet.answer("fraud", "twice-ref", FP32_21, at=0, label="legit"),
            fleet.answer("fraud", "twice-ref", FP32_21, at=1, label="legit"),
            fleet.answer("fraud", "once-other", INT8_23, at=0, label="fraud"),
            fleet.answer("fraud", "twice-other", INT8_23, at=0, label="fraud"),
            fleet.answer("fraud", "twice-other", INT8_23, at=1, label="fraud"),
        ]
    )

    fleet.reconcile(rules)

    rows = fleet.rows(
        "SELECT input_fingerprint, canonical_variant, resolved_by, output_label, variants,"
        " agreeing_variants, agreed, answers FROM reconciled"
    )
    assert {row[0]: row[1:] for row in rows} == {
        "once-ref": (FP32_21, "reference", "legit", 1, 1, True, 1),
        "twice-ref": (FP32_21, "reference", "legit", 1, 1, True, 2),
        "once-other": (INT8_23, "highest_precision", "fraud", 1, 1, True, 1),
        "twice-other": (INT8_23, "highest_precision", "fraud", 1, 1, True, 2),
    }
