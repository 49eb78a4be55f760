"""The receivers an ingest load runs against, as child processes, and what is checked after.

- ``parallax server`` on a fresh lake, started and stopped with ``bench/children.py``'s
  ``Child`` (its own session, SIGTERM when this process dies, SIGKILL after a timeout);
- the no-op receiver (``bench/noop_receiver.py``), the ceiling of the same load.

After a server run the lake is opened read-only and must hold exactly the acknowledged
spans; the server's periodic ``ingest:`` log lines give its commits.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from bench.children import Child, Children, free_port, start_server

NOOP_RECEIVER = Path(__file__).resolve().parent / "noop_receiver.py"
START_TIMEOUT_S = 60
MIB = 1024 * 1024


def start_parallax(children: Children, lake: Path, run_dir: Path, env: dict[str, str]) -> Child:
    """``parallax server`` on ``lake`` (created if missing) at a free local port."""
    port = free_port()
    server = children.add(start_server(lake, port, run_dir, env))
    server.address = f"127.0.0.1:{port}"
    return server


def start_noop(children: Children, run_dir: Path, env: dict[str, str]) -> Child:
    """The no-op OTLP receiver at a port of its choosing."""
    command = [sys.executable, str(NOOP_RECEIVER), "--listen", "127.0.0.1:0"]
    receiver = children.add(Child("noop", command, run_dir / "noop.log", env))
    line = receiver.expect("listening on", START_TIMEOUT_S)
    receiver.address = line.rsplit(" ", 1)[-1]
    return receiver


def verify_lake(lake: Path, acked_spans: int, ok_requests: int) -> dict[str, Any]:
    """What the lake holds against what was acknowledged (``exact`` when they agree)."""
    from parallax.config import StoreSettings
    from store.lake import connect

    con = connect(StoreSettings(path=str(lake)), read_only=True)
    try:
        spans = con.execute("SELECT count(*) FROM spans").fetchone()[0]
        batches, batch_spans = con.execute(
            "SELECT count(*), coalesce(sum(span_count), 0) FROM ingested_batches"
        ).fetchone()
    finally:
        con.close()
    data = [f for f in (lake / "data").rglob("*") if f.is_file()]
    return {
        "lake_spans": spans,
        "lake_data_files": len(data),
        "lake_data_mib": round(sum(f.stat().st_size for f in data) / MIB, 1),
        "acked_spans": acked_spans,
        "lake_batches": batches,
        "lake_batch_span_count": int(batch_spans),
        "ok_requests": ok_requests,
        "exact": spans == acked_spans,
    }


def parse_server_log(path: Path) -> list[str]:
    text = path.read_text(errors="replace") if path.exists() else ""
    keep = ("ingest:", "ERROR", "WARNING", "Traceback")
    return [line for line in text.splitlines() if any(k in line for k in keep)]


def server_commits(log_lines: list[str]) -> dict[str, Any]:
    """Commits and spans per commit, from the server's periodic summary lines."""
    spans = commits = 0
    for line in log_lines:
        match = re.search(r"ingest: .*? ([\d,]+) spans in (\d+) commits", line)
        if match:
            spans += int(match[1].replace(",", ""))
            commits += int(match[2])
    return {
        "commits": commits,
        "spans_per_commit": round(spans / commits) if commits else None,
    }
