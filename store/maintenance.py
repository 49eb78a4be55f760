"""Lake maintenance: apply retention, merge small Parquet files, expire old snapshots,
delete unused files.

Retention (store.retention) deletes the rows older than each table's horizon; spans go
as whole files (one per UTC day). Group commits write many small files; merging them
(within a day: merges keep the partitioning) keeps reads fast. Expired snapshots end time
travel before ``snapshot_retention_s``; files are deleted from disk only once they have
been unused for that long, so that a reader's running query never loses a file: the
files of deleted days leave the disk one to two ``snapshot_retention_s`` after their
deletion. Writes through the lake's WriterLake: each step is one short
``lake.transaction()``, so ingest commits take their turns between them.
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


def run_maintenance(
    lake: WriterLake,
    snapshot_retention_s: float,
    retention: RetentionPolicy | None = None,
    now: datetime | None = None,
    progress: Progress = QUIET,
) -> dict[str, float]:
    """Run one maintenance pass on the writer's connection; return what it did (rows
    deleted per table as ``deleted_<table>``, data files before and after, seconds).

    ``retention`` None keeps every row; ``now`` is the time retention's cut-offs are
    counted from (default: the current time). ``progress`` hears each step."""
    started = time.monotonic()
    files_before = _data_file_count(lake.con)
    progress.phase("apply retention")
    deleted = apply_retention(lake, retention, now) if retention is not None else {}
    keep = f"INTERVAL '{float(snapshot_retention_s)} seconds'"
    for call in (
        # Rows inlined in the catalog (store.lake.INLINED_TABLES) become one Parquet file.
        f"CALL ducklake_flush_inlined_data('{LAKE_ALIAS}')",
        # Files most of whose rows are deleted (tables replaced row by row, such as
        # nodes; lakes from before spans were partitioned) are rewritten without them.
        f"CALL ducklake_rewrite_data_files('{LAKE_ALIAS}')",
        f"CALL ducklake_merge_adjacent_files('{LAKE_ALIAS}')",
        f"CALL ducklake_expire_snapshots('{LAKE_ALIAS}', older_than => now() - {keep})",
        f"CALL ducklake_cleanup_old_files('{LAKE_ALIAS}', older_than => now() - {keep})",
    ):
        progress.phase(_step(call))
        with lake.transaction() as con:
            con.execute(call)
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


def _step(call: str) -> str:
    """A DuckLake maintenance call as a phase name: 'merge adjacent files'."""
    return call.removeprefix("CALL ducklake_").partition("(")[0].replace("_", " ")


def _data_file_count(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute(
        f"SELECT count(*) FROM __ducklake_metadata_{LAKE_ALIAS}.ducklake_data_file "
        "WHERE end_snapshot IS NULL"
    ).fetchone()[0]
