"""Inputs (feature, replication, time) and their spans: timing, errors and outputs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.fleet.catalog import (
    CATALOG,
    COLD_SHARE,
    ERROR_SHARE,
    FEATURE_MS,
    FEATURES,
    HOUR_US,
    MINOR_SWAP,
    NOISY_SLOT,
    RATES,
    REPEAT_SHARE,
    SCORE_JITTER,
    SLOT_QUANT,
    SLOT_TIER,
    SLOTS,
    SPEED,
    TIER_MS,
    TOPK,
    US,
)
from bench.fleet.description import _Context
from bench.fleet.hashing import (
    S_COLD,
    S_COLD_MS,
    S_CONF,
    S_DELAY,
    S_DURATION,
    S_ERROR,
    S_FEATURE,
    S_FLIP,
    S_JITTER,
    S_K,
    S_LAG,
    S_MINOR,
    S_NODE,
    S_NODE_REP,
    S_NOISY,
    S_OFFSET,
    S_PERM,
    S_REPEAT,
    S_REPLICATED,
    S_SCORE,
    S_SIGN,
    S_TIME,
    S_TRUTH,
    _Hasher,
)

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
