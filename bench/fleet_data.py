"""A synthetic fleet lake: millions of realistic inference spans, fast and deterministic.

Used by the reconciler benchmark (issue #4: full rebuild, then an incremental run after 1%
new data) and the dashboard benchmark (a 10M-span lake)::

    .venv/bin/python bench/fleet_data.py --spans 1000000 --path /tmp/lake   # a new lake
    .venv/bin/python bench/fleet_data.py --append 10000 --path /tmp/lake    # 1% more, late data

From Python (the caller owns the writer)::

    from bench.fleet_data import GeneratedFleet, append, generate
    with open_writer(StoreSettings(path=str(lake_dir))) as lake:
        fleet = generate(lake.con, 1_000_000)          # into an empty lake
        fleet = append(lake.con, fleet, 10_000)        # returns the updated description
    fleet.save(lake_dir / "fleet.json")                # GeneratedFleet.load() in another process

Spans go straight into ``spans`` (NumPy -> Arrow -> ``INSERT INTO spans BY NAME``), one
transaction per chunk of about ``chunk_rows`` spans (default 500k; equal chunks, plus the
late spans that arrive during a chunk), as a real group commit would: each commit also
records one ``ingested_batches`` row per node, and its ``batch_seq`` is the commit's number
(1, 2, ...). The next chunk is computed in a thread while DuckDB writes. Every value is a
hash of (seed, input number, span number), so a seed and the same sizes give the same
rows whatever ``chunk_rows`` is (only which commit holds a row changes).

What the lake contains (defaults: seed 7, 500 nodes, 7 days from 2026-11-02T00:00Z)
----------------------------------------------------------------------------------

Features (an *input* is one ``(feature, input_fingerprint)``; fingerprints are 32 hex):

=============== ============= ========== ===== ==============================================
feature         model         comparator share output
=============== ============= ========== ===== ==============================================
fraud-scoring   fraud-gbm     label      45%   ``output_label`` fraud/legit (8% fraud in the
                                               truth) and ``output_score`` on the label's side
                                               of 0.5 (a flipped answer scores 0.4-0.6)
product-recs    recs-twotower topk       35%   ``output_topk``: 10 distinct ids ``sku-NNNNN``
                                               of 5000; no score
eta-regression  eta-xgb       score      20%   ``output_score`` in [0.04, 0.96]
=============== ============= ========== ===== ==============================================

Variants: the same 8 slots in every feature; text form ``MODEL VERSION QUANT TIER ACCEL``
(``fraud-gbm 2.3 fp32 cloud gpu``). A node runs one slot for all three models. *Rate* is the
true share of inputs on which the variant's answer disagrees with the reference (slot 0,
whose answer is the truth) under the default thresholds (label: equal; topk: overlap >= 0.8;
score: ``|Δ| <= 0.02``):

==== ======= ===== ========= ===== ================ ===== ===== ===== ===== =====================
slot version quant tier      accel nodes            (500) fraud recs  eta   kind
==== ======= ===== ========= ===== ================ ===== ===== ===== ===== =====================
0    2.3     fp32  cloud     gpu   70% of cloud     53    0     0     0     reference (truth)
1    2.3     fp16  near-edge gpu   60% of near-edge 75    0.5%  1%    0.5%  systematic
2    2.3     int8  device    npu   45% of device    135   3%    4%    3%    systematic
3    2.3     int4  device    npu   25% of device    75    8%    12%   10%   systematic
4    2.1     fp32  cloud     gpu   30% of cloud     22    4%    6%    5%    older version
5    2.1     int8  near-edge gpu   40% of near-edge 50    6%    9%    7%    older version
6    2.3     fp16  device    npu   25% of device    75    4%    4%    4%    noisy (per span)
7    1.9     int8  device    npu   5% of device     15    10%   15%   12%   straggler, 2 behind
==== ======= ===== ========= ===== ================ ===== ===== ===== ===== =====================

(:meth:`GeneratedFleet.nodes_per_slot` gives the node counts of any fleet size.) Skew: 2.3
is the newest version of every model and is seen from the first hour, so only slot 7's
nodes are more than one version behind (3 features x 15 nodes by default); nobody is
more than ``days`` behind.

Nodes: 60% device, 25% near-edge, 15% cloud (quotas; every slot has a node when nodes >= 20),
regions eu-west-1 / us-east-1 / ap-southeast-1 (45/40/15%), environment production (5%
staging), service_name pos-terminal / store-gateway / inference-api by tier, node_id
``dev-eu-west-1-0042``. Traffic weight of a node: device 1, near-edge 3, cloud 8, times a
lognormal spread (sigma 0.5).

How answers differ. A systematic variant is deterministic per input (its repeats always
agree with it): with probability *rate* it is wrong — a flipped label (score moved to the
other side, 0.4-0.6), a top-k list with positions 8-10 replaced by items of its own (overlap
0.7 with any other variant), or a score off by 0.05-0.15 either way. Besides, quantized
variants move scores by at most ±0.002 (fp16), ±0.006 (int8), ±0.009 (int4) and replace the
10th item (overlap 0.9, still agreeing) of 10% (fp16), 25% (int8), 40% (int4) of lists.
The noisy variant (slot 6) draws its error afresh for every span, so its repeats disagree
with each other: noise floor 2p(1-p) = 7.7% for label and topk, ~7.8% for score. Expected
disagreement of two variants with rates p and q: label p+q-2pq; topk 1-(1-p)(1-q); score
about p+q-1.18pq. :func:`expected_disagreement` computes these.

Replication: ``replicated_fraction`` (30%) of inputs are answered by k = 2, 3 or 4 (equally
likely) distinct variants drawn uniformly from the 8, each on a node running it, start
times within 5 minutes of the first; 10% of them also get a repeat answer from their first
variant on another node (noise-floor data). Other inputs get one span, on a node drawn by
traffic weight. So 1.63 spans per input, 57% of spans on replicated inputs; per feature
and pair of variants about 0.3 x 0.119 = 3.6% of the feature's inputs are shared (1M
spans: ~10k for a fraud-scoring pair, ~7.7k recs, ~4.4k eta). Traffic by tier: device
38%, near-edge 27%, cloud 35%; the reference variant serves ~21% of spans.

Time: input times follow a diurnal cycle (peak 15:00 UTC, 3x the trough) over
[start, start + days). ``late_fraction`` (2%) of spans arrive late: delay log-uniform in
1-72 h (never past the lake's end); they keep their start_time but are committed in the
chunk covering their arrival, with ``ingested_at = end_time + delay``. On-time spans have
``ingested_at = end_time`` + 1-15 s. Chunks are sorted by ingested_at.

:func:`append` adds exactly ``spans`` spans in later commits: ``reanswer_fraction`` (5%)
re-answers of existing inputs by a variant that had not answered them (start_time within
5 min of the original input, so the old group re-opens), ``late_fraction`` (5%) spans of
new inputs from 1-72 h in the past, and the rest new inputs continuing the timeline at the
same rate (so 1% more spans cover 1% more time). All are ingested in the appended period.

Other columns: name 'inference', kind 'internal', operation 'predict', status 'unset' (0.1%
'error' with status_message 'inference timeout' and no outputs), duration_ms lognormal by
tier/quantization/feature (device int8 fraud ~14 ms, near-edge fp16 ~10 ms, cloud fp32
~7 ms) with cold starts (device 0.6%, near-edge 0.3%, cloud 0.1%; +250-1000 ms,
cold_start true), confidence, empty attributes, scope parallax.sdk, parent_span_id,
output_digest, events and links NULL, trace_id (32 hex) and span_id (16 hex) unique,
resource_id -> ``resources`` (one row per node). ``node_heartbeats`` has an hourly
heartbeat per node over the whole period and ``nodes`` the latest; each node's ``models``
lists its three models (loaded, warm) and, on nodes of slots 4, 5 and 7, version 2.3 of
each staged but not loaded (loaded=false).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `parallax` and `store` importable
    sys.path.insert(0, str(ROOT))

from parallax import conventions as conv  # noqa: E402
from store.fleet.heartbeats import MODEL_STATE  # noqa: E402
from store.ingest.convert import resource_id  # noqa: E402

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


# --- Hashing: every random value is a pure function of (seed, salt, key) ---------------

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MASK = (1 << 64) - 1


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a bijection of uint64 (distinct keys, distinct hashes)."""
    z = x + _GOLDEN
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


class _Hasher:
    """Keyed hashes and uniforms for one seed; salts keep the streams independent."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def key(self, salt: int) -> np.uint64:
        scalar = np.array([(self.seed * 0x100000001B3 + salt * 0x9E3779B1) & _MASK], np.uint64)
        return _mix(scalar)[0]

    def hash(self, keys: np.ndarray, salt: int) -> np.ndarray:
        return _mix(keys.astype(np.uint64) ^ self.key(salt))

    def uniform(self, keys: np.ndarray, salt: int) -> np.ndarray:
        """Floats in [0, 1)."""
        return (self.hash(keys, salt) >> np.uint64(11)).astype(np.float64) * 2.0**-53

    def normal(self, keys: np.ndarray, salt: int) -> np.ndarray:
        u1 = 1.0 - self.uniform(keys, salt)
        u2 = self.uniform(keys, salt + 1000)
        return np.sqrt(-2.0 * np.log(u1)) * np.cos(2 * np.pi * u2)


# Salts (any distinct numbers).
(S_FEATURE, S_REPLICATED, S_K, S_REPEAT, S_PERM, S_NODE, S_NODE_REP, S_OFFSET, S_FLIP,
 S_TRUTH, S_SCORE, S_JITTER, S_MINOR, S_SIGN, S_DURATION, S_COLD, S_COLD_MS, S_ERROR,
 S_LAG, S_LATE, S_DELAY, S_TRACE_HI, S_TRACE_LO, S_SPAN, S_FP_HI, S_FP_LO, S_CONF,
 S_TIME, S_REANSWER, S_ARRIVAL, S_TIER, S_SLOT, S_REGION, S_ENV, S_WEIGHT,
 S_BUFFER, S_HEARTBEAT, S_NOISY, S_CLOCK, S_RTT, S_PENDING) = range(1, 42)  # fmt: skip


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


# --- The description callers keep -------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A run of consecutive input numbers and the times they fall in.

    ``late``: inputs ingested at the segment's end but dated 1-72 h before it.
    """

    first_input: int
    inputs: int
    start_us: int
    end_us: int
    late: bool = False


@dataclass(frozen=True)
class GeneratedFleet:
    """What is in the lake: enough to append more and to sanity-check results.

    Counts are cumulative over :func:`generate` and every :func:`append`; ``last_*`` are
    of the latest call. ``start``/``end`` bound the inputs' times (the other answers of a
    replicated input start up to 5 minutes after its first).
    """

    seed: int
    nodes: int
    replicated_fraction: float
    start: datetime
    end: datetime
    spans: int
    inputs: int
    late_spans: int  # arrived hours or days after their start_time
    reanswers: int  # appended answers to inputs answered before
    commits: int
    segments: tuple[Segment, ...] = ()
    last_spans: int = 0
    last_seconds: float = 0.0
    last_commits: int = 0

    @property
    def features(self) -> list[str]:
        return [f.name for f in FEATURES]

    def variants(self, feature: str | None = None) -> list[FleetVariant]:
        """The variants of the fleet (of one feature); all have nodes."""
        return variants(feature)

    def nodes_per_slot(self) -> dict[int, int]:
        """How many nodes run each variant slot (0-7), e.g. slot 7: the stragglers."""
        counts = _build_nodes(_Hasher(self.seed), self.nodes).slot_count
        return {slot: int(count) for slot, count in enumerate(counts)}

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for benchmark reports."""
        data = dataclasses.asdict(self)
        data["segments"] = len(self.segments)
        data["start"], data["end"] = self.start.isoformat(), self.end.isoformat()
        data["days"] = round((self.end - self.start).total_seconds() / 86400, 3)
        return data

    def save(self, path: str | Path) -> None:
        data = dataclasses.asdict(self)
        data["start"], data["end"] = self.start.isoformat(), self.end.isoformat()
        Path(path).write_text(json.dumps(data, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> GeneratedFleet:
        data = json.loads(Path(path).read_text())
        data["start"] = datetime.fromisoformat(data["start"])
        data["end"] = datetime.fromisoformat(data["end"])
        data["segments"] = tuple(Segment(**s) for s in data["segments"])
        return cls(**data)


@dataclass
class _Context:
    """One call's fixed inputs: the hasher, the nodes, the fleet so far."""

    h: _Hasher
    nodes: _Nodes
    replicated_fraction: float
    segments: list[Segment]
    lake_start_us: int


def _context(fleet: GeneratedFleet) -> _Context:
    h = _Hasher(fleet.seed)
    return _Context(
        h, _build_nodes(h, fleet.nodes), fleet.replicated_fraction, list(fleet.segments),
        _us(fleet.start),
    )  # fmt: skip


def _us(moment: datetime) -> int:
    return round(moment.timestamp() * US)


def _datetime(us: int) -> datetime:
    return datetime.fromtimestamp(us / US, UTC)


# --- Inputs: feature, replication, time ---------------------------------------------------


def _answers_per_input(ctx: _Context, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(replicated, k, spans) per input: k = 2-4 distinct variants, sometimes a repeat."""
    h = ctx.h
    replicated = h.uniform(ids, S_REPLICATED) < ctx.replicated_fraction
    k = 2 + (h.uniform(ids, S_K) * 3).astype(np.int64)
    repeat = h.uniform(ids, S_REPEAT) < REPEAT_SHARE
    return replicated, k, np.where(replicated, k + repeat, 1)


def _plan(ctx: _Context, first_input: int, spans: int) -> np.ndarray:
    """Spans of each input from ``first_input`` on, the last trimmed to total ``spans``."""
    parts, total, first = [], 0, first_input
    while total < spans:
        size = max(1024, int((spans - total) / 1.5))
        counts = _answers_per_input(ctx, np.arange(first, first + size, dtype=np.uint64))[2]
        parts.append(counts)
        total += int(counts.sum())
        first += size
    counts = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    cum = np.cumsum(counts)
    used = int(np.searchsorted(cum, spans)) + 1 if spans else 0
    counts = counts[:used].copy()
    if used:
        counts[-1] -= int(cum[used - 1]) - spans
    return counts


def _diurnal_times(fractions: np.ndarray, start_us: int, end_us: int) -> np.ndarray:
    """Map [0, 1) to [start, end) so that traffic peaks at 15:00 UTC (3x the trough)."""
    steps = int(min(max(2, (end_us - start_us) // (60 * US)), 200_000))
    grid = np.linspace(start_us, end_us, steps + 1)
    hours = ((grid[:-1] + grid[1:]) / 2 / HOUR_US) % 24
    rate = 1 + 0.5 * np.sin(2 * np.pi * (hours - 9) / 24)
    cum = np.concatenate([[0.0], np.cumsum(rate)])
    return np.interp(fractions, cum / cum[-1], grid).astype(np.int64)


def _input_times(ctx: _Context, ids: np.ndarray) -> np.ndarray:
    """The time (us) of each input, from the segment it belongs to."""
    out = np.zeros(len(ids), np.int64)
    firsts = np.array([s.first_input for s in ctx.segments], np.uint64)
    which = np.searchsorted(firsts, ids, "right") - 1
    for index in np.unique(which):
        seg, mask = ctx.segments[index], which == index
        own = ids[mask]
        if seg.late:
            delay = np.exp(np.log(HOUR_US) + ctx.h.uniform(own, S_DELAY) * np.log(72))
            out[mask] = np.maximum(seg.end_us - delay.astype(np.int64), ctx.lake_start_us)
        else:
            offset = (own - np.uint64(seg.first_input)).astype(np.float64)
            fractions = (offset + ctx.h.uniform(own, S_TIME)) / max(seg.inputs, 1)
            out[mask] = _diurnal_times(fractions, seg.start_us, seg.end_us)
    return out


def _permutation(ctx: _Context, ids: np.ndarray) -> np.ndarray:
    """Per input, the slots in a random order (replicated inputs take the first k)."""
    keys = ids[:, None] * np.uint64(16) + np.arange(len(SLOTS), dtype=np.uint64)[None, :]
    return np.argsort(ctx.h.hash(keys, S_PERM), axis=1).astype(np.int8)


def _features(ctx: _Context, ids: np.ndarray) -> np.ndarray:
    cum = np.cumsum([f.share for f in FEATURES])
    return np.minimum(np.searchsorted(cum, ctx.h.uniform(ids, S_FEATURE), "right"), 2).astype(
        np.int8
    )


def _weighted_node(ctx: _Context, ids: np.ndarray) -> np.ndarray:
    node = np.searchsorted(ctx.nodes.cum_weight, ctx.h.uniform(ids, S_NODE), "right")
    return np.minimum(node, ctx.nodes.count - 1).astype(np.int32)


def _node_of_slot(ctx: _Context, slot: np.ndarray, u: np.ndarray) -> np.ndarray:
    count = ctx.nodes.slot_count[slot]
    return ctx.nodes.by_slot[slot, (u * count).astype(np.int64)]


# --- Spans ------------------------------------------------------------------------------

Block = dict[str, np.ndarray]


def _input_spans(ctx: _Context, first_input: int, counts: np.ndarray, first_span: int) -> Block:
    """The spans of inputs ``first_input ...`` (``counts`` spans each), in input order."""
    ids = np.arange(first_input, first_input + len(counts), dtype=np.uint64)
    replicated, k, _ = _answers_per_input(ctx, ids)
    local = np.repeat(np.arange(len(ids)), counts)
    starts = np.cumsum(counts) - counts
    position = np.arange(len(local)) - starts[local]
    rep = replicated[local]
    inp = ids[local]
    slot_pos = np.where(position < k[local], position, 0)
    perm = _permutation(ctx, ids)
    single_node = _weighted_node(ctx, ids)
    slot = np.where(rep, perm[local, slot_pos], ctx.nodes.slot[single_node[local]]).astype(np.int8)
    node = _replica_nodes(ctx, inp, position, slot, is_repeat=rep & (position >= k[local]))
    node = np.where(rep, node, single_node[local])
    offset = ctx.h.uniform(inp * np.uint64(16) + position.astype(np.uint64), S_OFFSET)
    start = _input_times(ctx, ids)[local] + np.where(position == 0, 0, offset * 300 * US)
    return _assemble(ctx, inp, _features(ctx, ids)[local], slot, node, start.astype(np.int64),
                     first_span)  # fmt: skip


def _replica_nodes(
    ctx: _Context, inp: np.ndarray, position: np.ndarray, slot: np.ndarray, is_repeat: np.ndarray
) -> np.ndarray:
    """A node of each span's slot; a repeat goes to another node of the same slot if any."""
    u = ctx.h.uniform(inp * np.uint64(16) + position.astype(np.uint64), S_NODE_REP)
    node = _node_of_slot(ctx, slot, u)
    if is_repeat.any():
        count = ctx.nodes.slot_count[slot[is_repeat]]
        first = (ctx.h.uniform(inp[is_repeat] * np.uint64(16), S_NODE_REP) * count).astype(int)
        other = (first + 1 + (u[is_repeat] * (count - 1)).astype(int)) % count
        node[is_repeat] = ctx.nodes.by_slot[slot[is_repeat], other]
    return node.astype(np.int32)


def _assemble(
    ctx: _Context,
    inp: np.ndarray,
    feature: np.ndarray,
    slot: np.ndarray,
    node: np.ndarray,
    start_us: np.ndarray,
    first_span: int,
) -> Block:
    """Everything else about the spans: duration, cold start, status, outputs."""
    span_no = np.arange(first_span, first_span + len(inp), dtype=np.uint64)
    block = {"span": span_no, "input": inp, "feature": feature, "slot": slot, "node": node}
    block["start"] = start_us
    block.update(_timing(ctx, block))
    block["error"] = ctx.h.uniform(span_no, S_ERROR) < ERROR_SHARE
    block.update(_outputs(ctx, block))
    return block


def _timing(ctx: _Context, block: Block) -> Block:
    h, span, slot = ctx.h, block["span"], block["slot"]
    tier = SLOT_TIER[slot]
    median = TIER_MS[tier] * SPEED[SLOT_QUANT[slot]] * FEATURE_MS[block["feature"]]
    duration = median * np.exp(0.3 * h.normal(span, S_DURATION))
    cold = h.uniform(span, S_COLD) < COLD_SHARE[tier]
    duration = np.where(cold, duration + 250 + 750 * h.uniform(span, S_COLD_MS), duration)
    end = block["start"] + (duration * 1000).astype(np.int64)
    lag = (1 + 14 * h.uniform(span, S_LAG)) * US
    return {"duration": duration, "cold": cold, "ingest": end + lag.astype(np.int64)}


def _flips(ctx: _Context, block: Block) -> np.ndarray:
    """Whether each span's answer is wrong: per (input, variant), or per span when noisy."""
    pair = block["input"] * np.uint64(16) + block["slot"].astype(np.uint64)
    noisy = block["slot"] == NOISY_SLOT
    u = np.where(noisy, ctx.h.uniform(block["span"], S_NOISY), ctx.h.uniform(pair, S_FLIP))
    return u < RATES[block["feature"], block["slot"]]


@dataclass
class _Answers:
    """The spans of one feature that answered: what their outputs are computed from."""

    h: _Hasher
    inp: np.ndarray
    slot: np.ndarray
    flip: np.ndarray
    jitter: np.ndarray  # score noise of the quantization
    noise_key: np.ndarray  # per (input, variant), per span for the noisy variant


def _outputs(ctx: _Context, block: Block) -> Block:
    h, inp, slot = ctx.h, block["input"], block["slot"]
    pair = inp * np.uint64(16) + slot.astype(np.uint64)
    noise_key = np.where(slot == NOISY_SLOT, block["span"] | np.uint64(1 << 63), pair)
    flip = _flips(ctx, block)
    jitter = (2 * h.uniform(noise_key, S_JITTER) - 1) * SCORE_JITTER[SLOT_QUANT[slot]]
    n = len(inp)
    out = {
        "label": np.full(n, -1, np.int8),
        "score": np.full(n, np.nan),
        "confidence": np.full(n, np.nan),
        "items": np.full((n, TOPK), -1, np.int32),
    }
    for f, fill in enumerate((_fraud, _recs, _eta)):
        rows = np.flatnonzero((block["feature"] == f) & ~block["error"])
        answers = _Answers(h, inp[rows], slot[rows], flip[rows], jitter[rows], noise_key[rows])
        for name, values in fill(answers).items():
            out[name][rows] = values
    return out


def _fraud(a: _Answers) -> Block:
    """A label (8% fraud in the truth) and a score on its side of 0.5."""
    fraud = a.h.uniform(a.inp, S_TRUTH) < 0.08
    u = a.h.uniform(a.inp, S_SCORE)
    truth = np.where(fraud, 1 - 0.5 * u**2, 0.5 * u**2)
    answer = fraud ^ a.flip
    near = 0.5 + np.where(answer, 1, -1) * 0.1 * a.h.uniform(a.noise_key, S_SIGN)
    value = np.where(a.flip, near, truth) + a.jitter
    value = np.where(answer, np.clip(value, 0.5, 1.0), np.clip(value, 0.0, 0.4999))
    return {"label": answer, "score": value, "confidence": 0.5 + np.abs(value - 0.5)}


def _eta(a: _Answers) -> Block:
    """A score in [0.2, 0.8], off by 0.05-0.15 when wrong."""
    truth = 0.2 + 0.6 * a.h.uniform(a.inp, S_SCORE) ** 1.5
    sign = np.where(a.h.uniform(a.noise_key, S_SIGN) < 0.5, -1.0, 1.0)
    error = sign * (0.05 + 0.10 * a.h.uniform(a.noise_key, S_MINOR))
    confidence = 0.75 + 0.2 * a.h.uniform(a.inp, S_CONF) - np.where(a.flip, 0.1, 0.0)
    return {"score": truth + a.jitter + np.where(a.flip, error, 0.0), "confidence": confidence}


def _recs(a: _Answers) -> Block:
    """10 distinct catalog items: first + i * step; a variant replaces items of its own."""
    base = a.h.hash(a.inp, S_TRUTH)
    first = (base % np.uint64(CATALOG)).astype(np.int64)
    step = 1 + ((base >> np.uint64(20)) % np.uint64(97)).astype(np.int64)
    slot = a.slot.astype(np.int64)
    multiple = np.tile(np.arange(TOPK), (len(slot), 1))
    minor = a.h.uniform(a.noise_key, S_MINOR) < MINOR_SWAP[SLOT_QUANT[slot]]
    multiple[minor, TOPK - 1] = 10 + slot[minor]
    multiple[minor, 3], multiple[minor, 4] = 4, 3  # reordered, same items
    major = np.flatnonzero(a.flip)
    multiple[major, TOPK - 3 :] = (20 + 3 * slot[major])[:, None] + np.arange(3)
    items = (first[:, None] + multiple * step[:, None]) % CATALOG
    return {"items": items, "confidence": 0.35 + 0.5 * a.h.uniform(a.inp, S_CONF)}


# --- To Arrow and into the lake ---------------------------------------------------------

_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
_LABELS = pa.array(["legit", "fraud"])
_ITEMS = pa.array([f"sku-{i:05d}" for i in range(CATALOG)])
_TIME = pa.timestamp("us", "UTC")
_TEXT_MAP = pa.map_(pa.string(), pa.string())
_STATUS = pa.array(["unset", "error"])
_TIMEOUT = pa.array(["inference timeout"])


def _hex(words: list[np.ndarray]) -> pa.Array:
    """Lowercase hex of 64-bit words side by side (fixed width, no Python loop)."""
    n = len(words[0])
    raw = np.stack([w.astype(">u8") for w in words], axis=1).view(np.uint8).reshape(n, -1)
    chars = np.empty((n, raw.shape[1] * 2), np.uint8)
    chars[:, 0::2] = _HEX[raw >> 4]
    chars[:, 1::2] = _HEX[raw & 15]
    offsets = np.arange(n + 1, dtype=np.int32) * chars.shape[1]
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars))


def _topk(items: np.ndarray, present: np.ndarray) -> pa.Array:
    counts = np.where(present, TOPK, 0)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    values = _ITEMS.take(pa.array(items[present].ravel()))
    return pa.ListArray.from_arrays(pa.array(offsets), values, mask=pa.array(~present))


def _spans_table(ctx: _Context, block: Block, batch_seq: int) -> pa.Table:
    """The block as ``spans`` columns (ids as lowercase hex, enums as words)."""
    h, nodes, n = ctx.h, ctx.nodes, len(block["span"])
    span, node = block["span"], pa.array(block["node"])
    variant = pa.array(block["feature"].astype(np.int32) * len(SLOTS) + block["slot"])
    start = block["start"]
    end = start + (block["duration"] * 1000).astype(np.int64)
    label = block["label"]
    score = block["score"]
    error = block["error"]
    columns = {
        "trace_id": _hex([h.hash(span, S_TRACE_HI), h.hash(span, S_TRACE_LO)]),
        "span_id": _hex([h.hash(span, S_SPAN)]),
        "start_time": pa.array(start, _TIME),
        "end_time": pa.array(end, _TIME),
        "duration_ms": pa.array(block["duration"]),
        "status_code": _STATUS.take(pa.array(error.astype(np.int8))),
        "status_message": _TIMEOUT.take(pa.array(np.zeros(n, np.int8), mask=~error)),
        "service_name": pa.array(SERVICES).take(pa.array(nodes.tier).take(node)),
        "node_id": nodes.ids.take(node),
        "region": pa.array(REGIONS).take(pa.array(nodes.region).take(node)),
        "environment": nodes.environment.take(node),
        "feature": _VARIANT_COLUMNS["feature"].take(variant),
        "model_name": _VARIANT_COLUMNS["model_name"].take(variant),
        "model_version": _VARIANT_COLUMNS["model_version"].take(variant),
        "quantization": _VARIANT_COLUMNS["quantization"].take(variant),
        "hardware_tier": _VARIANT_COLUMNS["hardware_tier"].take(variant),
        "accelerator": _VARIANT_COLUMNS["accelerator"].take(variant),
        "input_fingerprint": _hex(
            [h.hash(block["input"], S_FP_HI), h.hash(block["input"], S_FP_LO)]
        ),
        "output_label": _LABELS.take(pa.array(label.astype(np.int32), mask=label < 0)),
        "output_score": pa.array(score, mask=np.isnan(score)),
        "output_topk": _topk(block["items"], block["items"][:, 0] >= 0),
        "confidence": pa.array(block["confidence"], mask=np.isnan(block["confidence"])),
        "cold_start": pa.array(block["cold"]),
        "attributes": pa.MapArray.from_arrays(
            pa.array(np.zeros(n + 1, np.int32)),
            pa.array([], pa.string()),
            pa.array([], pa.string()),
        ),
        "resource_id": pa.array(nodes.resource_ids).take(node),
        "ingested_at": pa.array(block["ingest"], _TIME),
    }
    table = pa.table(columns)
    return table.append_column("batch_seq", pa.array(np.full(n, batch_seq, np.int64)))


def _variant_columns() -> dict[str, pa.Array]:
    rows = variants()
    return {
        "feature": pa.array([v.feature for v in rows]),
        "model_name": pa.array([v.model for v in rows]),
        "model_version": pa.array([v.version for v in rows]),
        "quantization": pa.array([v.quantization for v in rows]),
        "hardware_tier": pa.array([v.tier for v in rows]),
        "accelerator": pa.array([v.accelerator for v in rows]),
    }


_VARIANT_COLUMNS = _variant_columns()
INSERT_SPANS = """
INSERT INTO spans BY NAME
SELECT *, 'inference' AS name, 'internal' AS kind, 'predict' AS operation,
       'parallax.sdk' AS scope_name, '0.1.0' AS scope_version
FROM fleet_data_spans
"""


@dataclass(frozen=True)
class _Staged:
    """One commit's rows, ready for DuckDB."""

    spans: pa.Table
    batches: pa.Table


def _stage(ctx: _Context, block: Block, batch_seq: int) -> _Staged:
    """The block's spans in arrival order, and a ledger row per node that sent some."""
    order = np.argsort(block["ingest"], kind="stable")
    block = {name: column[order] for name, column in block.items()}
    per_node = np.bincount(block["node"], minlength=ctx.nodes.count)
    present = pa.array(np.flatnonzero(per_node))
    rows = len(present)
    ledger = pa.table(
        {
            "node_id": ctx.nodes.ids.take(present),
            "buffer_id": ctx.nodes.buffer_ids.take(present),
            "batch_seq": pa.array(np.full(rows, batch_seq, np.int64)),
            "span_count": pa.array(per_node[np.flatnonzero(per_node)].astype(np.int32)),
            "rejected_count": pa.array(np.zeros(rows, np.int32)),
            "committed_at": pa.array(np.full(rows, block["ingest"].max()), _TIME),
        }
    )
    return _Staged(_spans_table(ctx, block, batch_seq), ledger)


def _commit(con: duckdb.DuckDBPyConnection, staged: _Staged) -> None:
    """One transaction, as the ingest's group commit: the spans and their ledger rows."""
    con.register("fleet_data_spans", staged.spans)
    con.register("fleet_data_batches", staged.batches)
    try:
        con.execute("BEGIN")
        try:
            con.execute(INSERT_SPANS)
            con.execute("INSERT INTO ingested_batches BY NAME SELECT * FROM fleet_data_batches")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.unregister("fleet_data_spans")
        con.unregister("fleet_data_batches")


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def _ahead(items: Iterator[_Staged]) -> Iterator[_Staged]:
    """``items``, computed one ahead in a thread: NumPy and Arrow work while DuckDB writes."""
    slot: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                slot.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            offer(_Failed(error))

    worker = threading.Thread(target=work, name="fleet-data-generator", daemon=True)
    worker.start()
    try:
        while (item := slot.get()) is not _DONE:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()


def _write(
    con: duckdb.DuckDBPyConnection,
    ctx: _Context,
    blocks: Iterator[Block],
    first_commit: int,
    total: int,
    progress: Progress | None,
) -> int:
    """Commit each block (numbered from ``first_commit + 1``); the number of commits."""
    staged = (_stage(ctx, block, first_commit + i) for i, block in enumerate(blocks, 1))
    commits = written = 0
    for item in _ahead(staged):
        _commit(con, item)
        commits += 1
        written += item.spans.num_rows
        if progress:
            progress(written, total)
    return commits


def _take(block: Block, rows: np.ndarray) -> Block:
    return {name: column[rows] for name, column in block.items()}


def _concat(blocks: list[Block]) -> Block:
    return {name: np.concatenate([b[name] for b in blocks]) for name in blocks[0]}


# --- Inventory: resources, heartbeats, nodes ----------------------------------------------


def _models(slot: int) -> list[dict[str, Any]]:
    version, quant = SLOTS[slot][0], SLOTS[slot][1]
    models = [
        {"model_name": f.model, "model_version": version, "quantization": quant,
         "loaded": True, "warm": True}
        for f in FEATURES
    ]  # fmt: skip
    if slot in STAGED_SLOTS:
        models += [dict(m, model_version=NEWEST_VERSION, loaded=False, warm=False) for m in models]
    return models


def _heartbeats(ctx: _Context, from_us: int, to_us: int) -> pa.Table:
    """An hourly heartbeat per node in (from_us, to_us], at a per-node minute of the hour."""
    nodes, h = ctx.nodes, ctx.h
    numbers = np.arange(nodes.count)
    phase = (h.uniform(numbers, S_HEARTBEAT) * HOUR_US).astype(np.int64)
    hours = np.arange(from_us // HOUR_US, to_us // HOUR_US + 1, dtype=np.int64) * HOUR_US
    when = (hours[:, None] + phase[None, :]).ravel()
    node = np.tile(numbers, len(hours))
    keep = (when > from_us) & (when <= to_us)
    when, node = when[keep], node[keep]
    seq = (when - ctx.lake_start_us) // HOUR_US + 1
    tier = nodes.tier[node]
    key = node.astype(np.uint64) << np.uint64(32) | seq.astype(np.uint64)
    node_arr = pa.array(node)
    rtt = np.array([60.0, 15.0, 2.0])[tier] * (0.7 + 0.6 * h.uniform(key, S_RTT))
    offset = np.array([30.0, 8.0, 1.0])[tier] * h.normal(numbers, S_CLOCK)[node]
    pending = np.where(h.uniform(key, S_PENDING) < 0.05, h.uniform(key, S_PENDING + 50) * 4e6, 0)
    model_lists = pa.array([_models(int(s)) for s in nodes.slot], pa.list_(MODEL_STATE))
    return pa.table(
        {
            "node_id": nodes.ids.take(node_arr),
            "heartbeat_seq": pa.array(seq),
            "received_at": pa.array(when, _TIME),
            "node_sent_at": pa.array(when - ((offset + rtt / 2) * 1000).astype(np.int64), _TIME),
            "hardware_tier": pa.array(TIERS).take(pa.array(tier)),
            "region": pa.array(REGIONS).take(pa.array(nodes.region).take(node_arr)),
            "accelerator": pa.array(TIER_ACCEL).take(pa.array(tier)),
            "collector_version": pa.array(np.full(len(node), COLLECTOR_VERSION)),
            "models": model_lists.take(node_arr),
            "pending_bytes": pa.array(pending.astype(np.int64)),
            "pending_batches": pa.array((pending // 200_000).astype(np.int64)),
            "oldest_pending_age_s": pa.array(pending / 1e5),
            "dropped_spans": pa.array(np.zeros(len(node), np.int64)),
            "disk_free_bytes": pa.array((np.array([8, 120, 900])[tier] * 2**30).astype(np.int64)),
            "clock_offset_ms": pa.array(offset),
            "round_trip_ms": pa.array(rtt),
        }
    )


LATEST_NODES = """
WITH latest AS (
    SELECT * FROM node_heartbeats
    QUALIFY row_number() OVER (PARTITION BY node_id ORDER BY received_at DESC) = 1
),
seen AS (
    SELECT node_id, min(received_at) AS first_seen_at, count(*) AS heartbeat_count
    FROM node_heartbeats GROUP BY node_id
)
SELECT latest.* EXCLUDE (received_at), latest.received_at AS last_seen_at,
       first_seen_at, heartbeat_count
FROM latest JOIN seen USING (node_id)
"""


def _write_inventory(
    con: duckdb.DuckDBPyConnection, ctx: _Context, from_us: int, to_us: int, resources: bool
) -> None:
    """Heartbeats for the period and the nodes' latest rows (and resources), one commit."""
    con.register("fleet_data_heartbeats", _heartbeats(ctx, from_us, to_us))
    try:
        con.execute("BEGIN")
        try:
            con.execute("INSERT INTO node_heartbeats BY NAME SELECT * FROM fleet_data_heartbeats")
            if resources:
                _insert_resources(con, ctx, from_us)
            ids = ctx.nodes.ids.to_pylist()
            con.execute("DELETE FROM nodes WHERE node_id IN (SELECT unnest(?))", [ids])
            con.execute(f"INSERT INTO nodes BY NAME {LATEST_NODES}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.unregister("fleet_data_heartbeats")


def _insert_resources(con: duckdb.DuckDBPyConnection, ctx: _Context, seen_us: int) -> None:
    nodes = ctx.nodes
    attributes = [
        _resource(nodes.ids[i].as_py(), int(nodes.tier[i]), int(nodes.region[i]),
                  nodes.environment[i].as_py())
        for i in range(nodes.count)
    ]  # fmt: skip
    con.register(
        "fleet_data_resources",
        pa.table(
            {
                "resource_id": pa.array(nodes.resource_ids),
                "attributes": pa.array(attributes, _TEXT_MAP),
                "first_seen_at": pa.array(np.full(nodes.count, seen_us), _TIME),
            }
        ),
    )
    try:
        con.execute("INSERT INTO resources BY NAME SELECT * FROM fleet_data_resources")
    finally:
        con.unregister("fleet_data_resources")


# --- Public API -------------------------------------------------------------------------

Progress = Callable[[int, int], None]


def generate(
    con: duckdb.DuckDBPyConnection,
    spans: int,
    *,
    seed: int = 7,
    start: datetime | None = None,
    days: float = 7.0,
    nodes: int = 500,
    late_fraction: float = 0.02,
    replicated_fraction: float = 0.3,
    chunk_rows: int = 500_000,
    progress: Progress | None = None,
) -> GeneratedFleet:
    """Write ``spans`` spans of a synthetic fleet into the (empty) ``spans`` table of ``con``.

    Also writes one ``resources`` row and hourly ``node_heartbeats`` per node, and the
    ``nodes`` rows. ``start`` (default 2026-11-02T00:00Z, naive means UTC) and ``days``
    bound the start times. Commits once per chunk of at most ``chunk_rows`` spans (plus
    once for the inventory). ``progress(written, total)`` is called after every commit.
    Returns the description that :func:`append` continues from; the module docstring
    lists what the data contains.
    """
    _check(spans, late_fraction, replicated_fraction, chunk_rows)
    if con.execute("SELECT count(*) FROM spans").fetchone()[0]:
        raise ValueError("generate() needs an empty spans table; use append() to add spans")
    began = time.perf_counter()
    start = _aware(start or DEFAULT_START)
    start_us = _us(start)
    end_us = start_us + round(days * 86400 * US)
    fleet = GeneratedFleet(seed, nodes, replicated_fraction, start, _datetime(end_us), 0, 0, 0,
                           0, 0)  # fmt: skip
    ctx = _context(fleet)
    _write_inventory(con, ctx, start_us - 1, end_us, resources=True)
    counts = _plan(ctx, 0, spans)
    ctx.segments = [Segment(0, len(counts), start_us, end_us)]
    late: list[int] = []
    chunks = _timeline(ctx, counts, late_fraction, chunk_rows, late)
    commits = _write(con, ctx, chunks, 0, spans, progress)
    return dataclasses.replace(
        fleet, spans=spans, inputs=len(counts), late_spans=sum(late), commits=commits,
        segments=tuple(ctx.segments), last_spans=spans, last_commits=commits,
        last_seconds=round(time.perf_counter() - began, 3),
    )  # fmt: skip


def append(
    con: duckdb.DuckDBPyConnection,
    fleet: GeneratedFleet,
    spans: int,
    *,
    late_fraction: float = 0.05,
    reanswer_fraction: float = 0.05,
    chunk_rows: int = 500_000,
    progress: Progress | None = None,
) -> GeneratedFleet:
    """Add exactly ``spans`` spans after ``fleet`` (what :func:`generate` or the last append
    returned), in new commits, ingested in a new period that extends the timeline.

    Of them, ``reanswer_fraction`` are answers to existing inputs by variants that had not
    answered them (dated within 5 min of the input: old groups re-open),
    ``late_fraction`` are spans of new inputs dated 1-72 h before the previous end, and the
    rest new inputs in the new period. Heartbeats are added for the new period and
    ``nodes`` refreshed. Returns the updated description.
    """
    _check(spans, late_fraction, replicated_fraction=0.3, chunk_rows=chunk_rows)
    if not 0 <= reanswer_fraction <= 1 - late_fraction:
        raise ValueError("reanswer_fraction: between 0 and 1 - late_fraction")
    began = time.perf_counter()
    ctx = _context(fleet)
    n_reanswer = round(spans * reanswer_fraction) if fleet.inputs else 0
    n_late = round(spans * late_fraction)
    n_new = spans - n_reanswer - n_late
    prev_end = _us(fleet.end)
    rate = fleet.spans / max(prev_end - ctx.lake_start_us, 1)
    end_us = prev_end + max(round(n_new / rate) if rate else HOUR_US, 1)
    blocks, next_input = _new_inputs(ctx, fleet, (n_new, n_late), prev_end, end_us)
    if n_reanswer:
        first_span = fleet.spans + n_new + n_late
        blocks.append(_reanswers(ctx, fleet, n_reanswer, first_span, prev_end, end_us))
    commits = 0
    if blocks:
        chunks = _in_arrival_order(_concat(blocks), chunk_rows)
        commits = _write(con, ctx, chunks, fleet.commits, spans, progress)
    _write_inventory(con, ctx, prev_end, end_us, resources=False)
    return dataclasses.replace(
        fleet, end=_datetime(end_us), spans=fleet.spans + spans, inputs=next_input,
        late_spans=fleet.late_spans + n_late + n_reanswer, reanswers=fleet.reanswers + n_reanswer,
        commits=fleet.commits + commits, segments=tuple(ctx.segments), last_spans=spans,
        last_commits=commits, last_seconds=round(time.perf_counter() - began, 3),
    )  # fmt: skip


def _check(spans: int, late_fraction: float, replicated_fraction: float, chunk_rows: int) -> None:
    if spans < 0:
        raise ValueError(f"spans: must be at least 0 (got {spans})")
    if not 0 <= late_fraction <= 1 or not 0 <= replicated_fraction <= 1:
        raise ValueError("late_fraction and replicated_fraction: between 0 and 1")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows: must be at least 1 (got {chunk_rows})")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _new_inputs(
    ctx: _Context, fleet: GeneratedFleet, spans: tuple[int, int], prev_end: int, end_us: int
) -> tuple[list[Block], int]:
    """Spans of new inputs: (on time in the new period, dated 1-72 h back); next input number."""
    blocks, next_input, next_span = [], fleet.inputs, fleet.spans
    for count, late in zip(spans, (False, True), strict=True):
        if not count:
            continue
        counts = _plan(ctx, next_input, count)
        lo, hi = (prev_end - HOUR_US, prev_end) if late else (prev_end, end_us)
        ctx.segments.append(Segment(next_input, len(counts), lo, hi, late))
        block = _input_spans(ctx, next_input, counts, next_span)
        if late:
            block["ingest"] = _arrivals(ctx, block["span"], prev_end, end_us)
        blocks.append(block)
        next_input, next_span = next_input + len(counts), next_span + count
    return blocks, next_input


def _arrivals(ctx: _Context, span: np.ndarray, lo_us: int, hi_us: int) -> np.ndarray:
    return lo_us + (ctx.h.uniform(span, S_ARRIVAL) * (hi_us - lo_us)).astype(np.int64)


def _reanswers(
    ctx: _Context, fleet: GeneratedFleet, count: int, first_span: int, lo_us: int, hi_us: int
) -> Block:
    """Answers to old inputs by a variant that had not answered (a repeat if all had)."""
    keys = np.arange(first_span, first_span + count, dtype=np.uint64)
    inp = (ctx.h.uniform(keys, S_REANSWER) * fleet.inputs).astype(np.uint64)
    replicated, k, _ = _answers_per_input(ctx, inp)
    perm = _permutation(ctx, inp)
    rows = np.arange(count)
    single_slot = ctx.nodes.slot[_weighted_node(ctx, inp)]
    skip_first = perm[:, 0] == single_slot
    position = np.where(replicated, np.minimum(k, len(SLOTS) - 1), skip_first.astype(np.int64))
    slot = perm[rows, position]
    node = _node_of_slot(ctx, slot, ctx.h.uniform(keys, S_NODE_REP)).astype(np.int32)
    offset = (ctx.h.uniform(keys, S_OFFSET) * 300 * US).astype(np.int64)
    start = _input_times(ctx, inp) + offset
    block = _assemble(ctx, inp, _features(ctx, inp), slot, node, start, first_span)
    block["ingest"] = np.maximum(_arrivals(ctx, keys, lo_us, hi_us), block["ingest"])
    return block


def _chunks(counts: np.ndarray, chunk_rows: int) -> list[tuple[int, int]]:
    """(first input, end input) of consecutive chunks of about equal size, <= ~chunk_rows."""
    cum = np.cumsum(counts)
    total = int(cum[-1]) if len(cum) else 0
    pieces = -(-total // chunk_rows)
    targets = np.arange(1, pieces) * (total / max(pieces, 1))
    bounds = [0, *np.searchsorted(cum, targets, "right").tolist(), len(counts)]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def _timeline(
    ctx: _Context, counts: np.ndarray, late_fraction: float, chunk_rows: int, late: list[int]
) -> Iterator[Block]:
    """Generate's chunks in input order, late spans held back to the chunk of their arrival.

    Appends the number of late spans of each chunk to ``late``.
    """
    bounds = _chunks(counts, chunk_rows)
    chunk_start = _input_times(ctx, np.array([a for a, _ in bounds], np.uint64))
    end_us = ctx.segments[0].end_us
    pending: list[tuple[np.ndarray, Block]] = []
    span_no = 0
    for index, (a, b) in enumerate(bounds):
        block = _input_spans(ctx, a, counts[a:b], span_no)
        span_no += int(counts[a:b].sum())
        is_late = _late_rows(ctx, block, late_fraction, end_us)
        late.append(int(is_late.sum()))
        arrival = np.searchsorted(chunk_start, block["ingest"][is_late], "right") - 1
        pending.append((np.clip(arrival, index, len(bounds) - 1), _take(block, is_late)))
        due = [_take(held, arr == index) for arr, held in pending]
        pending = [(arr[arr != index], _take(held, arr != index)) for arr, held in pending]
        pending = [(arr, held) for arr, held in pending if len(arr)]
        yield _concat([_take(block, ~is_late), *due])


def _late_rows(ctx: _Context, block: Block, late_fraction: float, end_us: int) -> np.ndarray:
    """Mark late spans and move their ingested_at 1-72 h on (never past the lake's end)."""
    h, span = ctx.h, block["span"]
    delay = np.exp(np.log(HOUR_US) + h.uniform(span, S_DELAY) * np.log(72)).astype(np.int64)
    end = block["start"] + (block["duration"] * 1000).astype(np.int64)
    late = (h.uniform(span, S_LATE) < late_fraction) & (end + HOUR_US <= end_us)
    block["ingest"] = np.where(late, end + np.minimum(delay, end_us - end), block["ingest"])
    return late


def _in_arrival_order(block: Block, chunk_rows: int) -> Iterator[Block]:
    """``block`` sorted by ingested_at, ``chunk_rows`` spans at a time."""
    order = np.argsort(block["ingest"], kind="stable")
    for lo in range(0, len(order), chunk_rows):
        yield _take(block, order[lo : lo + chunk_rows])


# --- Command line -----------------------------------------------------------------------

FLEET_FILE = "fleet.json"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from parallax.config import StoreSettings
    from store import open_writer

    lake = Path(args.path)
    state = lake / FLEET_FILE
    if args.append is None and lake.exists() and any(lake.iterdir()):
        print(f"{lake} is not empty: remove it, or add spans with --append N", file=sys.stderr)
        return 2
    if args.append is not None and not state.exists():
        print(f"no {state}: create the lake with --spans first", file=sys.stderr)
        return 2
    began = time.perf_counter()
    with open_writer(StoreSettings(path=str(lake))) as writer:
        fleet = _run(writer.con, args, state)
    fleet.save(state)
    _report(fleet, lake, time.perf_counter() - began)
    return 0


def _run(con: duckdb.DuckDBPyConnection, args: argparse.Namespace, state: Path) -> GeneratedFleet:
    def progress(written: int, total: int) -> None:
        print(f"  {written:,}/{total:,} spans", file=sys.stderr, flush=True)

    if args.append is not None:
        return append(con, GeneratedFleet.load(state), args.append, chunk_rows=args.chunk_rows,
                      progress=progress)  # fmt: skip
    start = None
    if args.ending_now:
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        start = hour - timedelta(days=args.days)
    elif args.start:
        start = datetime.fromisoformat(args.start)
    return generate(
        con, args.spans, seed=args.seed, start=start, days=args.days, nodes=args.nodes,
        late_fraction=args.late_fraction, replicated_fraction=args.replicated_fraction,
        chunk_rows=args.chunk_rows, progress=progress,
    )  # fmt: skip


def _report(fleet: GeneratedFleet, lake: Path, seconds: float) -> None:
    size = sum(p.stat().st_size for p in lake.rglob("*") if p.is_file())
    rss_kib = _peak_rss_kib()
    rate = fleet.last_spans / fleet.last_seconds if fleet.last_seconds else 0.0
    print(
        f"{fleet.last_spans:,} spans in {fleet.last_seconds:.1f}s ({rate:,.0f} rows/s), "
        f"{fleet.last_commits} commits; {seconds:.1f}s with attach and migrations\n"
        f"lake {lake}: {fleet.spans:,} spans, {fleet.inputs:,} inputs, {fleet.late_spans:,} late, "
        f"{fleet.reanswers:,} re-answers, {fleet.nodes} nodes, {fleet.start:%Y-%m-%d %H:%M} .. "
        f"{fleet.end:%Y-%m-%d %H:%M} UTC; {size / 2**20:,.1f} MiB on disk; "
        f"peak RSS {rss_kib / 1024:,.0f} MiB"
    )


def _peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", required=True, help="lake directory (new, or with --append)")
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans of a new lake")
    parser.add_argument("--append", type=int, help="add this many spans to an existing lake")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--start", help=f"ISO time of the first span (default {DEFAULT_START})")
    parser.add_argument("--ending-now", action="store_true", help="data ends at this hour")
    parser.add_argument("--late-fraction", type=float, default=0.02)
    parser.add_argument("--replicated-fraction", type=float, default=0.3)
    parser.add_argument("--chunk-rows", type=int, default=500_000)
    return parser


if __name__ == "__main__":
    sys.exit(main())
