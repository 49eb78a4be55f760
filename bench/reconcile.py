"""Reconciler benchmark: a full rebuild of a synthetic fleet lake, then incremental runs.

For each size (default 1M and 10M spans, bench/fleet_data.py: 3 features, 8 variants
each, 30% replicated inputs, 2% late spans): generate the lake, time a full rebuild,
append 1% new spans (re-answers of old inputs, late spans, new inputs), time the
incremental run, and time an incremental run with nothing new. Every phase runs in its
own process so that its peak RSS is its own. Figures go to bench/results/reconcile.json.

    .venv/bin/python bench/reconcile.py                  # 1M and 10M
    .venv/bin/python bench/reconcile.py --sizes 1000000  # one size
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import code_state, machine_info, write_results  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "reconcile.json"
AS_OF = "2026-11-09T00:00:00+00:00"  # the generated lake's end: skew ages are stable


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--new-share", type=float, default=0.01, help="appended share")
    parser.add_argument("--phase", help=argparse.SUPPRESS)  # internal: one phase, in a child
    parser.add_argument("--lake", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        return _phase(args.phase, Path(args.lake), args.sizes[0])
    report: dict[str, Any] = {"machine": machine_info(), "code": code_state(), "sizes": {}}
    for size in args.sizes:
        report["sizes"][str(size)] = _measure(size, args.new_share)
        write_results(RESULTS, "latest", report, __doc__.splitlines()[0])
    print(f"wrote {RESULTS}")
    return 0


def _measure(size: int, new_share: float) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="parallax-reconcile-bench-"))
    lake = workdir / "lake"
    try:
        phases = {
            "generate": _run_phase("generate", lake, size),
            "full_rebuild": _run_phase("full", lake, size),
            "append": _run_phase("append", lake, int(size * new_share)),
            "incremental": _run_phase("incremental", lake, size),
            "incremental_nothing_new": _run_phase("incremental", lake, size),
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result = {"spans": size, "new_spans": int(size * new_share), "phases": phases}
    full, inc = phases["full_rebuild"], phases["incremental"]
    print(
        f"{size:>11,} spans: full rebuild {full['seconds']:.1f}s (peak RSS "
        f"{full['peak_rss_mib']:,} MiB); incremental after {int(size * new_share):,} new spans "
        f"{inc['seconds']:.2f}s ({inc['groups_recomputed']:,} groups, peak RSS "
        f"{inc['peak_rss_mib']:,} MiB); nothing new "
        f"{phases['incremental_nothing_new']['seconds']:.2f}s",
        flush=True,
    )
    return result


def _run_phase(phase: str, lake: Path, size: int) -> dict[str, Any]:
    """Run one phase in a child process; it prints its figures (with its peak RSS) as JSON."""
    command = [sys.executable, __file__, "--phase", phase, "--lake", str(lake), "--sizes",
               str(size)]  # fmt: skip
    child = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if child.returncode:
        raise SystemExit(f"phase {phase} failed with exit code {child.returncode}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def _phase(phase: str, lake: Path, size: int) -> int:
    import resource
    from datetime import datetime

    from bench.fleet_data import GeneratedFleet, append, generate
    from parallax.config import ReconcilerSettings, StoreSettings
    from reconciler import reconcile
    from reconciler.policy_file import load_policies
    from store.lake import open_writer

    started = time.monotonic()
    figures: dict[str, Any] = {}
    with open_writer(StoreSettings(path=str(lake))) as writer:
        if phase == "generate":
            generate(writer.con, size).save(lake / "fleet.json")
        elif phase == "append":
            fleet = append(writer.con, GeneratedFleet.load(lake / "fleet.json"), size)
            fleet.save(lake / "fleet.json")
        else:
            report = reconcile(
                writer,
                load_policies(ROOT / "deploy" / "policies.toml"),
                ReconcilerSettings(),
                full=phase == "full",
                as_of=datetime.fromisoformat(AS_OF),
            )
            figures |= {
                "mode": report.mode,
                "new_spans": report.new_spans,
                "groups_recomputed": report.groups_recomputed,
                "fraud_scoring_vs_reference": _reference_pairs(writer.con),
            }
    figures["seconds"] = round(time.monotonic() - started, 3)
    figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps(figures), flush=True)
    return 0


def _reference_pairs(con: Any) -> list[dict[str, Any]]:
    """Measured rates and verdicts against the reference, to check against fleet_data's truth."""
    rows = con.execute(
        "SELECT variant_a, variant_b, shared_inputs, disagreement_rate, noise_floor, verdict "
        "FROM variant_pairs WHERE feature = 'fraud-scoring' AND variant_a <> variant_b "
        "AND 'fraud-gbm 2.3 fp32 cloud gpu' IN (variant_a, variant_b) ORDER BY ALL"
    ).fetchall()
    keys = ("variant_a", "variant_b", "shared_inputs", "disagreement_rate", "noise_floor",
            "verdict")  # fmt: skip
    return [dict(zip(keys, row, strict=True)) for row in rows]


if __name__ == "__main__":
    sys.exit(main())
