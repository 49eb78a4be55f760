"""The demo's models: trained deterministically, releases differ, quantization is real."""

from __future__ import annotations

import numpy as np
import pytest

from launch.demo import fraud, recs
from launch.demo.transactions import draw


@pytest.fixture(scope="module")
def models() -> dict[str, fraud.FraudModel]:
    return {version: fraud.train(version, seed=7) for version in fraud.VERSIONS}


@pytest.fixture(scope="module")
def transactions():
    return draw(np.random.default_rng(99), 4000)


def decisions(model: fraud.FraudModel, quantization: str, batch) -> np.ndarray:
    scores = fraud.FraudScorer(model, quantization).probabilities(batch)
    return np.array([fraud.decision(p) for p in scores])


def test_the_same_seed_trains_the_same_model_and_it_survives_a_save(models, tmp_path):
    again = fraud.train("2.3", seed=7)
    assert np.array_equal(again.split_threshold, models["2.3"].split_threshold)
    assert np.array_equal(again.leaf_value, models["2.3"].leaf_value)
    models["2.3"].save(tmp_path / "m.npz")
    loaded = fraud.FraudModel.load(tmp_path / "m.npz")
    assert loaded.features == models["2.3"].features
    assert np.array_equal(loaded.split_feature, models["2.3"].split_feature)


def test_the_releases_use_their_own_features_and_really_decide_differently(models, transactions):
    assert models["2.1"].features == models["2.2"].features == fraud.BASE_FEATURES
    assert models["2.3"].features == fraud.BASE_FEATURES + fraud.NEW_FEATURES
    old = decisions(models["2.1"], "fp32", transactions)
    new = decisions(models["2.3"], "fp32", transactions)
    assert (old != new).mean() > 0.05


def test_int8_changes_decisions_and_fp16_almost_never_does(models, transactions):
    for model in models.values():
        reference = decisions(model, "fp32", transactions)
        int8 = (decisions(model, "int8", transactions) != reference).mean()
        fp16 = (decisions(model, "fp16", transactions) != reference).mean()
        assert int8 > 0.03, model.version
        assert fp16 < 0.005, model.version


def test_int8_compares_integers_and_sums_integer_leaves(models):
    scorer = fraud.FraudScorer(models["2.3"], "int8")
    assert scorer._thresholds.dtype == np.int8
    assert scorer._leaves.dtype == np.int8
    assert fraud.FraudScorer(models["2.3"], "fp16")._thresholds.dtype == np.float16


def test_decisions_follow_the_thresholds():
    assert fraud.decision(0.01) == "approve"
    assert fraud.decision(fraud.CHALLENGE_FROM) == "challenge"
    assert fraud.decision(fraud.DECLINE_FROM) == "decline"


def test_the_recommender_gives_k_unseen_products_and_int8_reorders_some_tails():
    model = recs.train(seed=7)
    scorers = {q: recs.RecsScorer(model, q) for q in recs.QUANTIZATIONS}
    rng = np.random.default_rng(3)
    changed = 0
    for _ in range(300):
        user, viewed = int(rng.integers(recs.USERS)), [int(p) for p in rng.choice(recs.PRODUCTS, 3)]
        reference, _ = scorers["fp32"].recommend(user, viewed)
        assert len(set(reference)) == recs.TOP_K and not set(reference) & set(viewed)
        changed += scorers["int8"].recommend(user, viewed)[0] != reference
    assert 0 < changed < 300
