"""Consistent sampling keyed on the input fingerprint.

With ratio r, a span is kept when ``blake2b(fingerprint) / 2^64 < r``. The decision
depends only on the fingerprint, so every node keeps the same inputs and cross-variant
comparisons still find shared inputs after sampling. Spans with an error status, a cold
start or a confidence below the threshold are always kept; spans without a fingerprint
are kept (nothing to key on, and they are not comparable anyway).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

_SCALE = float(2**64)


def keep_fraction(fingerprint: str) -> float:
    """Where a fingerprint falls in [0, 1): the same on every node and every run."""
    digest = hashlib.blake2b(fingerprint.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


@dataclass
class Sampler:
    """Decides per span; ``ratio`` may change at run time (the backend's directive)."""

    ratio: float = 1.0
    keep_confidence_below: float = 0.5
    kept: int = 0
    dropped: int = 0

    def keep(
        self,
        fingerprint: str | None,
        is_error: bool = False,
        cold_start: bool = False,
        confidence: float | None = None,
    ) -> bool:
        ratio = self.ratio
        decision = (
            ratio >= 1.0
            or fingerprint is None
            or is_error
            or cold_start
            or (confidence is not None and confidence < self.keep_confidence_below)
            or keep_fraction(fingerprint) < ratio
        )
        if decision:
            self.kept += 1
        else:
            self.dropped += 1
        return decision
