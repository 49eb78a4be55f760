"""Per-feature reconciliation policies: what the reconciler reads from them.

A policy says, for one product feature, how two answers to the same input are compared
(``comparator`` and its thresholds), which spans are compared (``window_s``), when a
variant pair has enough shared inputs to be judged (``min_shared_inputs``), which answer
is canonical (``resolution``), how far behind the newest version a node may be
(``max_versions_behind``, ``max_days_behind``) and the warm p99 latency a variant may
reach on each hardware tier (``latency_budget_ms``, ``latency_budget_ms_by_tier``).
docs/policies.md explains each key; ``reconciler.policy_file`` reads and checks them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from reconciler.variants import Variant


class Comparator(StrEnum):
    """How two outputs for the same input are compared."""

    LABEL = "label"  # parallax.output.label, equal text
    SCORE = "score"  # parallax.output.score, |a - b| <= tolerance
    TOPK = "topk"  # parallax.output.topk, overlap fraction >= topk_min_overlap
    DIGEST = "digest"  # parallax.output.digest, equal hash


class Resolution(StrEnum):
    """Which answer to an input is canonical."""

    REFERENCE = "reference"
    NEWEST = "newest"
    HIGHEST_PRECISION = "highest_precision"
    MAJORITY = "majority"


@dataclass(frozen=True)
class FeaturePolicy:
    """The policy of one feature, every key resolved (docs/policies.md explains each)."""

    feature: str
    comparator: Comparator
    tolerance: float
    topk_min_overlap: float
    max_disagreement_rate: float
    window_s: float
    min_shared_inputs: int
    resolution: Resolution
    reference_variant: Variant | None
    reference_fallback: Resolution | None
    max_versions_behind: int
    max_days_behind: float
    latency_budget_ms: float
    latency_budget_ms_by_tier: Mapping[str, float]

    def latency_budget(self, tier: str) -> float:
        """The warm p99 budget in ms of variants on ``tier`` (a canonical tier word)."""
        return self.latency_budget_ms_by_tier.get(tier, self.latency_budget_ms)

    @property
    def disagreement_rate_tolerance(self) -> float:
        """Largest share of shared inputs on which two variants may disagree and still pass.

        ``tolerance`` for label, topk and digest; ``max_disagreement_rate`` for score,
        whose ``tolerance`` is the largest |Δscore| that still counts as agreement.
        """
        if self.comparator is Comparator.SCORE:
            return self.max_disagreement_rate
        return self.tolerance


@dataclass(frozen=True)
class Policies:
    """Every feature's policy from one file; :meth:`for_feature` is the way to read them."""

    source: str
    defaults: FeaturePolicy
    features: Mapping[str, FeaturePolicy]

    def for_feature(self, name: str) -> FeaturePolicy:
        """The policy of ``name``: its own table resolved over the defaults, or the defaults."""
        policy = self.features.get(name)
        return policy if policy is not None else dataclasses.replace(self.defaults, feature=name)
