"""The printed table of an ingest sweep, the issue's aims beside it, and the stock-SDK cell."""

from __future__ import annotations

from typing import Any

NOISY_CORES = 0.2  # other processes' CPU above which a row is marked as contended
COLUMNS = (
    ("cell", 22),
    ("spans/s", 10),
    ("no-op/s", 10),
    ("ratio", 6),
    ("p50 ms", 8),
    ("p99 ms", 8),
    ("CPU s/100k", 11),
    ("cores", 6),
    ("RSS MiB", 8),
    ("refused", 8),
    ("retried", 8),
    ("lake", 6),
    ("noise", 6),
)
AIM_SPANS_PER_REQUEST = 512
AIMS = (  # in flight, acknowledged spans/s at least, ack p50 ms below (None: no aim)
    (8, 60_000, 60.0),
    (64, 100_000, None),
)
SDK_AIM_SPANS_PER_S = 10_000


def table_header() -> str:
    names = "".join(
        f"{name:>{width}}" if i else f"{name:<{width}}" for i, (name, width) in enumerate(COLUMNS)
    )
    return "\n".join(
        [
            "",
            "Sweep: spans/s, latency, CPU and RSS are parallax server's; no-op/s is the no-op"
            " receiver's rate under the same load (the ceiling); noise = other processes' cores",
            names,
        ]
    )


def cell_row(key: str, cell: dict[str, Any]) -> str:
    p, noop = cell["parallax"], cell["noop"]
    check = p["verification"]
    lake = "exact" if check["exact"] and check["acked_spans"] else "WRONG"
    noise = max(p["other_processes_cores"], noop["other_processes_cores"])
    values = (
        key,
        _number(p["acked_spans_per_s"]),
        _number(noop["acked_spans_per_s"]),
        _plain(cell["ratio_to_noop"]),
        _plain(p["latency_p50_ms"]),
        _plain(p["latency_p99_ms"]),
        _plain(p["server_cpu_s_per_100k_spans"]),
        _plain(p["server_cores"]),
        _plain(p["server_peak_rss_mib"]),
        _number(p["refusals"]),
        _number(p["retries_other"]),
        lake,
        f"{noise:.2f}" + ("!" if noise > NOISY_CORES else ""),
    )
    return "".join(
        f"{value:>{width}}" if i else f"{value:<{width}}"
        for i, (value, (_, width)) in enumerate(zip(values, COLUMNS, strict=True))
    )


def _number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _plain(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def aim_lines(sweep: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """Each aim of issue 12 item 6 against the cells that measure it."""
    lines = ["", "Aims (issue 12 item 6; one client process, 512 spans per request):"]
    if settings["client_processes"] != 1 or settings["spans_per_request"] != AIM_SPANS_PER_REQUEST:
        lines.append("  (this sweep's client shape differs from the aims': for comparison only)")
    for inflight, min_rate, max_p50 in AIMS:
        for compression in settings["compressions"]:
            cell = sweep["cells"].get(f"{compression}/{inflight}-in-flight")
            if cell:
                lines.append(_aim_line(compression, inflight, cell["parallax"], min_rate, max_p50))
    if sweep["sdk"]:
        lines.append(_sdk_aim_line(sweep["sdk"]))
    return lines


def _aim_line(
    compression: str, inflight: int, p: dict[str, Any], min_rate: int, max_p50: float | None
) -> str:
    rate, p50 = p["acked_spans_per_s"] or 0, p["latency_p50_ms"]
    met = rate >= min_rate and (max_p50 is None or (p50 is not None and p50 < max_p50))
    p50_aim = f", p50 < {max_p50:g} ms" if max_p50 else ""
    return (
        f"  {inflight} in flight, {compression}: >= {min_rate:,} spans/s{p50_aim}:"
        f" {rate:,} spans/s, p50 {p50} ms -> {'met' if met else 'NOT met'}"
    )


def _sdk_aim_line(sdk: dict[str, Any]) -> str:
    rate = sdk["exported_spans_per_s"] or 0
    met = (
        rate >= SDK_AIM_SPANS_PER_S
        and sdk["dropped_by_sdk_queue"] == 0
        and sdk["stored_spans"] == sdk["produced_spans"]
    )
    return (
        f"  stock SDK straight to the server: >= {SDK_AIM_SPANS_PER_S:,} spans/s, no drops:"
        f" {rate:,} spans/s exported, {sdk['dropped_by_sdk_queue']:,} dropped"
        f" -> {'met' if met else 'NOT met'}"
    )


def sdk_lines(sdk: dict[str, Any]) -> list[str]:
    latency = sdk["export_latency_ms"]
    kept = "" if sdk["app_kept_the_rate"] else " (BELOW the target: the app was the limit)"
    check = sdk["verification"]
    return [
        "",
        f"Stock SDK (BatchSpanProcessor + OTLPSpanExporter, defaults) at"
        f" {sdk['target_spans_per_s']:,} spans/s straight to parallax server:",
        f"  produced {sdk['produced_spans']:,} spans ({sdk['produced_spans_per_s']:,}/s{kept});"
        f" dropped by the SDK queue {sdk['dropped_by_sdk_queue']:,}; export failed"
        f" {sdk['export_failed_spans']:,}; exported {sdk['exported_spans']:,}"
        f" ({sdk['exported_spans_per_s'] or 0:,}/s after warm-up); stored"
        f" {sdk['stored_spans']:,} -> {'exact' if check['exact'] else 'MISMATCH'}",
        f"  export latency p50 {latency['p50']} ms, p99 {latency['p99']} ms"
        f" ({latency['n']:,} exports); server CPU {sdk['server_cpu_s_per_100k_spans']} s"
        f" per 100k spans, peak RSS {sdk['server_peak_rss_mib']} MiB",
        *_sdk_noop_lines(sdk.get("noop")),
    ]


def _sdk_noop_lines(noop: dict[str, Any] | None) -> list[str]:
    if not noop:
        return []
    latency = noop["export_latency_ms"]
    return [
        f"  the same app against the no-op receiver (the SDK's own ceiling):"
        f" {noop['exported_spans_per_s'] or 0:,} spans/s exported, {noop['dropped_by_sdk_queue']:,}"
        f" dropped, export latency p50 {latency['p50']} ms, p99 {latency['p99']} ms",
    ]


def print_sweep(sweep: dict[str, Any], settings: dict[str, Any], results: str) -> None:
    """The whole table again (rows were printed as cells finished), then aims and SDK."""
    lines = [table_header()]
    lines += [cell_row(key, cell) for key, cell in sweep["cells"].items()]
    if sweep["sdk"]:
        lines += sdk_lines(sweep["sdk"])
    lines += aim_lines(sweep, settings)
    lines += ["", f"Results: {results}", ""]
    print("\n".join(lines), flush=True)
