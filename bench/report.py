"""What every benchmark records beside its figures: the machine, the code, the results file."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np


def machine_info() -> dict[str, Any]:
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for name in ("grpcio", "protobuf", "duckdb", "pyarrow", "numpy"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[name] = version(name)
    with contextlib.suppress(Exception):
        from google.protobuf.internal import api_implementation

        versions["protobuf_backend"] = api_implementation.Type()
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "mem_total_mib": status_meminfo_mib(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "code": code_state(),
    }


def status_meminfo_mib() -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0


def code_state() -> dict[str, Any]:
    """Which code ran: where ``store`` is imported from, and its git state (read-only calls).

    The server subprocess inherits the environment, so it imports the same tree (e.g. a
    ``git archive`` export put first with PYTHONPATH).
    """
    import store

    root = Path(store.__file__).resolve().parent.parent

    def git(*argv: str) -> str:
        return subprocess.run(
            ["git", "--no-optional-locks", *argv],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout.strip()

    state: dict[str, Any] = {"root": str(root)}
    with contextlib.suppress(Exception):
        state["git_commit"] = git("rev-parse", "HEAD") or None
        if state["git_commit"]:
            changed = git("status", "--porcelain", "--", "store", "parallax").splitlines()
            state["uncommitted_changes"] = changed
    return state


def write_results(
    path: Path, label: str, report: dict[str, Any], description: str, section: str = "runs"
) -> None:
    """Merge this run into the results file's ``section`` under its label (atomically).

    ``latest`` names the label last written to ``runs``; ``latest_<section>`` does so for
    any other section (e.g. ``latest_sweeps``). Other sections are kept as they are.
    """
    data: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text())
    if not isinstance(data, dict):
        data = {}
    if not isinstance(data.get(section), dict):
        data[section] = {}
    data["description"] = description
    data[section][label] = report
    data["latest" if section == "runs" else f"latest_{section}"] = label
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)


def latency_ms(seconds: list[float]) -> dict[str, float | None]:
    """Count and percentiles (p50, p90, p99, max) of durations given in seconds, in ms."""
    if not seconds:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "max": None}
    p50, p90, p99 = np.percentile(np.asarray(seconds) * 1000, [50, 90, 99])
    return {
        "n": len(seconds),
        "p50": round(float(p50), 1),
        "p90": round(float(p90), 1),
        "p99": round(float(p99), 1),
        "max": round(max(seconds) * 1000, 1),
    }
