"""The raw limits of each ingest stage on this machine, one thread, no server running."""

from __future__ import annotations

import argparse
import gzip
import time
from pathlib import Path
from typing import Any

import numpy as np
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from bench.otlp_clients import build_pool
from bench.procfs import CLOCK_TICKS, machine_jiffies
from bench.report import latency_ms


def _rate(
    work: Any, items_per_call: int, min_seconds: float, warmup_calls: int = 1
) -> tuple[int, int]:
    """Items per second of ``work()`` after a warm-up: (by the median call, by the mean).

    Each call is timed; the median is the headline because other sessions on a shared
    machine stretch some calls (the mean shows how much).
    """
    for _ in range(warmup_calls):
        work()
    times: list[float] = []
    began = time.perf_counter()
    while time.perf_counter() - began < min_seconds or len(times) < 5:
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return (
        round(items_per_call / float(np.median(times))),
        round(items_per_call * len(times) / sum(times)),
    )


def raw_limits(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Single-thread rates of each stage on this machine (server stopped, machine quiet)."""
    from parallax.config import StoreSettings
    from store.ingest import convert
    from store.ingest.ledger import BatchId
    from store.ingest.writer import LakeWriter
    from store.lake import open_writer

    spr = args.spans_per_request
    per_group = max(1, round(20_000 / spr))  # ~20k rows, the server's default flush_rows
    pool = build_pool(1000, max(args.pool, 2 * per_group), spr)
    seconds = args.raw_seconds
    result: dict[str, Any] = {"spans_per_request": spr}
    busy0, cpu0, wall0 = machine_jiffies()[0], time.process_time(), time.monotonic()

    def cycle(fn: Any, items: list) -> Any:
        position = [0]

        def work() -> None:
            fn(items[position[0] % len(items)])
            position[0] += 1

        return work

    def measure(key: str, work: Any, items: int, min_seconds: float, warmup: int = 1) -> None:
        result[key], result[key.replace("_per_s", "_per_s_mean")] = _rate(
            work, items, min_seconds, warmup
        )

    measure(
        "protobuf_parse_stock_spans_per_s",
        cycle(ExportTraceServiceRequest.FromString, pool),
        spr,
        seconds,
    )
    measure("protobuf_parse_lean_spans_per_s", cycle(convert.parse, pool), spr, seconds)
    compressed = [gzip.compress(data, compresslevel=6) for data in pool]
    result["gzip_ratio"] = round(sum(map(len, pool)) / sum(map(len, compressed)), 2)
    measure("gzip_inflate_spans_per_s", cycle(gzip.decompress, compressed), spr, 1.0)

    parsed = [convert.parse(data) for data in pool]
    seq = iter(range(1, 1 << 62))

    def groups(size: int) -> list[list[convert.Incoming]]:
        return [
            [
                convert.Incoming(
                    parsed[(g * size + i) % len(parsed)], BatchId("raw", "", next(seq)), "raw"
                )
                for i in range(size)
            ]
            for g in range(max(2, len(parsed) // size))
        ]

    for size in sorted({10, per_group}):
        work = cycle(convert.convert, groups(size))
        measure(f"convert_group_{size}_spans_per_s", work, size * spr, seconds, warmup=3)

    converted = [convert.convert(group) for group in groups(per_group)[:2]]
    with open_writer(StoreSettings(path=str(workdir / "raw-lake"))) as lake:
        writer = LakeWriter(lake)
        timings, bare, rows = _appends(
            writer, converted, args.raw_commits, lambda: BatchId("raw", "", next(seq))
        )
    result["lake_append_rows_per_commit"] = rows[-1]
    result["lake_append_requests_per_commit"] = len(converted[0].outcomes)
    result["lake_append_commits"] = len(rows) - 1
    result["lake_append_rows_per_s"] = round(rows[-1] / float(np.median(timings[1:])))
    result["lake_append_rows_per_s_mean"] = round(sum(rows[1:]) / sum(timings[1:]))
    result["lake_append_first_commit_ms"] = round(timings[0] * 1000, 1)
    result["lake_append_commit_ms"] = latency_ms(timings[1:])
    result["lake_append_spans_only_rows_per_s"] = round(rows[-1] / float(np.median(bare[1:])))
    result["lake_append_spans_only_commit_ms"] = latency_ms(bare[1:])
    rates = [
        result["protobuf_parse_lean_spans_per_s"],
        result[f"convert_group_{per_group}_spans_per_s"],
        result["lake_append_rows_per_s"],
    ]
    result["serial_parse_convert_append_spans_per_s"] = round(1 / sum(1 / r for r in rates))
    wall = time.monotonic() - wall0
    other = (machine_jiffies()[0] - busy0) / CLOCK_TICKS - (time.process_time() - cpu0)
    result["other_processes_cores_avg"] = round(max(0.0, other) / wall, 2)
    return result


def _appends(
    writer: Any, converted: list, commits: int, batch_id: Any
) -> tuple[list[float], list[float], list[int]]:
    """Seconds of LakeWriter.write calls with and without ledger rows, interleaved.

    With: as the server commits, the spans plus one ingested_batches row per request.
    Without (requests that carry no batch id): the lake's Arrow append of the spans alone.
    Interleaving makes both see the same machine load and lake size; ``commits`` + 1 of
    each, the first of each being a warm-up.
    """
    with_ledger: list[float] = []
    bare: list[float] = []
    rows: list[int] = []
    for commit in range(commits + 1):
        group = converted[commit % len(converted)]
        for timings, make_id in ((with_ledger, batch_id), (bare, lambda: None)):
            batch_ids = [make_id() for _ in group.outcomes]
            began = time.perf_counter()
            writer.write(group, batch_ids)
            timings.append(time.perf_counter() - began)
        rows.append(group.table.num_rows)
    return with_ledger, bare, rows
