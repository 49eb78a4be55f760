"""Hypothesis profiles of the wire-level fuzz tests in this directory.

``ci`` (the default) is deterministic and has no deadline, so a run on a loaded machine
neither flakes nor finds new inputs by chance; ``long`` explores at random for a long
time. The fuzz tests pick one with ``HYPOTHESIS_PROFILE`` (docs/testing.md); no profile
is loaded globally, so other Hypothesis tests keep their own settings.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

_SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile(
    "ci", deadline=None, derandomize=True, max_examples=300, suppress_health_check=_SLOW_DATA
)
settings.register_profile(
    "long", deadline=None, max_examples=20_000, suppress_health_check=_SLOW_DATA
)
