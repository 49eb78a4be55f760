"""Collector benchmark: the summary printed at the end of a run, from its report."""

from __future__ import annotations

from typing import Any


def print_summary(report: dict[str, Any]) -> None:
    disk, stages, tp, out = (
        report["disk"],
        report["stage_costs"],
        report["throughput"],
        report["outage"],
    )
    load = report["load"]
    lines = [
        "",
        f"Collector benchmark ({report['label']}, {report['machine']['nproc']} cores,"
        f" load {load['load_1min_at_start']} at start"
        f"{'' if load['below_threshold'] else ' - ABOVE THRESHOLD, figures understated'})",
        "",
        "Bytes per span (stock SDK requests as the collector tags them; zstd level 3)",
        f"  {'batch':<10}{'raw pb':>9}{'zstd':>9}{'ratio':>8}{'zstd+dict':>11}{'ratio':>8}"
        f"{'gzip6':>9}{'ratio':>8}",
    ]
    for size in (16, 512):
        row = disk[f"batch_{size}"]
        plain, dic = row["zstd_plain"], row["zstd_dict"]
        lines.append(
            f"  {size:<10}{row['raw_protobuf_bytes_per_span']:>9}{plain['bytes_per_span']:>9}"
            f"{plain['ratio_vs_raw']:>7}x{dic['bytes_per_span']:>11}{dic['ratio_vs_raw']:>7}x"
            f"{row['gzip6_bytes_per_span']:>9}{row['gzip6_ratio']:>7}x"
        )
    snap = out["collector"].get("buffer_snapshot", {})
    if "wire_gzip6_bytes_per_span" in snap:
        lines.append(
            f"  live collector during the outage: {snap['pending_requests']} requests"
            f" ({', '.join(f'{n}x{s}' for s, n in snap['spans_per_request'].items())} spans),"
            f" raw {snap['raw_protobuf_bytes_per_span']} B/span, on disk"
            f" {snap['disk_bytes_per_span']} B/span ({snap['disk_ratio_vs_raw']}x, dictionary"
            f" {snap['dictionary_id'] or 'none'}), on the wire (gzip6 of each request)"
            f" {snap['wire_gzip6_bytes_per_span']} B/span"
        )
    lines += ["", "CPU per span, one thread (us)"]
    for name, value in stages["us_per_span_median"].items():
        lines.append(f"  {name:<58}{value:>8}")
    lines.append(
        f"  {'collector steps, total':<58}{stages['collector_steps_total_us_per_span']:>8}"
    )
    lines += [
        "",
        f"Throughput ({report['settings']['throughput_duration_s']:g} s, app at full speed)",
    ]
    for variant in ("direct", "collector"):
        r = tp[variant]
        app = r["app"]
        lines.append(
            f"  {variant:<10} app exported {r['app_exported_spans_per_s']:>7,}/s, server stored"
            f" {r['server_stored_spans_per_s'] or 0:>7,}/s; export p50"
            f" {app['export_latency_ms']['p50']} ms; app CPU {r['app_cpu_us_per_span']} us/span"
            f" (creating {r['app_creation_cpu_us_per_span']}); lake {r['lake_spans']:,} of"
            f" {app['exported_ok']:,} exported, SDK drops {app['dropped_by_sdk_queue']}"
        )
        if variant == "collector":
            lines.append(
                f"             collector CPU {r['collector_cpu_s_per_100k_spans']} s per 100k"
                f" spans ({r['collector_cpu_us_per_span']} us/span,"
                f" {r['collector_cpu_cores_avg']} cores), peak RSS {r['collector_peak_rss_mib']}"
                f" MiB; server CPU {r['server_cpu_s_per_100k_spans']} s/100k"
            )
        lines.append(
            f"             (machine busy {r['machine']['machine_busy_pct']}%, other processes"
            f" {r['machine']['other_processes_cores_avg']} cores)"
        )
    s = report["settings"]
    lines += [
        "",
        f"Outage: {s['rate']:,} spans/s for {s['outage_run_s']:g} s, server down"
        f" {s['outage_s']:g} s from t={s['outage_at_s']:g} s",
    ]
    names = {
        "direct": "direct",
        "collector": "collector",
        "direct_no_outage": "direct, no outage (control)",
    }
    for variant, title in names.items():
        if variant not in out:
            continue
        r = out[variant]
        app = r["app"]
        lines += [
            f"  {title}: created {r['created']:,}, in the lake {r['lake_distinct_spans'] or 0:,}"
            f" -> lost {r['lost']:,} ({r['lost_pct']}%), duplicates {r['duplicates_in_lake']}",
            f"      SDK queue drops {app['dropped_by_sdk_queue']:,}, spans in failed exports"
            f" {app['export_failed_spans']:,}; lake complete {r['events']['drain_wait_s']} s"
            f" after the app exited; other processes {r['machine']['other_processes_cores_avg']}"
            " cores",
        ]
    capacity = tp["direct"]["app_exported_spans_per_s"]
    if capacity < s["rate"]:
        lines.append(
            f"  note: direct export capacity measured above ({capacity:,}/s) is below"
            f" {s['rate']:,}/s: the SDK sends one request at a time and the server acknowledges"
            f" after its group commit (server.flush_interval_ms"
            f" {s['server']['flush_interval_ms']}), so (a) drops spans even with the server up"
        )
    lines += ["", f'Results: {report["results_path"]} (run "{report["label"]}")', ""]
    print("\n".join(lines), flush=True)
