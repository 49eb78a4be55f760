"""One reconciler run: fold the spans committed since the last run into the reconciler's
tables, exactly as a rebuild from scratch would compute them (docs/reconciler.md).

The watermark is a DuckLake snapshot id: a run reads the spans committed in snapshots
after the previous run's ``to_snapshot`` (DuckLake's ``snapshot_id`` of each row), so a
span is seen once whatever its timestamps, and survives file merges and snapshot expiry.
Late spans re-open their (feature, input fingerprint) group: every group a new span
belongs to is recomputed from all its spans, then the statistics of its feature. The run
is one transaction: it commits whole or not at all.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb

from parallax.config import ReconcilerSettings
from reconciler.macros import create_macros
from reconciler.policies import Policies
from reconciler.policy_table import load_policy_table
from reconciler.ranks import load_variant_ranks, load_version_ranks
from reconciler.sqlscript import run_script

log = logging.getLogger("parallax.reconciler")

_TOUCHED = "SEMI JOIN rc_touched t USING (feature, input_fingerprint)"
SLICE_SPANS = 2_000_000
"""A full rebuild handles the inputs in slices of about this many spans (bounded memory)."""


@dataclass(frozen=True)
class RunReport:
    """What one run did."""

    run_id: int
    mode: str  # full | incremental
    from_snapshot: int
    to_snapshot: int
    new_spans: int
    groups_recomputed: int
    seconds: float

    def summary(self) -> str:
        return (
            f"reconcile run {self.run_id} ({self.mode}): {self.new_spans} new spans, "
            f"{self.groups_recomputed} groups recomputed, snapshots "
            f"{self.from_snapshot}->{self.to_snapshot}, {self.seconds:.2f}s"
        )


def reconcile(
    con: duckdb.DuckDBPyConnection,
    policies: Policies,
    settings: ReconcilerSettings,
    *,
    full: bool = False,
    as_of: datetime | None = None,
) -> RunReport:
    """Run once on a read-write connection to the lake; ``full`` rebuilds from scratch.

    ``as_of`` is "now" for skew ages and findings (default: the current time). The first
    run on a lake is a full one.
    """
    started = time.monotonic()
    started_at = datetime.now(UTC)
    as_of = as_of or started_at
    con.execute("BEGIN")
    try:
        report = _run(con, policies, settings, full, as_of, started, started_at)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    log.info(report.summary())
    return report


def _run(
    con: duckdb.DuckDBPyConnection,
    policies: Policies,
    settings: ReconcilerSettings,
    full: bool,
    as_of: datetime,
    started: float,
    started_at: datetime,
) -> RunReport:
    create_macros(con)
    run_id, watermark = con.execute(
        "SELECT coalesce(max(run_id), 0) + 1, max(to_snapshot) FROM reconcile_runs"
    ).fetchone()
    full = full or watermark is None
    from_snapshot = -1 if full else watermark
    (to_snapshot,) = con.execute("SELECT id FROM ducklake_current_snapshot('lake')").fetchone()
    if full:
        con.execute("DELETE FROM traffic_hourly")
    run_script(con, "traffic", {"from_snapshot": from_snapshot})
    (new_spans,) = con.execute("SELECT coalesce(sum(spans), 0) FROM rc_new_traffic").fetchone()
    load_policy_table(con, policies)
    groups = _recompute_groups(con, policies, full, from_snapshot)
    run_script(con, "drift", {"min_answers": settings.drift_min_answers})
    _skew(con, as_of, settings)
    run_script(con, "findings", {"as_of": as_of})
    report = RunReport(
        run_id=run_id,
        mode="full" if full else "incremental",
        from_snapshot=from_snapshot,
        to_snapshot=to_snapshot,
        new_spans=int(new_spans),
        groups_recomputed=groups,
        seconds=time.monotonic() - started,
    )
    con.execute(
        "INSERT INTO reconcile_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            report.run_id, report.mode, as_of, started_at, report.seconds,
            report.from_snapshot, report.to_snapshot, report.new_spans,
            report.groups_recomputed, policies.source,
        ],
    )  # fmt: skip
    return report


def _recompute_groups(
    con: duckdb.DuckDBPyConnection, policies: Policies, full: bool, from_snapshot: int
) -> int:
    """Recompute the groups new spans belong to (all of them when ``full``); their count."""
    if full:
        return _rebuild_groups(con, policies)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rc_touched AS "
        "SELECT DISTINCT feature, input_fingerprint FROM spans "
        "WHERE snapshot_id > ? AND feature IS NOT NULL AND input_fingerprint IS NOT NULL",
        [from_snapshot],
    )
    (count,) = con.execute("SELECT count(*) FROM rc_touched").fetchone()
    if count == 0:
        return 0
    # The groups as the last run saw them (their spans up to its snapshot), then as now.
    seen_before = f"AND s.snapshot_id <= {int(from_snapshot)}"
    run_script(con, "groups", fragments={"touched": _TOUCHED, "slice": seen_before})
    con.execute("CREATE OR REPLACE TEMP TABLE rc_old_answers AS SELECT * FROM rc_answers")
    _compute_groups(con, policies, {"touched": _TOUCHED})
    run_script(con, "histogram_delta")
    run_script(con, "replace_groups")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rc_features_touched AS "
        "SELECT DISTINCT feature FROM rc_touched"
    )
    run_script(con, "pairs")
    return int(count)


def _rebuild_groups(con: duckdb.DuckDBPyConnection, policies: Policies) -> int:
    """Every group, in slices of about SLICE_SPANS spans (by fingerprint hash)."""
    (spans,) = con.execute(
        "SELECT count(*) FROM spans WHERE feature IS NOT NULL AND input_fingerprint IS NOT NULL"
    ).fetchone()
    slices = max(1, math.ceil(spans / SLICE_SPANS))
    run_script(con, "rebuild_groups")
    groups = 0
    for number in range(slices):
        where = f"AND hash(s.input_fingerprint) % {slices} = {number}" if slices > 1 else ""
        _compute_groups(con, policies, {"touched": "", "slice": where})
        run_script(con, "rebuild_slice")
        (count,) = con.execute(
            "SELECT count(*) FROM (SELECT DISTINCT feature, input_fingerprint FROM rc_answers)"
        ).fetchone()
        groups += count
    run_script(con, "rebuild_histograms")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rc_features_touched AS "
        "SELECT DISTINCT feature FROM traffic_hourly"
    )
    con.execute("DELETE FROM variant_pairs")
    run_script(con, "pairs")
    return groups


def _compute_groups(
    con: duckdb.DuckDBPyConnection, policies: Policies, fragments: dict[str, str]
) -> None:
    """rc_answers, rc_comparisons and rc_reconciled for the groups ``fragments`` select."""
    run_script(con, "groups", fragments=fragments)
    load_variant_ranks(con, policies)
    run_script(con, "reconciled")


def _skew(con: duckdb.DuckDBPyConnection, as_of: datetime, settings: ReconcilerSettings) -> None:
    since = as_of - timedelta(seconds=settings.skew_window_s)
    run_script(con, "skew_inputs", {"since": since})
    load_version_ranks(con)
    run_script(con, "skew", {"since": since, "as_of": as_of})
