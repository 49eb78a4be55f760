"""Lake maintenance: apply retention, merge small Parquet files, expire old snapshots,
delete unused files.

Retention (store.retention) deletes the rows older than each table's horizon; spans go
as whole files (one per UTC day). Group commits write many small files; merging them
(within a day: merges keep the partitioning) keeps reads fast. Snapshots older than
``snapshot_retention_s`` are expired, by the server every tenth of that
(:func:`expire_snapshots`) as well as here: every DuckLake transaction reads the
catalog's snapshot list, so each snapshot kept makes every commit a little slower
(docs/performance.md). Files are deleted from disk only once they have been unused for
``file_retention_s``, so that a reader's running query never loses a file: the files of
deleted days leave the disk a pass after that, or at the first pass of the next UTC day
while newer files wait (see below). Writes through the lake's WriterLake: each step is
one short ``lake.transaction()``, so ingest commits take their turns between them.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

import duckdb

from parallax.progress import QUIET, Progress
from store.lake import LAKE_ALIAS, WriterLake
from store.retention import RetentionPolicy, apply_retention

log = logging.getLogger("parallax.maintenance")

ORPHAN_MIN_AGE_S = 3600.0
"""Files under the data path that the catalog does not know (delete files DuckLake
superseded without deleting them) go once this old at least: a file written by a
transaction of another writer that has not committed yet must not be taken for one."""


def run_maintenance(
    lake: WriterLake,
    snapshot_retention_s: float,
    retention: RetentionPolicy | None = None,
    now: datetime | None = None,
    progress: Progress = QUIET,
    file_retention_s: float | None = None,
) -> dict[str, float]:
    """Run one maintenance pass on the writer's connection; return what it did (rows
    deleted per table as ``deleted_<table>``, data files before and after, seconds).

    ``retention`` None keeps every row; ``now`` is the time retention's cut-offs are
    counted from (default: the current time). ``progress`` hears each step.
    ``file_retention_s`` is how long unused files stay (default: ``snapshot_retention_s``)."""
    if file_retention_s is None:
        file_retention_s = snapshot_retention_s
    started = time.monotonic()
    files_before = _data_file_count(lake.con)
    progress.phase("apply retention")
    deleted = apply_retention(lake, retention, now) if retention is not None else {}
    for call in (
        # Rows inlined in the catalog (store.lake.INLINED_TABLES) become one Parquet file.
        f"CALL ducklake_flush_inlined_data('{LAKE_ALIAS}')",
        # Files most of whose rows are deleted (tables replaced row by row, such as
        # nodes; lakes from before spans were partitioned) are rewritten without them.
        f"CALL ducklake_rewrite_data_files('{LAKE_ALIAS}')",
        f"CALL ducklake_merge_adjacent_files('{LAKE_ALIAS}')",
    ):
        progress.phase(_step(call))
        with lake.transaction() as con:
            con.execute(call)
    # Files the previous passes scheduled for deletion go before this pass schedules more.
    progress.phase("cleanup old files")
    _cleanup_old_files(lake, file_retention_s)
    progress.phase("expire snapshots")
    expire_snapshots(lake, snapshot_retention_s)
    progress.phase("delete orphaned files")
    with lake.transaction() as con:
        con.execute(
            f"CALL ducklake_delete_orphaned_files('{LAKE_ALIAS}', "
            "older_than => now() - to_microseconds(?))",
            [round(max(file_retention_s, ORPHAN_MIN_AGE_S) * 1e6)],
        )
    result: dict[str, float] = {f"deleted_{table}": rows for table, rows in deleted.items()}
    result |= {
        "data_files_before": files_before,
        "data_files_after": _data_file_count(lake.con),
        "seconds": time.monotonic() - started,
    }
    log.info(
        "maintenance: %d -> %d data files, deleted by retention: %s, in %.1fs",
        result["data_files_before"],
        result["data_files_after"],
        ", ".join(f"{rows} {table}" for table, rows in deleted.items()) or "nothing",
        result["seconds"],
    )
    return result


# DuckLake 1.5.5 with a SQLite catalog compares ``older_than`` with the catalog's times at
# the granularity of a day: a cut-off on day D expires every snapshot of day D and cleans
# every file scheduled on day D, however recent (tests/store/test_maintenance.py shows
# it). So snapshots are expired by id, chosen by DuckDB's own comparison; and files are
# cleaned all at once when every scheduled file is older than the cut-off, else with the
# cut-off's previous day (a file then waits at most a day longer).


def expire_snapshots(lake: WriterLake, keep_s: float) -> None:
    """Expire the snapshots older than ``keep_s`` seconds; never the latest, nor the
    reconciler's watermark (its next run may read the lake as of it: reconciler.expiry)."""
    with lake.transaction() as con:
        (versions,) = con.execute(
            f"SELECT list(snapshot_id) FROM ducklake_snapshots('{LAKE_ALIAS}') "
            "WHERE snapshot_time < now() - to_microseconds(?) AND snapshot_id < "
            f"(SELECT max(snapshot_id) FROM ducklake_snapshots('{LAKE_ALIAS}')) "
            "AND snapshot_id IS DISTINCT FROM (SELECT max(to_snapshot) FROM reconcile_runs)",
            [round(keep_s * 1e6)],
        ).fetchone()
        if versions:
            con.execute(
                f"CALL ducklake_expire_snapshots('{LAKE_ALIAS}', versions => ?)", [versions]
            )


def _cleanup_old_files(lake: WriterLake, keep_s: float) -> None:
    """Delete the files unused for more than ``keep_s`` seconds (the comment above says
    how, around DuckLake's day-granular cut-off)."""
    keep_us = round(keep_s * 1e6)
    with lake.transaction() as con:
        (recent,) = con.execute(
            f"SELECT count(*) FROM __ducklake_metadata_{LAKE_ALIAS}."
            "ducklake_files_scheduled_for_deletion "
            "WHERE CAST(schedule_start AS TIMESTAMPTZ) >= now() - to_microseconds(?)",
            [keep_us],
        ).fetchone()
        if recent == 0:
            con.execute(f"CALL ducklake_cleanup_old_files('{LAKE_ALIAS}', cleanup_all => true)")
        else:
            con.execute(
                f"CALL ducklake_cleanup_old_files('{LAKE_ALIAS}', older_than => "
                "date_trunc('day', now() - to_microseconds(?)) - INTERVAL 1 MICROSECOND)",
                [keep_us],
            )


def _step(call: str) -> str:
    """A DuckLake maintenance call as a phase name: 'merge adjacent files'."""
    return call.removeprefix("CALL ducklake_").partition("(")[0].replace("_", " ")


def _data_file_count(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute(
        f"SELECT count(*) FROM __ducklake_metadata_{LAKE_ALIAS}.ducklake_data_file "
        "WHERE end_snapshot IS NULL"
    ).fetchone()[0]
