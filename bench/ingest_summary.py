"""The printed summary of one ``bench/ingest.py`` run (the sweep prints its own table)."""

from __future__ import annotations

import re
from typing import Any

NOISY_CORES = 0.2  # CPU used by processes outside the benchmark above which figures are suspect
SERVER_KEYS = (
    "max_concurrent_requests",
    "lake_threads",
    "flush_rows",
    "flush_interval_ms",
    "queue_max_spans",
)


def print_summary(report: dict[str, Any]) -> None:
    """The run's figures as a few aligned blocks, with a warning when the machine was busy."""
    lines = end_to_end_lines(report)
    if report["raw_limits"]:
        lines += raw_limit_lines(report)
    lines += verification_lines(report)
    warning = noise_warning(report)
    if warning:
        lines.insert(-1, warning)
    print("\n".join(lines), flush=True)


def end_to_end_lines(report: dict[str, Any]) -> list[str]:
    s, e, m = report["settings"], report["end_to_end"], report["machine"]
    c = report["server_commits"]
    server = s["server"]
    return [
        "",
        f"Parallax ingest benchmark [{report['label']}]: {s['clients']} client "
        f"{s['client_mode']} x {s['inflight']} in flight, {s['spans_per_request']} spans/request, "
        f"{s['compression']}, {s['duration_s']:g} s",
        f"machine: {m['usable_cpus']} CPUs ({m['cpu_model']}), Python {m['python']}, "
        f"protobuf {m['packages'].get('protobuf_backend', '?')}; NOTE: the clients and the "
        f"server share these {m['usable_cpus']} cores",
        "server: " + ", ".join(f"{key}={server[key]}" for key in SERVER_KEYS if key in server),
        "",
        "End to end (acknowledged = OK responses only)",
        f"  sustained             {e['sustained_spans_per_s']:>12,} spans/s"
        f"  (s {e['warmup_s']:g}-{s['duration_s']:g}; whole run incl. warm-up and drain "
        f"{e['whole_run_spans_per_s']:,}/s)",
        f"  acknowledged          {e['acked_spans']:>12,} spans in {e['ok_requests']:,} requests"
        f" ({e['request_bytes_uncompressed']:,} bytes each uncompressed)",
        f"  retries               {e['retries_resource_exhausted']:>12,} after RESOURCE_EXHAUSTED,"
        f" {e['retries_other']} other; errors {e['errors'] or 'none'};"
        f" abandoned {e['abandoned_batches']}",
        f"  latency per request   p50 {e['latency_ms']['p50']} ms, p99 {e['latency_ms']['p99']} ms,"
        f" max {e['latency_ms']['max']} ms (incl. retries: p99 "
        f"{e['batch_latency_incl_retries_ms']['p99']} ms)",
        f"  server CPU            {e['server_cpu_s_per_100k_spans']!s:>12} s per 100k spans"
        f"  ({e['server_cpu_cores_avg']} cores on average)",
        f"  client CPU            {e['client_cpu_s_per_100k_spans']!s:>12} s per 100k spans"
        f"  (machine {e['machine_busy_pct']}% busy over the run; other processes "
        f"{e['other_processes_cores_avg']} cores, "
        f"{report['machine_quiet_before']['end_to_end']['other_cores']} at the start)",
        f"  server peak RSS       {e['server_peak_rss_mib']:>12,} MiB (VmHWM)",
        "  spans/s by second     " + " ".join(f"{v // 1000}k" for v in e["spans_per_s_timeline"]),
        "  server cores/second   " + " ".join(f"{v:.2f}" for v in e["server_cpu_cores_timeline"]),
        "  busiest server threads "
        + ", ".join(f"{t['name']}/{t['tid']} {t['cores']:.2f}" for t in e["server_threads_top"]),
        f"  server commits        {c['commits']:>12,} commits, {c['spans_per_commit'] or 0:,}"
        f" spans per commit on average (flush_rows {server['flush_rows']:,})",
        "  server log:",
        *(f"    {line}" for line in report["server_log"][-8:]),
        "",
    ]


def raw_limit_lines(report: dict[str, Any]) -> list[str]:
    raw = report["raw_limits"]
    lines = ["Raw limits on this machine (one thread, server stopped)"]
    rows = [
        ("protobuf parse, stock ExportTraceServiceRequest", "protobuf_parse_stock_spans_per_s"),
        ("protobuf parse, lean convert.parse", "protobuf_parse_lean_spans_per_s"),
        (f"gzip inflate (ratio {raw['gzip_ratio']}x)", "gzip_inflate_spans_per_s"),
    ]
    for key in raw:
        match = re.fullmatch(r"convert_group_(\d+)_spans_per_s", key)
        if match:
            rows.append((f"convert.convert, groups of {match[1]} requests", key))
    rows += [
        (
            f"lake append, {raw['lake_append_rows_per_commit']:,} rows +"
            f" {raw['lake_append_requests_per_commit']} ledger rows/commit",
            "lake_append_rows_per_s",
        ),
        ("lake append, the same spans without ledger rows", "lake_append_spans_only_rows_per_s"),
    ]
    rows.append(
        ("serial parse+convert+append on one core", "serial_parse_convert_append_spans_per_s")
    )
    for text, key in rows:
        unit = "rows/s" if key.startswith("lake_append") else "spans/s"
        lines.append(f"  {text:<50}{raw[key]:>12,} {unit}")
    commit_ms = raw["lake_append_commit_ms"]
    lines += [
        f"  (lake append x {raw['lake_append_commits']} commits: p50 {commit_ms['p50']} ms,"
        f" max {commit_ms['max']} ms, first {raw['lake_append_first_commit_ms']} ms; without"
        f" ledger rows p50 {raw['lake_append_spans_only_commit_ms']['p50']} ms)",
        f"  (by the median call; other processes used {raw['other_processes_cores_avg']} cores"
        f" meanwhile, {report['machine_quiet_before']['raw_limits']['other_cores']} at the start)",
        "",
    ]
    return lines


def verification_lines(report: dict[str, Any]) -> list[str]:
    v = report["verification"]
    verdict = "OK, exact" if v["exact"] else "MISMATCH"
    if not v["acked_spans"]:
        verdict = "FAILED: nothing was acknowledged"
    return [
        f"Check: the lake holds {v['lake_spans']:,} spans; {v['acked_spans']:,} were acknowledged"
        f" -> {verdict} (ingested_batches {v['lake_batches']:,} rows, "
        f"{v['ok_requests']:,} OK requests; {v['lake_data_files']:,} data files,"
        f" {v['lake_data_mib']:,} MiB)",
        f"Server shutdown: exit {report['server_exit']['code']} after "
        f"{report['server_exit']['seconds']} s",
        f'Results: {report["results_path"]} (run "{report["label"]}")',
        "",
    ]


def noise_warning(report: dict[str, Any]) -> str:
    e, raw = report["end_to_end"], report["raw_limits"]
    noisy = [
        f"{phase} ({cores} cores)"
        for phase, cores in (
            ("end to end", e["other_processes_cores_avg"]),
            ("raw limits", raw.get("other_processes_cores_avg", 0.0)),
        )
        if cores > NOISY_CORES
    ]
    if not noisy:
        return ""
    return (
        "WARNING: other processes competed for the 2 cores during "
        + " and ".join(noisy)
        + ": those figures understate this machine; rerun when it is quiet."
    )
