"""Per-feature policies: the example loads, defaults apply, every mistake is named precisely."""

from __future__ import annotations

import dataclasses

import pytest

from parallax.conventions import HardwareTier, Quantization
from parallax.errors import ConfigError
from parallax.versions import version_key
from reconciler.errors import PolicyError
from reconciler.policies import Comparator, Resolution
from reconciler.policy_file import BUILTIN_DEFAULTS, KEYS, builtin_policies, load_policies
from reconciler.variants import Variant, precision_rank, rank_by_precision, rank_by_version


def write(tmp_path, text: str):
    path = tmp_path / "policies.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_policies_file_loads_with_the_documented_values(repo_root):
    policies = load_policies(repo_root / "deploy" / "policies.toml")

    fraud = policies.for_feature("fraud-scoring")
    assert fraud.comparator is Comparator.LABEL
    assert fraud.tolerance == 0.02
    assert fraud.resolution is Resolution.REFERENCE
    assert fraud.reference_variant == Variant(
        "fraud-gbm", "2.3", Quantization.FP32, HardwareTier.CLOUD
    )
    assert fraud.max_versions_behind == 1

    recs = policies.for_feature("product-recs")
    assert recs.comparator is Comparator.TOPK
    assert recs.topk_min_overlap == 0.8
    assert recs.resolution is Resolution.MAJORITY
    assert recs.max_days_behind == 30.0


def test_a_feature_without_a_table_gets_the_defaults_under_its_own_name(tmp_path):
    policies = load_policies(write(tmp_path, "[defaults]\nwindow_s = 600\n"))

    policy = policies.for_feature("search-ranking")

    assert policy.feature == "search-ranking"
    assert policy.window_s == 600.0
    assert dataclasses.replace(policy, feature="") == policies.defaults


def test_defaults_fill_the_keys_a_feature_omits_and_the_feature_wins_where_it_sets_one(tmp_path):
    text = """
[defaults]
min_shared_inputs = 100
max_days_behind = 7
[features.eta]
comparator = "score"
tolerance = 0.5
min_shared_inputs = 10
"""
    policy = load_policies(write(tmp_path, text)).for_feature("eta")

    assert policy.min_shared_inputs == 10
    assert policy.max_days_behind == 7.0
    assert policy.window_s == BUILTIN_DEFAULTS["window_s"]
    assert policy.tolerance == 0.5
    assert policy.disagreement_rate_tolerance == BUILTIN_DEFAULTS["max_disagreement_rate"]


def test_with_no_file_every_feature_gets_the_built_in_defaults():
    policy = builtin_policies().for_feature("anything")

    assert policy.comparator is Comparator.LABEL
    assert policy.tolerance == 0.02
    assert policy.window_s == 3600.0
    assert policy.min_shared_inputs == 30
    assert policy.resolution is Resolution.MAJORITY
    assert policy.reference_variant is None
    assert (policy.max_versions_behind, policy.max_days_behind) == (1, 30.0)


def test_every_key_and_its_built_in_default_is_documented(repo_root):
    reference = (repo_root / "docs" / "policies.md").read_text(encoding="utf-8")
    missing = [key for key in KEYS if f"`{key}`" not in reference]
    assert not missing, f"undocumented policy keys: {missing}"


ERRORS = [
    pytest.param(
        '[features.fraud-scoring]\ncomparator = "exact"\n',
        "fraud-scoring",
        "comparator",
        "must be one of label, score, topk, digest (got 'exact')",
        id="comparator-not-a-choice",
    ),
    pytest.param(
        "[features.fraud-scoring]\nwindow = 60\n",
        "fraud-scoring",
        "window",
        "unknown key (known: comparator, tolerance,",
        id="unknown-key",
    ),
    pytest.param(
        '[features.fraud-scoring]\ntolerance = "2%"\n',
        "fraud-scoring",
        "tolerance",
        "expected float, got str '2%'",
        id="wrong-type",
    ),
    pytest.param(
        "[features.fraud-scoring]\nmin_shared_inputs = 30.5\n",
        "fraud-scoring",
        "min_shared_inputs",
        "expected int, got float 30.5",
        id="float-for-int",
    ),
    pytest.param(
        "[features.fraud-scoring]\nmax_versions_behind = true\n",
        "fraud-scoring",
        "max_versions_behind",
        "expected int, got bool True",
        id="bool-for-int",
    ),
    pytest.param(
        "[features.fraud-scoring]\nmax_versions_behind = -1\n",
        "fraud-scoring",
        "max_versions_behind",
        "must be at least 0 (got -1)",
        id="negative-versions-behind",
    ),
    pytest.param(
        "[features.fraud-scoring]\nmax_days_behind = -0.5\n",
        "fraud-scoring",
        "max_days_behind",
        "must be at least 0 (got -0.5)",
        id="negative-days-behind",
    ),
    pytest.param(
        "[features.fraud-scoring]\nwindow_s = 0\n",
        "fraud-scoring",
        "window_s",
        "must be greater than 0 (got 0.0)",
        id="zero-window",
    ),
    pytest.param(
        "[features.fraud-scoring]\ntolerance = 1.5\n",
        "fraud-scoring",
        "tolerance",
        "is a disagreement rate for comparator 'label'",
        id="rate-above-one",
    ),
    pytest.param(
        '[features.fraud-scoring]\nresolution = "reference"\n',
        "fraud-scoring",
        "reference_variant",
        "required when resolution is 'reference'",
        id="reference-without-variant",
    ),
    pytest.param(
        '[features.fraud-scoring]\nresolution = "reference"\n'
        'reference_variant = "fraud-gbm 2.3 fp64 cloud"\n',
        "fraud-scoring",
        "reference_variant",
        "unknown quantization 'fp64'",
        id="reference-variant-unparsable",
    ),
    pytest.param(
        '[features.fraud-scoring]\nreference_variant = "fraud-gbm 2.3 fp32 cloud"\n',
        "fraud-scoring",
        "reference_variant",
        "applies only to resolution 'reference'",
        id="reference-variant-without-reference-resolution",
    ),
    pytest.param(
        '[features.fraud-scoring]\ncomparator = "label"\ntopk_min_overlap = 0.8\n',
        "fraud-scoring",
        "topk_min_overlap",
        "applies only to comparator 'topk', not 'label'",
        id="topk-key-on-label-feature",
    ),
    pytest.param(
        '[features.product-recs]\ncomparator = "topk"\ntopk_min_overlap = 0\n',
        "product-recs",
        "topk_min_overlap",
        "must be greater than 0 and at most 1 (got 0.0)",
        id="overlap-out-of-range",
    ),
    pytest.param(
        '[defaults]\nresolution = "newest"\nmajority = true\n',
        "[defaults]",
        "majority",
        "unknown key",
        id="unknown-key-in-defaults",
    ),
    pytest.param(
        '[defaults]\nresolution = "reference"\n',
        "[defaults]",
        "reference_variant",
        "required when resolution is 'reference'",
        id="reference-default-without-variant",
    ),
    pytest.param(
        '[defaults]\ncomparator = "score"\ntolerance = 3.0\n[features.fraud-scoring]\n'
        'comparator = "label"\n',
        "fraud-scoring",
        "tolerance",
        "(set in [defaults])",
        id="inherited-value-out-of-range-names-its-origin",
    ),
    pytest.param(
        "[features]\nfraud-scoring = 1\n",
        "fraud-scoring",
        "",
        "must be a table",
        id="feature-not-a-table",
    ),
    pytest.param(
        "[fraud-scoring]\ncomparator = 'label'\n",
        "",
        "fraud-scoring",
        "unknown table (known: defaults, features)",
        id="feature-outside-features",
    ),
    pytest.param(
        "[features.fraud-scoring]\nlatency_budget_ms_by_tier = { mars = 30.0 }\n",
        "fraud-scoring",
        "latency_budget_ms_by_tier",
        "must name each tier once, from device, near-edge, cloud",
        id="budget-of-an-unknown-tier",
    ),
    pytest.param(
        "[defaults]\nlatency_budget_ms_by_tier = { device = 0 }\n",
        "[defaults]",
        "latency_budget_ms_by_tier",
        "budgets must be milliseconds greater than 0",
        id="budget-not-positive",
    ),
    pytest.param(
        "[features.fraud-scoring]\nlatency_budget_ms = 0\n",
        "fraud-scoring",
        "latency_budget_ms",
        "must be greater than 0",
        id="zero-latency-budget",
    ),
]


def test_a_tier_budget_overrides_the_feature_budget_on_that_tier_only(tmp_path):
    text = """
[defaults]
latency_budget_ms = 40
latency_budget_ms_by_tier = { cloud = 10.0 }
[features.recs]
latency_budget_ms_by_tier = { NEAR_EDGE = 60 }
"""
    policies = load_policies(write(tmp_path, text))

    recs = policies.for_feature("recs")
    assert [recs.latency_budget(t) for t in ("device", "near-edge", "cloud")] == [40, 60, 40]
    other = policies.for_feature("fraud")
    assert [other.latency_budget(t) for t in ("device", "near-edge", "cloud")] == [40, 40, 10]


@pytest.mark.parametrize(("text", "feature", "key", "reason"), ERRORS)
def test_a_mistake_is_reported_with_file_feature_key_and_reason(
    tmp_path, text, feature, key, reason
):
    path = write(tmp_path, text)

    with pytest.raises(PolicyError) as caught:
        load_policies(path)

    error = caught.value
    assert (error.file, error.feature, error.key) == (str(path), feature, key)
    assert reason in error.reason
    message = str(error)
    assert message.startswith(f"{path}: ")
    if feature and feature != "[defaults]":
        assert f"feature '{feature}'" in message
    assert f"{key}: " in message
    assert message.endswith(error.reason)
    assert isinstance(error, ConfigError)


def test_the_message_reads_file_feature_key_reason(tmp_path):
    path = write(tmp_path, '[features.fraud-scoring]\ncomparator = "exact"\n')

    with pytest.raises(PolicyError) as caught:
        load_policies(path)

    assert str(caught.value) == (
        f"{path}: feature 'fraud-scoring': comparator: "
        "must be one of label, score, topk, digest (got 'exact')"
    )


def test_a_missing_file_and_broken_toml_are_reported_with_the_file(tmp_path):
    with pytest.raises(PolicyError, match="policies file not found"):
        load_policies(tmp_path / "absent.toml")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policies(write(tmp_path, "[features.x\n"))


def test_comparator_specific_keys_in_defaults_apply_only_where_relevant(tmp_path):
    text = """
[defaults]
topk_min_overlap = 0.6
max_disagreement_rate = 0.1
[features.recs]
comparator = "topk"
[features.eta]
comparator = "score"
tolerance = 2.5
"""
    policies = load_policies(write(tmp_path, text))

    assert policies.for_feature("recs").topk_min_overlap == 0.6
    assert policies.for_feature("eta").disagreement_rate_tolerance == 0.1
    assert policies.for_feature("fraud").comparator is Comparator.LABEL


def test_a_score_tolerance_is_an_absolute_delta_and_may_exceed_one(tmp_path):
    path = write(tmp_path, '[features.eta]\ncomparator = "score"\ntolerance = 12\n')

    assert load_policies(path).for_feature("eta").tolerance == 12.0


def test_highest_precision_orders_fp32_then_bf16_and_fp16_then_int8_int4_other():
    ranks = [precision_rank(q) for q in ("fp32", "bf16", "fp16", "int8", "int4", "other")]

    assert ranks == [0, 1, 1, 2, 3, 4]


def test_highest_precision_breaks_ties_by_newest_version_then_text_form():
    variants = [Variant.parse(t) for t in (
        "m 2.10 int8 device",
        "m 2.9 fp16 device",
        "m 2.10 fp16 near-edge",
        "m 2.10 bf16 near-edge",
        "m 2.1 fp32 cloud",
        "m 3.0 other cloud",
    )]  # fmt: skip

    assert [str(v) for v in rank_by_precision(variants)] == [
        "m 2.1 fp32 cloud",
        "m 2.10 bf16 near-edge",
        "m 2.10 fp16 near-edge",
        "m 2.9 fp16 device",
        "m 2.10 int8 device",
        "m 3.0 other cloud",
    ]


def test_newest_breaks_ties_by_precision_then_text_form():
    variants = [Variant.parse(t) for t in (
        "m 2.10 int8 device",
        "m 2.10 fp32 device gpu",
        "m 2.10 fp32 cloud",
        "m 2.9 fp32 cloud",
        "m 2.10.0 int4 device",
    )]  # fmt: skip

    assert [str(v) for v in rank_by_version(variants)] == [
        "m 2.10.0 int4 device",
        "m 2.10 fp32 cloud",
        "m 2.10 fp32 device gpu",
        "m 2.10 int8 device",
        "m 2.9 fp32 cloud",
    ]


@pytest.mark.parametrize(
    ("older", "newer"),
    [("2.9", "2.10"), ("2.10", "2.10.0"), ("2.9", "2.10.0"), ("1.0", "1.0.rc1"), ("2", "10")],
)
def test_versions_order_dotted_parts_numerically(older, newer):
    assert version_key(older) < version_key(newer)


@pytest.mark.parametrize(
    "text", ["fraud-gbm 2.3 int8 device", "fraud-gbm 2.3 int8 device npu", "m 1 bf16 near-edge"]
)
def test_a_variant_text_form_round_trips(text):
    assert str(Variant.parse(text)) == text


def test_variant_parsing_accepts_other_spellings_and_prints_the_canonical_form():
    assert (
        str(Variant.parse("  fraud-gbm  2.3 FLOAT16 NEAR_EDGE ")) == "fraud-gbm 2.3 fp16 near-edge"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("fraud-gbm 2.3 int8", "must be 'MODEL VERSION QUANTIZATION TIER [ACCELERATOR]'"),
        ("fraud-gbm 2.3 int8 device npu extra", "must be 'MODEL VERSION"),
        ("fraud-gbm 2.3 int3 device", "unknown quantization 'int3'"),
        ("fraud-gbm 2.3 int8 moon", "unknown hardware tier 'moon'"),
    ],
)
def test_a_malformed_variant_says_what_is_wrong(text, reason):
    with pytest.raises(ValueError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        Variant.parse(text)


def test_a_reference_without_accelerator_matches_every_accelerator():
    reference = Variant.parse("fraud-gbm 2.3 fp32 cloud")

    assert reference.matches(Variant.parse("fraud-gbm 2.3 fp32 cloud gpu"))
    assert reference.matches(Variant.parse("fraud-gbm 2.3 fp32 cloud"))
    assert not reference.matches(Variant.parse("fraud-gbm 2.3 int8 cloud"))
    assert not Variant.parse("fraud-gbm 2.3 fp32 cloud gpu").matches(reference)
