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
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench`, `parallax` and `store` importable
    sys.path.insert(0, str(ROOT))

# The generator lives in bench/fleet/, by responsibility; these are its public names (and the
# internals tests/bench/test_fleet_data.py exercises).
from bench.fleet import (  # noqa: E402
    DEFAULT_START,
    FEATURES,
    NOISY_SLOT,
    TOPK,
    US,
    Block,
    FleetVariant,
    GeneratedFleet,
    Progress,
    Segment,
    append,
    expected_disagreement,
    generate,
    variants,
)
from bench.fleet.description import _context  # noqa: E402
from bench.fleet.spans import _assemble, _input_spans, _plan  # noqa: E402

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
    "_assemble",
    "_context",
    "_input_spans",
    "_plan",
    "append",
    "expected_disagreement",
    "generate",
    "main",
    "variants",
]

# --- Command line -----------------------------------------------------------------------

FLEET_FILE = "fleet.json"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from launch.progress import terminal_progress
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
    with open_writer(StoreSettings(path=str(lake))) as writer, terminal_progress() as progress:
        fleet = _run(writer.con, args, state, progress)
    fleet.save(state)
    _report(fleet, lake, time.perf_counter() - began)
    return 0


def _run(
    con: duckdb.DuckDBPyConnection, args: argparse.Namespace, state: Path, progress: Progress
) -> GeneratedFleet:
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
