"""The stock-SDK cell of the ingest sweep: an app exporting straight to ``parallax server``.

The app is ``bench/sdk_app.py`` (started through ``bench/children.py``'s ``start_app``):
the stock OpenTelemetry Python SDK, ``BatchSpanProcessor(OTLPSpanExporter)`` over gRPC
with its defaults except the endpoint, creating spans paced at ``rate`` per second for
``duration_s``. Spans the processor dropped because its queue was full are the spans
created but never handed to the exporter nor left queued at exit. After the app exits
the server is stopped and the lake counted: it must hold exactly the exported spans.
The same app runs first against the no-op receiver: what the SDK itself can export on this
machine (its exporter encodes every span in Python and sends one export at a time), the
ceiling for the server's figure.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bench.children import Children, app_result, start_app
from bench.ingest_load import per_100k_spans
from bench.ingest_targets import start_noop, start_parallax, verify_lake
from bench.procfs import status_kib, tree_cpu_s

APP_EXIT_GRACE_S = 120  # the SDK's shutdown exports what is queued (its own 30 s bound)
BELOW_TARGET = 0.95  # an app creating fewer spans than this share of the rate was the limit


def run_sdk_cell(
    rate: int,
    duration_s: float,
    warmup_s: float,
    workdir: Path,
    children: Children,
    env: dict[str, str],
) -> dict[str, Any]:
    """Run the app at ``rate`` spans/s against the no-op receiver, then against a fresh
    server; the cell's figures (the no-op run's under ``noop``)."""
    run_dir = workdir / "sdk"
    run_dir.mkdir()
    noop = _against_noop(rate, duration_s, warmup_s, run_dir, children, env)
    lake = run_dir / "lake"
    server = start_parallax(children, lake, run_dir, env)
    cpu0 = tree_cpu_s(server.pid)
    app, _ = start_app(children, run_dir, "sdk", server.address, duration_s, rate)
    app = app_result(app, duration_s + APP_EXIT_GRACE_S)
    server_cpu_s = tree_cpu_s(server.pid) - cpu0
    peak_kib = status_kib(server.pid, "VmHWM")
    code, stop_s = server.stop(60)
    check = verify_lake(lake, app["exported_ok"], app["export_latency_ms"]["n"])
    shutil.rmtree(run_dir, ignore_errors=True)
    return sdk_figures(app, rate, duration_s, warmup_s, server_cpu_s, peak_kib) | {
        "stored_spans": check["lake_spans"],
        "verification": check,
        "server_exit": {"code": code, "seconds": stop_s},
        "app": app,
        "noop": noop,
    }


def _against_noop(
    rate: int,
    duration_s: float,
    warmup_s: float,
    run_dir: Path,
    children: Children,
    env: dict[str, str],
) -> dict[str, Any]:
    receiver = start_noop(children, run_dir, env)
    app, _ = start_app(children, run_dir, "sdk-noop", receiver.address, duration_s, rate)
    app = app_result(app, duration_s + APP_EXIT_GRACE_S)
    receiver.stop(60)
    figures = sdk_figures(app, rate, duration_s, warmup_s, 0.0, 0)
    return {
        key: figures[key]
        for key in (
            "produced_spans_per_s",
            "dropped_by_sdk_queue",
            "exported_spans_per_s",
            "export_latency_ms",
        )
    }


def sdk_figures(
    app: dict[str, Any],
    rate: int,
    duration_s: float,
    warmup_s: float,
    server_cpu_s: float,
    peak_kib: int,
) -> dict[str, Any]:
    exported = app["exported_by_second"][int(warmup_s) : int(duration_s)]
    measured_s = int(duration_s) - int(warmup_s)
    produced_rate = round(app["created"] / max(1e-6, app["creation_wall_s"]))
    return {
        "target_spans_per_s": rate,
        "produced_spans": app["created"],
        "produced_spans_per_s": produced_rate,
        "app_kept_the_rate": produced_rate >= BELOW_TARGET * rate,
        "dropped_by_sdk_queue": app["dropped_by_sdk_queue"],
        "export_failed_spans": app["export_failed_spans"],
        "exported_spans": app["exported_ok"],
        "exported_spans_per_s": round(sum(exported) / measured_s) if measured_s > 0 else None,
        "export_latency_ms": app["export_latency_ms"],
        "server_cpu_s_per_100k_spans": per_100k_spans(server_cpu_s, app["exported_ok"]),
        "server_peak_rss_mib": round(peak_kib / 1024, 1),
    }
