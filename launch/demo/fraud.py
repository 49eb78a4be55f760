"""``fraud-gbm``: a gradient-boosted tree ensemble that scores card transactions, in NumPy.

Trained at start-up (seconds, deterministic by seed) on synthetic transactions
(``launch.demo.transactions``). Three releases really differ:

- ``2.1``: eight features, trained on the 2024-H1 era;
- ``2.2``: the same features, retrained on the 2024-H2 era (fraud moved to gift cards
  and electronics, the IP reputation began to matter);
- ``2.3``: two new features (``ip_risk``, ``amount_to_avg``), 2024-H2 era.

Each release runs in three precisions, computed honestly rather than simulated:

- ``fp32``: inputs, thresholds, leaf values and the sum in float32;
- ``fp16``: the same in float16 (inputs and thresholds rounded to 11 significant bits,
  the margin accumulated in float16), so answers change only for inputs within a
  rounding step of a threshold;
- ``int8``: each input feature quantized to 8 bits with a symmetric per-feature scale
  calibrated on the training data's maximum (the naive calibration: a heavy-tailed
  feature such as ``amount`` gets a coarse step), thresholds on the same integer grid,
  leaf values on an 8-bit grid, summed in int32 and dequantized once. Inputs near a
  threshold land on the other side: the decisions really differ from fp32.

The output is a fraud probability and a decision: ``approve``, ``challenge`` (step-up
authentication) or ``decline``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from launch.demo.transactions import (
    CATEGORIES,
    ERA_2024_H1,
    ERA_2024_H2,
    Era,
    Transactions,
    labelled,
)

MODEL_NAME = "fraud-gbm"
VERSIONS = ("2.1", "2.2", "2.3")
QUANTIZATIONS = ("fp32", "fp16", "int8")
BASE_FEATURES = (
    "amount",
    "hour",
    "merchant_risk",
    "distance_km",
    "txn_last_hour",
    "card_age_days",
    "foreign",
    "device_trust",
)
NEW_FEATURES = ("ip_risk", "amount_to_avg")
CHALLENGE_FROM, DECLINE_FROM = 0.05, 0.25  # fraud probabilities where the decision changes

TREES, DEPTH, LEARNING_RATE, BINS, L2, MIN_ROWS = 60, 3, 0.3, 48, 1.0, 30
TRAINING_ROWS = 24_000


@dataclass(frozen=True)
class Release:
    """What makes a version: its features and the era of its training data."""

    version: str
    features: tuple[str, ...]
    era: Era


RELEASES = {
    "2.1": Release("2.1", BASE_FEATURES, ERA_2024_H1),
    "2.2": Release("2.2", BASE_FEATURES, ERA_2024_H2),
    "2.3": Release("2.3", BASE_FEATURES + NEW_FEATURES, ERA_2024_H2),
}


@dataclass(frozen=True)
class FraudModel:
    """A trained ensemble in float32 (the reference precision); save/load as ``.npz``."""

    version: str
    features: tuple[str, ...]
    merchant_risk: np.ndarray  # per category: smoothed fraud rate in the training data, %
    base_margin: float
    split_feature: np.ndarray  # (trees, 2**DEPTH - 1) int, level by level
    split_threshold: np.ndarray  # (trees, 2**DEPTH - 1) float32; go right when x > t
    leaf_value: np.ndarray  # (trees, 2**DEPTH) float32
    feature_absmax: np.ndarray  # (features,) int8 calibration: max |x| in the training data

    def matrix(self, batch: Transactions) -> np.ndarray:
        """The model's input features for ``batch``, as float32 columns in its order."""
        return feature_matrix(self.features, self.merchant_risk, batch)

    def save(self, path: Path) -> None:
        np.savez(
            path,
            version=self.version,
            features=np.array(self.features),
            merchant_risk=self.merchant_risk,
            base_margin=self.base_margin,
            split_feature=self.split_feature,
            split_threshold=self.split_threshold,
            leaf_value=self.leaf_value,
            feature_absmax=self.feature_absmax,
        )

    @classmethod
    def load(cls, path: Path) -> FraudModel:
        with np.load(path) as data:
            return cls(
                version=str(data["version"]),
                features=tuple(str(name) for name in data["features"]),
                merchant_risk=data["merchant_risk"],
                base_margin=float(data["base_margin"]),
                split_feature=data["split_feature"],
                split_threshold=data["split_threshold"],
                leaf_value=data["leaf_value"],
                feature_absmax=data["feature_absmax"],
            )


def train(version: str, seed: int) -> FraudModel:
    """Train release ``version`` on its era's synthetic data; the same seed, the same model."""
    release = RELEASES[version]
    rng = np.random.default_rng([seed, 21, VERSIONS.index(version)])
    batch, fraud = labelled(rng, TRAINING_ROWS, release.era)
    merchant_risk = _merchant_risk(batch, fraud)
    x = feature_matrix(release.features, merchant_risk, batch)
    rate = float(np.clip(fraud.mean(), 1e-3, 1 - 1e-3))
    base_margin = float(np.log(rate / (1 - rate)))
    features, thresholds, leaves = _boost(x, fraud, base_margin)
    return FraudModel(
        version=version,
        features=release.features,
        merchant_risk=merchant_risk,
        base_margin=base_margin,
        split_feature=features,
        split_threshold=thresholds,
        leaf_value=leaves,
        feature_absmax=np.abs(x).max(axis=0).astype(np.float32),
    )


def feature_matrix(
    features: tuple[str, ...], merchant_risk: np.ndarray, batch: Transactions
) -> np.ndarray:
    """The named model features of ``batch``, as float32 columns in that order."""
    columns = {
        "amount": batch.amount,
        "hour": batch.hour,
        "merchant_risk": merchant_risk[batch.category],
        "distance_km": batch.distance_km,
        "txn_last_hour": batch.txn_last_hour,
        "card_age_days": batch.card_age_days,
        "foreign": batch.foreign,
        "device_trust": batch.device_trust,
        "ip_risk": batch.ip_risk,
        "amount_to_avg": batch.amount / batch.avg_amount_30d,
    }
    return np.column_stack([columns[name] for name in features]).astype(np.float32)


def decision(probability: float) -> str:
    """The action a score leads to."""
    if probability >= DECLINE_FROM:
        return "decline"
    return "challenge" if probability >= CHALLENGE_FROM else "approve"


class FraudScorer:
    """A model compiled for one precision: ``fp32``, ``fp16`` or ``int8``."""

    def __init__(self, model: FraudModel, quantization: str) -> None:
        if quantization not in QUANTIZATIONS:
            raise ValueError(f"unknown quantization {quantization!r}")
        self.model = model
        self.quantization = quantization
        self._trees = np.arange(model.split_feature.shape[0])
        if quantization == "int8":
            self._scale = np.maximum(model.feature_absmax, 1e-12) / 127.0
            thresholds = model.split_threshold / self._scale[model.split_feature]
            self._thresholds = _to_int8(thresholds)
            self._leaf_scale = float(np.abs(model.leaf_value).max()) / 127.0
            self._leaves = _to_int8(model.leaf_value / self._leaf_scale)
        elif quantization == "fp16":
            self._thresholds = model.split_threshold.astype(np.float16)
            self._leaves = model.leaf_value.astype(np.float16)
        else:
            self._thresholds = model.split_threshold
            self._leaves = model.leaf_value

    def probabilities(self, batch: Transactions) -> np.ndarray:
        """The fraud probability of each transaction, as float64 (for the span)."""
        x = self.model.matrix(batch)
        if self.quantization == "int8":
            leaves = self._leaves_reached(_to_int8(x / self._scale))
            margin_q = leaves.astype(np.int32).sum(axis=1, dtype=np.int32)
            margin = np.float32(self.model.base_margin) + margin_q * np.float32(self._leaf_scale)
            return _sigmoid(margin.astype(np.float32)).astype(np.float64)
        if self.quantization == "fp16":
            leaves = self._leaves_reached(x.astype(np.float16))
            margin = np.float16(self.model.base_margin) + leaves.sum(axis=1, dtype=np.float16)
            return _sigmoid(margin.astype(np.float16)).astype(np.float64)
        leaves = self._leaves_reached(x)
        margin = np.float32(self.model.base_margin) + leaves.sum(axis=1, dtype=np.float32)
        return _sigmoid(margin).astype(np.float64)

    def _leaves_reached(self, x: np.ndarray) -> np.ndarray:
        """(rows, trees): the leaf value each tree gives each row."""
        rows = np.arange(x.shape[0])[:, None]
        node = np.zeros((x.shape[0], len(self._trees)), dtype=np.int64)
        for level in range(DEPTH):
            index = (2**level - 1) + node
            feature = self.model.split_feature[self._trees, index]
            node = 2 * node + (x[rows, feature] > self._thresholds[self._trees, index])
        return self._leaves[self._trees, node]


def _sigmoid(margin: np.ndarray) -> np.ndarray:
    one = margin.dtype.type(1)
    return one / (one + np.exp(-margin))


def _to_int8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.round(values), -127, 127).astype(np.int8)


def _merchant_risk(batch: Transactions, fraud: np.ndarray) -> np.ndarray:
    """Fraud rate per merchant category in %, smoothed towards the overall rate."""
    prior, weight = fraud.mean(), 200.0
    counts = np.bincount(batch.category, minlength=len(CATEGORIES))
    frauds = np.bincount(batch.category, weights=fraud, minlength=len(CATEGORIES))
    return (100.0 * (frauds + weight * prior) / (counts + weight)).astype(np.float32)


def _boost(
    x: np.ndarray, y: np.ndarray, base_margin: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradient boosting on log-loss with histogram split finding; the trees as arrays."""
    candidates = [np.unique(np.quantile(x[:, f], np.linspace(0, 1, BINS + 1)[1:-1])) for f in
                  range(x.shape[1])]  # fmt: skip
    binned = np.column_stack(
        [np.searchsorted(candidates[f], x[:, f], side="left") for f in range(x.shape[1])]
    )
    margin = np.full(len(y), base_margin)
    features, thresholds, leaves = [], [], []
    for _ in range(TREES):
        p = 1.0 / (1.0 + np.exp(-margin))
        gradient, hessian = p - y, p * (1.0 - p)
        tree_features, tree_thresholds, node = _grow(x, binned, candidates, gradient, hessian)
        g = np.bincount(node, weights=gradient, minlength=2**DEPTH)
        h = np.bincount(node, weights=hessian, minlength=2**DEPTH)
        values = -LEARNING_RATE * g / (h + L2)
        margin += values[node]
        features.append(tree_features)
        thresholds.append(tree_thresholds)
        leaves.append(values)
    return (
        np.array(features, dtype=np.int64),
        np.array(thresholds, dtype=np.float32),
        np.array(leaves, dtype=np.float32),
    )


def _grow(
    x: np.ndarray,
    binned: np.ndarray,
    candidates: list[np.ndarray],
    gradient: np.ndarray,
    hessian: np.ndarray,
) -> tuple[list[int], list[float], np.ndarray]:
    """One tree of depth DEPTH, level by level; returns its splits and each row's leaf."""
    node = np.zeros(len(gradient), dtype=np.int64)
    split_features: list[int] = []
    split_thresholds: list[float] = []
    for level in range(DEPTH):
        width = 2**level
        best = [(0.0, 0, np.inf)] * width  # (gain, feature, threshold) per node
        g_node = np.bincount(node, weights=gradient, minlength=width)
        h_node = np.bincount(node, weights=hessian, minlength=width)
        n_node = np.bincount(node, minlength=width)
        parent = g_node**2 / (h_node + L2)
        for f, cuts in enumerate(candidates):
            slots = len(cuts) + 1
            key = node * slots + binned[:, f]
            g_left = np.bincount(key, gradient, width * slots).reshape(width, slots).cumsum(1)
            h_left = np.bincount(key, hessian, width * slots).reshape(width, slots).cumsum(1)
            n_left = np.bincount(key, minlength=width * slots).reshape(width, slots).cumsum(1)
            g_right, h_right = g_node[:, None] - g_left, h_node[:, None] - h_left
            gain = g_left**2 / (h_left + L2) + g_right**2 / (h_right + L2) - parent[:, None]
            valid = (n_left >= MIN_ROWS) & (n_node[:, None] - n_left >= MIN_ROWS)
            gain = np.where(valid[:, : len(cuts)], gain[:, : len(cuts)], -np.inf)
            for j in range(width):
                k = int(np.argmax(gain[j])) if len(cuts) else 0
                if len(cuts) and gain[j, k] > best[j][0]:
                    best[j] = (float(gain[j, k]), f, float(cuts[k]))
        for _, feature, threshold in best:
            split_features.append(feature)
            split_thresholds.append(threshold)
        chosen_feature = np.array([b[1] for b in best])[node]
        chosen_threshold = np.array([b[2] for b in best])[node]
        node = 2 * node + (x[np.arange(len(node)), chosen_feature] > chosen_threshold)
    return split_features, split_thresholds, node
