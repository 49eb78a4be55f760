"""The synthetic fleet-lake generator, by responsibility (see ``bench/fleet_data.py``).

``catalog`` (what the fleet serves), ``hashing``, ``nodes``, ``description``
(:class:`GeneratedFleet`), ``spans`` (inputs and their spans), ``lake`` (Arrow, commits,
inventory) and ``generator`` (:func:`generate`, :func:`append`).
"""

from bench.fleet.catalog import (
    DEFAULT_START,
    FEATURES,
    NOISY_SLOT,
    TOPK,
    US,
    FleetVariant,
    expected_disagreement,
    variants,
)
from bench.fleet.description import GeneratedFleet, Segment
from bench.fleet.generator import append, generate
from bench.fleet.spans import Block
from parallax.progress import Progress

__all__ = [
    "DEFAULT_START",
    "FEATURES",
    "NOISY_SLOT",
    "TOPK",
    "US",
    "Block",
    "FleetVariant",
    "GeneratedFleet",
    "Progress",
    "Segment",
    "append",
    "expected_disagreement",
    "generate",
    "variants",
]
