"""Attaching the lake: readers and the writer, schema versions, extensions from packages."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from store import connect, open_writer
from store.errors import (
    LakeMissingError,
    MissingExtensionError,
    SchemaVersionError,
    WriterLockedError,
)
from store.extensions import extension_file
from store.schema import MIGRATIONS_DIR, available_migrations, current_version


def test_a_new_lake_gets_every_migration(store_settings):
    with open_writer(store_settings) as lake:
        assert current_version(lake.con) == len(available_migrations())
        tables = {row[0] for row in lake.con.execute("SHOW TABLES").fetchall()}
    assert {"spans", "ingested_batches", "ingest_stats", "inferences"} <= tables


def test_readers_see_committed_rows_and_cannot_write(store_settings):
    with open_writer(store_settings) as lake:
        lake.con.execute(
            "INSERT INTO spans (trace_id, span_id, name, start_time, ingested_at, feature) "
            "VALUES ('t', 's', 'n', now(), now(), 'f')"
        )
        reader = connect(store_settings, read_only=True)
        assert reader.execute("SELECT count(*) FROM inferences").fetchone() == (1,)
        with pytest.raises(duckdb.Error, match="read-only"):
            reader.execute("DELETE FROM spans")
        reader.close()


def test_a_reader_of_a_lake_that_does_not_exist_is_told_how_to_create_it(store_settings):
    with pytest.raises(LakeMissingError, match="parallax server"):
        connect(store_settings, read_only=True)


def test_a_second_writer_in_the_same_process_is_refused(store_settings):
    with (
        open_writer(store_settings),
        pytest.raises(WriterLockedError, match="already has a writer"),
    ):
        open_writer(store_settings)


def test_the_writer_lock_is_released_on_close(store_settings):
    open_writer(store_settings).close()
    open_writer(store_settings).close()


def test_an_older_lake_is_upgraded_in_place(store_settings, tmp_path):
    old_migrations = tmp_path / "old_migrations"
    old_migrations.mkdir()
    shutil.copy(MIGRATIONS_DIR / "0001_spans.sql", old_migrations)
    with open_writer(store_settings, migrations_dir=old_migrations) as lake:
        assert current_version(lake.con) == 1
        lake.con.execute(
            "INSERT INTO spans (trace_id, span_id, name, start_time, ingested_at, model_name) "
            "VALUES ('t', 's', 'n', now(), now(), 'm')"
        )
    with open_writer(store_settings) as lake:
        assert current_version(lake.con) == len(available_migrations())
        assert lake.con.execute("SELECT model_name FROM inferences").fetchall() == [("m",)]


def test_a_lake_is_upgraded_whole_or_not_at_all(store_settings, tmp_path):
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    shutil.copy(MIGRATIONS_DIR / "0001_spans.sql", migrations)
    open_writer(store_settings, migrations_dir=migrations).close()
    shutil.copy(MIGRATIONS_DIR / "0002_ingest_stats.sql", migrations)
    (migrations / "0003_broken.sql").write_text("CREATE TABLE broken (x NO_SUCH_TYPE);")
    with pytest.raises(duckdb.Error):
        open_writer(store_settings, migrations_dir=migrations)
    with connect(store_settings) as con:
        assert current_version(con) == 1
        tables = {
            name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        }
        assert "ingest_stats" not in tables  # 0002 went with the broken 0003


def test_a_lake_from_a_newer_parallax_is_refused(store_settings, tmp_path):
    newer = tmp_path / "newer_migrations"
    shutil.copytree(MIGRATIONS_DIR, newer)
    (newer / f"{len(available_migrations()) + 1:04d}_future.sql").write_text(
        "CREATE TABLE future (x INTEGER);"
    )
    open_writer(store_settings, migrations_dir=newer).close()
    with pytest.raises(SchemaVersionError, match="upgrade Parallax"):
        open_writer(store_settings)
    with pytest.raises(SchemaVersionError, match="upgrade Parallax"):
        connect(store_settings, read_only=True)


def test_extensions_load_from_their_python_packages():
    path = extension_file("ducklake")
    assert path.is_file()
    assert "site-packages" in str(path) or "dist-packages" in str(path)


def test_a_missing_extension_package_names_the_package_to_install(monkeypatch):
    from store import extensions

    monkeypatch.setitem(
        extensions.EXTENSION_PACKAGES, "ducklake", ("duckdb-extension-ducklake", "no_such_module")
    )
    with pytest.raises(MissingExtensionError, match="pip install 'duckdb-extension-ducklake=="):
        extension_file("ducklake")


def test_a_stock_duckdb_can_attach_the_lake_under_any_name(store_settings):
    open_writer(store_settings).close()
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    for name in ("sqlite_scanner", "ducklake"):
        con.execute(f"LOAD '{extension_file(name)}'")
    catalog = Path(store_settings.path) / "catalog.sqlite"
    con.execute(f"ATTACH 'ducklake:sqlite:{catalog}' AS analytics (READ_ONLY)")
    assert con.execute("SELECT count(*) FROM analytics.inferences").fetchone() == (0,)
