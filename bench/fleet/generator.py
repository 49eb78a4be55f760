"""generate() and append(): the timeline of inputs, late spans and re-answers, in commits."""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import duckdb
import numpy as np

from bench.fleet.catalog import DEFAULT_START, HOUR_US, SLOTS, US
from bench.fleet.description import GeneratedFleet, Segment, _Context, _context, _datetime, _us
from bench.fleet.hashing import S_ARRIVAL, S_DELAY, S_LATE, S_NODE_REP, S_OFFSET, S_REANSWER
from bench.fleet.lake import _concat, _take, _write, _write_inventory
from bench.fleet.spans import (
    Block,
    _answers_per_input,
    _assemble,
    _features,
    _input_spans,
    _input_times,
    _node_of_slot,
    _permutation,
    _plan,
    _weighted_node,
)
from parallax.progress import QUIET, Progress

# --- Public API -------------------------------------------------------------------------


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
    progress: Progress = QUIET,
) -> GeneratedFleet:
    """Write ``spans`` spans of a synthetic fleet into the (empty) ``spans`` table of ``con``.

    Also writes one ``resources`` row and hourly ``node_heartbeats`` per node, and the
    ``nodes`` rows. ``start`` (default 2026-11-02T00:00Z, naive means UTC) and ``days``
    bound the start times. Commits once per chunk of at most ``chunk_rows`` spans (plus
    once for the inventory). ``progress`` hears the phases and the spans committed.
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
    progress.phase("write the inventory")
    _write_inventory(con, ctx, start_us - 1, end_us, resources=True)
    progress.phase("plan inputs")
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
    progress: Progress = QUIET,
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
    progress.phase("write the inventory")
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
