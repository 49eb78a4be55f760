"""Lake maintenance: merge small Parquet files, expire old snapshots, delete unused files.

Group commits write many small files; merging them keeps reads fast. Expired snapshots
end time travel before ``snapshot_retention_s``; files are deleted only once they have
been unused for that long, so that a reader's running query never loses a file.
Writes through the lake's WriterLake: each DuckLake call is one ``lake.transaction()``.
"""

from __future__ import annotations

import logging
import time

import duckdb

from store.lake import LAKE_ALIAS, WriterLake

log = logging.getLogger("parallax.maintenance")


def run_maintenance(lake: WriterLake, snapshot_retention_s: float) -> dict[str, float]:
    """Run one maintenance pass on the writer's connection; return what it did (files
    merged, seconds taken)."""
    started = time.monotonic()
    files_before = _data_file_count(lake.con)
    retention = f"INTERVAL '{float(snapshot_retention_s)} seconds'"
    for call in (
        f"CALL ducklake_merge_adjacent_files('{LAKE_ALIAS}')",
        f"CALL ducklake_expire_snapshots('{LAKE_ALIAS}', older_than => now() - {retention})",
        f"CALL ducklake_cleanup_old_files('{LAKE_ALIAS}', older_than => now() - {retention})",
    ):
        with lake.transaction() as con:
            con.execute(call)
    result = {
        "data_files_before": files_before,
        "data_files_after": _data_file_count(lake.con),
        "seconds": time.monotonic() - started,
    }
    log.info(
        "maintenance: %d -> %d data files in %.1fs",
        result["data_files_before"],
        result["data_files_after"],
        result["seconds"],
    )
    return result


def _data_file_count(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute(
        f"SELECT count(*) FROM __ducklake_metadata_{LAKE_ALIAS}.ducklake_data_file "
        "WHERE end_snapshot IS NULL"
    ).fetchone()[0]
