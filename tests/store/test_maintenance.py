"""Maintenance keeps what a reader or the reconciler may still need for
``snapshot_retention_s`` and no longer, despite DuckLake's day-granular cut-off."""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from store import open_writer
from store.maintenance import run_maintenance
from tests.otlp import export_request, inference_span
from tests.servers import OtlpClient, lake_rows
from tests.waiting import wait_until


def _insert_spans(con, count: int) -> None:
    for _ in range(count):  # one commit, one snapshot and one small file each
        con.execute(
            "INSERT INTO spans (trace_id, span_id, name, start_time, ingested_at) "
            "VALUES ('t', 's', 'n', now(), now())"
        )


def _snapshots(con) -> list[int]:
    return con.execute("SELECT list(snapshot_id) FROM ducklake_snapshots('lake')").fetchone()[0]


def _scheduled_files(con) -> int:
    return con.execute(
        "SELECT count(*) FROM __ducklake_metadata_lake.ducklake_files_scheduled_for_deletion"
    ).fetchone()[0]


def test_ducklake_expires_every_snapshot_of_the_cut_off_day_with_a_sqlite_catalog(
    store_settings,
):
    """The upstream behaviour maintenance works around: a cut-off 100 s ago expires
    snapshots made a moment ago. When this fails, DuckLake compares times exactly."""
    with open_writer(store_settings) as lake:
        _insert_spans(lake.con, 2)
        recent = datetime.now(UTC) - timedelta(seconds=100)
        expired = lake.con.execute(
            "CALL ducklake_expire_snapshots('lake', dry_run => true, older_than => ?)", [recent]
        ).fetchall()
        assert len(expired) == len(_snapshots(lake.con)) - 1


def test_a_pass_keeps_snapshots_and_files_younger_than_the_snapshot_retention(store_settings):
    with open_writer(store_settings) as lake:
        _insert_spans(lake.con, 3)
        before = _snapshots(lake.con)

        run_maintenance(lake, 3600.0)

        assert set(before) <= set(_snapshots(lake.con))
        assert _scheduled_files(lake.con) == 3  # the merged small files stay on disk
        first_spans = lake.con.execute(
            f"SELECT count(*) FROM spans AT (VERSION => {before[-3]})"
        ).fetchone()[0]
        assert first_spans == 1


def test_with_no_snapshot_retention_a_later_pass_takes_unused_files_off_disk(store_settings):
    with open_writer(store_settings) as lake:
        _insert_spans(lake.con, 3)
        run_maintenance(lake, 0.0)
        assert len(_snapshots(lake.con)) == 1

        run_maintenance(lake, 0.0)

        assert _scheduled_files(lake.con) == 0
        assert lake.con.execute("SELECT count(*) FROM spans").fetchone()[0] == 3


def test_files_the_catalog_does_not_know_go_once_an_hour_old(store_settings):
    spans_dir = Path(store_settings.path) / "data" / "main" / "spans"
    with open_writer(store_settings) as lake:
        _insert_spans(lake.con, 1)
        stale, fresh = spans_dir / "stale-delete.parquet", spans_dir / "fresh-delete.parquet"
        for orphan in (stale, fresh):
            shutil.copy(next(spans_dir.rglob("ducklake-*.parquet")), orphan)
        two_hours_ago = time.time() - 2 * 3600
        os.utime(stale, (two_hours_ago, two_hours_ago))

        run_maintenance(lake, 0.0)

        assert (stale.exists(), fresh.exists()) == (False, True)
        assert lake.con.execute("SELECT count(*) FROM spans").fetchone()[0] == 1


def test_the_server_expires_snapshots_every_tenth_of_their_retention_while_it_ingests(
    make_server, store_settings
):
    """Every commit reads the catalog's snapshot list: the server keeps it short between
    maintenance passes (an hour apart here)."""
    server = make_server(snapshot_retention_s=1.0, maintenance_interval_s=3600)
    client = OtlpClient(server.address)
    for seq in range(1, 31):  # thirty commits, over more than a second
        client.export(export_request([inference_span()]), node_id="node-a", seq=seq)
        time.sleep(0.05)
    client.close()

    def snapshots_older_than(seconds: float) -> int:
        return lake_rows(
            store_settings,
            "SELECT count(*) FROM ducklake_snapshots('lake') "
            "WHERE snapshot_time < now() - to_microseconds(?)",
            [round(seconds * 1e6)],
        )[0][0]

    wait_until(lambda: snapshots_older_than(3.0) <= 1, timeout=30)  # the newest may stay
    assert lake_rows(store_settings, "SELECT count(*) FROM spans") == [(30,)]
