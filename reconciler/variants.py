"""Variants in Python, and their orders: what the policies' resolutions rely on.

:class:`Variant` is the text form the lake's ``px_variant`` writes ('MODEL VERSION
QUANTIZATION TIER [ACCELERATOR]'), parsed and checked (a policy's ``reference_variant``);
:func:`precision_rank` orders quantizations and :func:`version_key` (parallax.versions)
versions, with the tie-breaking of :func:`rank_by_precision` and :func:`rank_by_version`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from parallax.conventions import HardwareTier, Quantization, parse_quantization, parse_tier
from parallax.versions import version_key


@dataclass(frozen=True)
class Variant:
    """One way a model is served: (model, version, quantization, hardware tier[, accelerator]).

    The text form is the parts separated by single spaces, accelerator last and only when
    given: ``"fraud-gbm 2.3 int8 device"``, ``"fraud-gbm 2.3 int8 device npu"``. No part
    may be empty (the accelerator may be) or contain white space.
    """

    model: str
    version: str
    quantization: Quantization
    tier: HardwareTier
    accelerator: str = ""

    def __post_init__(self) -> None:
        for name in ("model", "version", "accelerator"):
            value = getattr(self, name)
            if (not value and name != "accelerator") or any(c.isspace() for c in value):
                raise ValueError(f"{name}: must be non-empty text without spaces (got {value!r})")
        object.__setattr__(self, "quantization", Quantization(self.quantization))
        object.__setattr__(self, "tier", HardwareTier(self.tier))

    def __str__(self) -> str:
        parts = [self.model, self.version, str(self.quantization), str(self.tier)]
        return " ".join([*parts, self.accelerator] if self.accelerator else parts)

    @classmethod
    def parse(cls, text: str) -> Variant:
        """The Variant a text form names; raise ValueError saying what is wrong.

        Spellings of quantization and tier are those :mod:`parallax.conventions` accepts
        (``FP16``, ``float16``, ``NEAR_EDGE``); ``str()`` of the result is the canonical form.
        """
        parts = text.split()
        if len(parts) not in (4, 5):
            raise ValueError(
                "must be 'MODEL VERSION QUANTIZATION TIER [ACCELERATOR]', "
                f"e.g. 'fraud-gbm 2.3 fp32 cloud' (got {text!r})"
            )
        model, version, quant_text, tier_text = parts[:4]
        quantization = parse_quantization(quant_text)
        if quantization is None:
            choices = ", ".join(q.value for q in Quantization)
            raise ValueError(f"unknown quantization {quant_text!r} (expected one of {choices})")
        tier = parse_tier(tier_text)
        if tier is None:
            choices = ", ".join(t.value for t in HardwareTier)
            raise ValueError(f"unknown hardware tier {tier_text!r} (expected one of {choices})")
        return cls(model, version, quantization, tier, parts[4] if len(parts) == 5 else "")

    def matches(self, other: Variant) -> bool:
        """Whether ``other`` is this variant; an empty accelerator here matches any."""
        if self.accelerator and self.accelerator != other.accelerator:
            return False
        return dataclasses.replace(other, accelerator="") == dataclasses.replace(
            self, accelerator=""
        )


_PRECISION_RANK = {
    Quantization.FP32: 0,
    Quantization.BF16: 1,
    Quantization.FP16: 1,
    Quantization.INT8: 2,
    Quantization.INT4: 3,
    Quantization.OTHER: 4,
}


def precision_rank(quantization: Quantization) -> int:
    """0 for the most precise: fp32 (0) > bf16 = fp16 (1) > int8 (2) > int4 (3) > other (4)."""
    return _PRECISION_RANK[Quantization(quantization)]


def rank_by_precision(variants: Iterable[Variant]) -> list[Variant]:
    """The variants, most precise first (``highest_precision``; majority's tie-break).

    Ties (same precision rank, e.g. bf16 and fp16, or two fp32 variants) go to the newest
    version (:func:`version_key`), then to the smallest text form (plain string order).
    """
    ordered = sorted(set(variants), key=str)
    ordered.sort(key=lambda v: version_key(v.version), reverse=True)  # stable: keeps text order
    ordered.sort(key=lambda v: precision_rank(v.quantization))
    return ordered


def rank_by_version(variants: Iterable[Variant]) -> list[Variant]:
    """The variants, newest version first (``newest``).

    Ties (same version under :func:`version_key`, e.g. fp32 and int8 builds of 2.3) go to
    the most precise (:func:`precision_rank`), then to the smallest text form.
    """
    ordered = sorted(set(variants), key=str)
    ordered.sort(key=lambda v: precision_rank(v.quantization))
    ordered.sort(key=lambda v: version_key(v.version), reverse=True)
    return ordered
