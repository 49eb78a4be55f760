"""The fleet's nodes: tiers, slots, regions, traffic weights and resources."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from bench.fleet.catalog import (
    REGION_SHARE,
    REGIONS,
    SERVICES,
    SLOT_TIER,
    SLOTS,
    TIER_ACCEL,
    TIER_PREFIX,
    TIER_SHARE,
    TIER_TRAFFIC,
    TIERS,
)
from bench.fleet.hashing import S_BUFFER, S_ENV, S_REGION, S_SLOT, S_TIER, S_WEIGHT, _Hasher, _hex
from parallax import conventions as conv
from store.ingest.layout import resource_id

# --- The fleet's nodes ----------------------------------------------------------------


@dataclass(frozen=True)
class _Nodes:
    """Every node's attributes, as arrays indexed by node number."""

    slot: np.ndarray  # int8
    tier: np.ndarray  # int8
    region: np.ndarray  # int8
    ids: pa.Array  # node_id strings
    environment: pa.Array
    resource_ids: np.ndarray  # int64
    buffer_ids: pa.Array
    cum_weight: np.ndarray  # traffic, cumulative, last = 1
    by_slot: np.ndarray  # [slot, i] -> node
    slot_count: np.ndarray

    @property
    def count(self) -> int:
        return len(self.slot)


def _quota(total: int, shares: list[float], minimum: int) -> np.ndarray:
    """Largest-remainder split of ``total`` by ``shares``, each part at least ``minimum``."""
    exact = np.asarray(shares) * total
    parts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - parts), kind="stable")[: total - parts.sum()]:
        parts[i] += 1
    while (parts < minimum).any():
        parts[np.argmax(parts)] -= 1
        parts[np.argmin(parts)] += 1
    return parts


def _node_slots(h: _Hasher, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(tier, slot) of every node: quotas, shuffled by hash."""
    tiers = np.repeat(np.arange(3), _quota(count, list(TIER_SHARE), 2))
    tiers = tiers[np.argsort(h.hash(np.arange(count), S_TIER), kind="stable")]
    slots = np.zeros(count, np.int8)
    for tier in range(3):
        members = np.flatnonzero(tiers == tier)
        in_tier = [s for s in range(len(SLOTS)) if SLOT_TIER[s] == tier]
        parts = _quota(len(members), [SLOTS[s][5] for s in in_tier], 1)
        chosen = np.repeat(in_tier, parts)
        slots[members] = chosen[np.argsort(h.hash(members, S_SLOT), kind="stable")]
    return tiers.astype(np.int8), slots


def _build_nodes(h: _Hasher, count: int) -> _Nodes:
    if count < 20:
        raise ValueError(f"nodes: at least 20 so that every variant has a node (got {count})")
    tiers, slots = _node_slots(h, count)
    numbers = np.arange(count)
    region = np.searchsorted(np.cumsum(REGION_SHARE), h.uniform(numbers, S_REGION), "right")
    region = np.minimum(region, len(REGIONS) - 1).astype(np.int8)
    staging = h.uniform(numbers, S_ENV) < 0.05
    ids = [
        f"{TIER_PREFIX[t]}-{REGIONS[r]}-{i:04d}"
        for i, (t, r) in enumerate(zip(tiers, region, strict=True))
    ]
    weight = TIER_TRAFFIC[tiers] * np.exp(0.5 * h.normal(numbers, S_WEIGHT))
    by_slot = np.full((len(SLOTS), count), -1, np.int32)
    slot_count = np.bincount(slots, minlength=len(SLOTS))
    for s in range(len(SLOTS)):
        members = np.flatnonzero(slots == s)
        by_slot[s, : len(members)] = members
    environment = ["staging" if s else "production" for s in staging]
    return _Nodes(
        slot=slots,
        tier=tiers,
        region=region,
        ids=pa.array(ids),
        environment=pa.array(environment),
        resource_ids=np.array(
            [resource_id(_resource(ids[i], tiers[i], region[i], environment[i])) for i in numbers],
            np.int64,
        ),
        buffer_ids=_hex([h.hash(numbers, S_BUFFER)]),
        cum_weight=np.cumsum(weight) / weight.sum(),
        by_slot=by_slot,
        slot_count=slot_count,
    )


def _resource(node_id: str, tier: int, region: int, environment: str) -> list[tuple[str, str]]:
    return [
        (conv.SERVICE_NAME, SERVICES[tier]),
        (conv.HOST_ID, node_id),
        (conv.CLOUD_REGION, REGIONS[region]),
        (conv.DEPLOYMENT_ENVIRONMENT, environment),
        (conv.HARDWARE_TIER, TIERS[tier]),
        (conv.HARDWARE_ACCELERATOR, TIER_ACCEL[tier]),
    ]
