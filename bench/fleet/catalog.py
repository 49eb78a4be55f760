"""What the fleet serves: features, variant slots, true rates, and the expected disagreement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

DEFAULT_START = datetime(2026, 11, 2, tzinfo=UTC)
US = 1_000_000
HOUR_US = 3600 * US
TOPK = 10
CATALOG = 5000
REPEAT_SHARE = 0.1  # of replicated inputs, answered twice by their first variant
ERROR_SHARE = 0.001
COLLECTOR_VERSION = "0.1.0"

# --- What the fleet serves ------------------------------------------------------------


@dataclass(frozen=True)
class Feature:
    name: str
    model: str
    comparator: str  # label | topk | score
    share: float  # of inputs


FEATURES = (
    Feature("fraud-scoring", "fraud-gbm", "label", 0.45),
    Feature("product-recs", "recs-twotower", "topk", 0.35),
    Feature("eta-regression", "eta-xgb", "score", 0.20),
)
# (version, quantization, tier, accelerator, kind, share of the tier's nodes)
SLOTS = (
    ("2.3", "fp32", "cloud", "gpu", "reference", 0.70),
    ("2.3", "fp16", "near-edge", "gpu", "systematic", 0.60),
    ("2.3", "int8", "device", "npu", "systematic", 0.45),
    ("2.3", "int4", "device", "npu", "systematic", 0.25),
    ("2.1", "fp32", "cloud", "gpu", "older version", 0.30),
    ("2.1", "int8", "near-edge", "gpu", "older version", 0.40),
    ("2.3", "fp16", "device", "npu", "noisy", 0.25),
    ("1.9", "int8", "device", "npu", "straggler", 0.05),
)
NOISY_SLOT = 6
STAGED_SLOTS = (4, 5, 7)  # nodes that also hold version 2.3, not loaded
NEWEST_VERSION = "2.3"
# True disagreement rate with the reference, per feature (rows) and slot (columns).
RATES = np.array(
    [
        [0.0, 0.005, 0.03, 0.08, 0.04, 0.06, 0.04, 0.10],
        [0.0, 0.01, 0.04, 0.12, 0.06, 0.09, 0.04, 0.15],
        [0.0, 0.005, 0.03, 0.10, 0.05, 0.07, 0.04, 0.12],
    ]
)
TIERS = ("device", "near-edge", "cloud")
TIER_SHARE = (0.60, 0.25, 0.15)
TIER_TRAFFIC = np.array([1.0, 3.0, 8.0])
TIER_PREFIX = ("dev", "gw", "cloud")
TIER_ACCEL = ("npu", "gpu", "gpu")
SERVICES = ("pos-terminal", "store-gateway", "inference-api")
REGIONS = ("eu-west-1", "us-east-1", "ap-southeast-1")
REGION_SHARE = (0.45, 0.40, 0.15)
QUANTS = ("fp32", "fp16", "int8", "int4")
SCORE_JITTER = np.array([0.0, 0.002, 0.006, 0.009])  # per quantization
MINOR_SWAP = np.array([0.0, 0.10, 0.25, 0.40])  # 10th item replaced, per quantization
SPEED = np.array([1.0, 0.7, 0.5, 0.4])  # duration factor per quantization
TIER_MS = np.array([28.0, 14.0, 7.0])  # fp32 median per tier
FEATURE_MS = np.array([1.0, 1.5, 0.8])
COLD_SHARE = np.array([0.006, 0.003, 0.001])  # per tier
SLOT_QUANT = np.array([QUANTS.index(s[1]) for s in SLOTS])
SLOT_TIER = np.array([TIERS.index(s[2]) for s in SLOTS])


@dataclass(frozen=True)
class FleetVariant:
    """One variant of one feature, with its true disagreement rate against the reference."""

    feature: str
    slot: int
    model: str
    version: str
    quantization: str
    tier: str
    accelerator: str
    rate: float
    kind: str

    @property
    def text(self) -> str:
        """The reconciler's text form: 'MODEL VERSION QUANT TIER ACCEL'."""
        return f"{self.model} {self.version} {self.quantization} {self.tier} {self.accelerator}"


def variants(feature: str | None = None) -> list[FleetVariant]:
    """Every variant of the fleet (of one feature when given), slot order."""
    out = []
    for f, feat in enumerate(FEATURES):
        if feature not in (None, feat.name):
            continue
        for slot, (version, quant, tier, accel, kind, _) in enumerate(SLOTS):
            rate = float(RATES[f, slot])
            out.append(
                FleetVariant(feat.name, slot, feat.model, version, quant, tier, accel, rate, kind)
            )
    return out


def expected_disagreement(feature: str, a: int, b: int) -> float:
    """Expected share of shared inputs on which slots ``a`` and ``b`` disagree.

    ``a == b`` is the variant's noise floor (non-zero only for the noisy slot). Exact for
    label and topk; for score, two wrong answers agree when their errors land within 0.02
    (about 18% of such pairs).
    """
    f = [feat.name for feat in FEATURES].index(feature)
    p, q = float(RATES[f, a]), float(RATES[f, b])
    if a == b and a != NOISY_SLOT:
        return 0.0
    comparator = FEATURES[f].comparator
    if comparator == "label" or (a == b and comparator == "topk"):
        return p + q - 2 * p * q
    if comparator == "topk":
        return 1 - (1 - p) * (1 - q)
    return p + q - 1.18 * p * q
