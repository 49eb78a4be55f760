"""One reconciler run: fold the spans committed since the last run into the reconciler's
tables, exactly as a rebuild from scratch would compute them (docs/reconciler.md).

The watermark is a DuckLake snapshot id: a run reads the spans committed in snapshots
after the previous run's ``to_snapshot`` (DuckLake's ``snapshot_id`` of each row), so a
span is seen once whatever its timestamps, and survives file merges and snapshot expiry.
Late spans re-open their (feature, input fingerprint) group: every group a new span
belongs to is recomputed from all its spans, then the statistics of its feature. A run
reads the spans at one snapshot and writes every result with its watermark in one
transaction: it commits whole or not at all.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

import duckdb

from parallax.config import ReconcilerSettings
from parallax.progress import QUIET, Progress
from reconciler import expiry
from reconciler.macros import create_macros
from reconciler.policies import Policies
from reconciler.policy_table import load_policy_table
from reconciler.ranks import load_variant_ranks, load_version_ranks
from reconciler.sqlscript import run_script

if TYPE_CHECKING:
    from store import WriterLake

log = logging.getLogger("parallax.reconciler")
T = TypeVar("T")

_TOUCHED = "SEMI JOIN rc_touched t USING (feature, input_fingerprint)"
SLICE_SPANS = 5_000_000
"""A full rebuild handles the inputs in slices of about this many spans (bounded memory for
the aggregations; the spans read once for the run are held beside them: a 10M-span
rebuild peaks at ~11.7 GiB, and DuckDB spills to its temp directory past its limit)."""


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
    lake: WriterLake,
    policies: Policies,
    settings: ReconcilerSettings,
    *,
    full: bool = False,
    as_of: datetime | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    progress: Progress = QUIET,
) -> RunReport:
    """Run once, writing through ``lake`` (store.WriterLake); ``full`` rebuilds from scratch.
    ``progress`` hears the run's phases (reading, a full rebuild's slices, writing).

    ``con`` is the connection the run uses: the writer's own (default), or a
    ``lake.session()`` when other threads of the process write too (``parallax server``).
    ``as_of`` is "now" for skew ages and findings (default: the current time). The first
    run on a lake is a full one. A DuckLake transaction on a SQLite catalog cannot commit
    once another commit happened after it began, so a run computes from its snapshot
    outside the lake's commit turn (reading spans, writing only temporary tables) and
    writes its results in one short ``lake.transaction``. A full rebuild computes its
    slices outside any transaction: DuckDB's temporary tables are about twice as slow to
    build and read inside one (measured), and they are this connection's alone.
    """
    con = lake.con if con is None else con
    started_at = datetime.now(UTC)
    run = _Run(con, policies, settings, as_of or started_at, started_at)
    create_macros(con)
    # Results are sets; unordered, DuckDB writes the large temporary tables in parallel
    # (measured 3x faster to create). This connection only.
    con.execute("SET SESSION preserve_insertion_order = false")
    if not full:
        progress.phase("read the new spans")
        full = not _transaction(con, run.compute_increment)
    if full:
        progress.phase("read every span")
        _transaction(con, run.read_all)  # every span, at one snapshot
        run.compute_all(progress)
    # The results and the run's row (its watermark) commit together.
    progress.phase("write the results")
    with lake.transaction(con):
        report = run.write_rebuild() if full else run.write_increment()
    log.info(report.summary())
    return report


def _transaction(con: duckdb.DuckDBPyConnection, work: Callable[[], T]) -> T:
    con.execute("BEGIN")
    try:
        result = work()
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # a failed COMMIT has ended it already
            con.execute("ROLLBACK")
        raise
    return result


class _Run:
    """The steps of one run; temporary tables (rc_*) carry results between them."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        policies: Policies,
        settings: ReconcilerSettings,
        as_of: datetime,
        started_at: datetime,
    ) -> None:
        self.con = con
        self.policies = policies
        self.settings = settings
        self.as_of = as_of
        self.since = as_of - timedelta(seconds=settings.skew_window_s)
        latency_since = as_of - timedelta(seconds=settings.latency_window_s)
        self.latency_since = latency_since.replace(second=0, microsecond=0)
        self.started_at = started_at
        self.started = time.monotonic()
        self.mode = "incremental"
        self.from_snapshot = -1
        self.to_snapshot = -1
        self.new_spans = 0
        self.groups = 0
        self.slices = 1
        self.expired_before: datetime | None = None  # retention's cut-off since the watermark

    def compute_increment(self) -> bool:
        """Read what is new into temporary tables; False when there is no watermark yet."""
        watermark = self._begin()
        if watermark is None:
            return False
        self.from_snapshot = watermark
        self.expired_before = expiry.spans_deleted_since(self.con, watermark)
        if self.expired_before is not None and not expiry.can_travel_to(self.con, watermark):
            log.info("retention deleted spans after expired snapshot %d: rebuilding", watermark)
            return False
        self._read_new_spans()
        self.groups = self._compute_touched_groups()
        self._read_nodes()
        return True

    def write_increment(self) -> RunReport:
        """Fold the computed increment into the lake's tables."""
        if self.expired_before is not None:
            expiry.forget_expired_traffic(self.con, self.expired_before)
        run_script(self.con, "traffic_merge")
        run_script(self.con, "latency_merge", {"window_start": self.latency_since})
        if self.groups:
            run_script(self.con, "histogram_delta")
            run_script(self.con, "replace_groups")
            self.con.execute(
                "CREATE OR REPLACE TEMP TABLE rc_features_touched AS "
                "SELECT DISTINCT feature FROM rc_touched"
            )
            run_script(self.con, "pairs")
        if self.expired_before is not None:
            expiry.replace_variants(self.con)
        self._summaries()
        return self._record()

    def read_all(self) -> None:
        """Read every span a full rebuild needs into temporary tables (one snapshot)."""
        self._begin()
        self.mode = "full"
        self.from_snapshot = -1
        self._read_new_spans(with_lake_traffic=False)
        (spans,) = self.con.execute(
            "SELECT count(*) FROM spans WHERE feature IS NOT NULL AND input_fingerprint IS NOT NULL"
        ).fetchone()
        self.slices = max(1, math.ceil(spans / SLICE_SPANS))
        self._read_answer_rows({"touched": ""}, self.slices)
        run_script(self.con, "rebuild_groups")
        self._read_nodes()

    def compute_all(self, progress: Progress = QUIET) -> None:
        """Every group, in slices of about SLICE_SPANS spans (by fingerprint hash), from
        the spans read_all kept; temporary tables only."""
        progress.phase("reconcile the groups, slice by slice", total=self.slices)
        try:
            for number in range(self.slices):
                self._compute_groups(number)
                run_script(self.con, "rebuild_slice")
                (groups,) = self.con.execute("SELECT count(*) FROM rc_reconciled").fetchone()
                self.groups += groups
                progress.advance()
        finally:  # a failed run does not keep every span in the server's memory
            self._drop_answer_rows()

    def write_rebuild(self) -> RunReport:
        """Replace every table with what compute_all rebuilt."""
        con = self.con
        con.execute("DELETE FROM traffic_hourly")
        run_script(con, "traffic_merge")
        con.execute("DELETE FROM latency_histograms")
        run_script(con, "latency_merge", {"window_start": self.latency_since})
        run_script(con, "rebuild_write")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE rc_features_touched AS "
            "SELECT DISTINCT feature FROM traffic_hourly"
        )
        con.execute("DELETE FROM variant_pairs")
        run_script(con, "pairs")
        self._summaries()
        return self._record()

    def _record(self) -> RunReport:
        """The run's row in reconcile_runs (its watermark for the next run)."""
        report = RunReport(
            run_id=self.run_id,
            mode=self.mode,
            from_snapshot=self.from_snapshot,
            to_snapshot=self.to_snapshot,
            new_spans=self.new_spans,
            groups_recomputed=self.groups,
            seconds=time.monotonic() - self.started,
        )
        self.con.execute(
            "INSERT INTO reconcile_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                report.run_id, report.mode, self.as_of, self.started_at, report.seconds,
                report.from_snapshot, report.to_snapshot, report.new_spans,
                report.groups_recomputed, self.policies.source,
            ],
        )  # fmt: skip
        return report

    def _begin(self) -> int | None:
        """This run's id and snapshot; the previous run's watermark (None: no run yet)."""
        self.run_id, watermark = self.con.execute(
            "SELECT coalesce(max(run_id), 0) + 1, max(to_snapshot) FROM reconcile_runs"
        ).fetchone()
        (self.to_snapshot,) = self.con.execute(
            "SELECT id FROM ducklake_current_snapshot('lake')"
        ).fetchone()
        return watermark

    def _read_new_spans(self, with_lake_traffic: bool = True) -> None:
        run_script(self.con, "traffic_new", {"from_snapshot": self.from_snapshot})
        (spans,) = self.con.execute("SELECT coalesce(sum(spans), 0) FROM rc_new_traffic").fetchone()
        self.new_spans = int(spans)
        load_policy_table(self.con, self.policies, with_lake_traffic)
        run_script(
            self.con,
            "latency_new",
            {"from_snapshot": self.from_snapshot, "window_start": self.latency_since},
        )

    def _read_nodes(self) -> None:
        """The node inventories skew uses, read with the spans (nodes is not ours to lock)."""
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE rc_nodes AS SELECT * FROM nodes WHERE last_seen_at >= ?",
            [self.since],
        )

    def _compute_touched_groups(self) -> int:
        """The groups new spans belong to, and those retention took spans from: as the last
        run saw them, and as they are now."""
        con = self.con
        con.execute(
            "CREATE OR REPLACE TEMP TABLE rc_touched AS "
            "SELECT DISTINCT feature, input_fingerprint FROM spans "
            "WHERE snapshot_id > ? AND feature IS NOT NULL AND input_fingerprint IS NOT NULL",
            [self.from_snapshot],
        )
        if self.expired_before is not None:
            expiry.touch_expired_groups(con, self.expired_before)
        (count,) = con.execute("SELECT count(*) FROM rc_touched").fetchone()
        if count == 0:
            return 0
        watermark = int(self.from_snapshot)
        if self.expired_before is None:
            seen_before = {"slice": f"AND s.snapshot_id <= {watermark}"}
        else:  # spans the last run saw are gone: read the lake as it saw it
            seen_before = {"as_seen": f"AT (VERSION => {watermark})"}
        self._read_answer_rows({"touched": _TOUCHED, **seen_before})
        run_script(con, "answers", {"slice": 0})
        con.execute("CREATE OR REPLACE TEMP TABLE rc_old_answers AS SELECT * FROM rc_answers")
        self._read_answer_rows({"touched": _TOUCHED})
        self._compute_groups(0)
        self._drop_answer_rows()
        return int(count)

    def _read_answer_rows(self, fragments: dict[str, str], slices: int = 1) -> None:
        """rc_answer_rows: the spans of the groups ``fragments`` select, in ``slices``."""
        run_script(self.con, "answer_rows", {"slices": slices}, fragments)

    def _drop_answer_rows(self) -> None:
        """Free the spans read for the run (the server's connection outlives the run)."""
        self.con.execute("DROP TABLE IF EXISTS rc_answer_rows")
        self.con.execute("DROP TABLE IF EXISTS rc_multi_inputs")
        self.con.execute("DROP TABLE IF EXISTS rc_multi_answers")

    def _compute_groups(self, slice_number: int) -> None:
        """rc_answers, rc_comparisons and rc_reconciled for one slice of rc_answer_rows."""
        run_script(self.con, "answers", {"slice": slice_number})
        run_script(self.con, "comparisons")
        load_variant_ranks(self.con, self.policies)
        run_script(self.con, "reconciled")

    def _summaries(self) -> None:
        """Drift, skew, latency budgets and findings: recomputed from the (small) tables
        each run."""
        con = self.con
        run_script(con, "drift", {"min_answers": self.settings.drift_min_answers})
        run_script(con, "skew_inputs", {"since": self.since})
        load_version_ranks(con)
        run_script(con, "skew", {"since": self.since, "as_of": self.as_of})
        run_script(
            con,
            "latency_budgets",
            {"window_start": self.latency_since, "min_spans": self.settings.latency_min_spans},
        )
        run_script(con, "findings", {"as_of": self.as_of})
