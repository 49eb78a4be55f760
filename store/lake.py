"""Attach the DuckLake lake: where it is, how readers and the writer connect.

Embedded default: a SQLite catalog (WAL journal, busy timeout) at ``<path>/catalog.sqlite``
and Parquet files under ``<path>/data/``; one writer process, guarded by
``<path>/writer.lock``, and any number of read-only readers. Scale-out: the catalog is a
PostgreSQL database and several writers may commit concurrently (no file lock then).

Every connection is a fresh in-memory DuckDB database with the lake attached as ``lake``
and selected with ``USE``, so SQL names tables plainly (``SELECT ... FROM spans``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from parallax.config import StoreSettings
from store.errors import LakeMissingError
from store.extensions import OFFLINE_CONFIG, load_extensions
from store.lock import WriterLock
from store.schema import check_readable, migrate

LAKE_ALIAS = "lake"
# Tables that take a few rows per commit keep them in the catalog (DuckLake data
# inlining) instead of writing a Parquet file per commit: a group commit's ledger rows
# in a file of their own cost ~4 ms and one more file to merge. Maintenance moves them
# to Parquet (store.maintenance). Spans are never inlined: inlining a large insert is
# slow (~8k rows/s measured), so inserts above INLINED_ROWS_MAX rows write Parquet.
INLINED_TABLES = ("ingested_batches", "ingest_stats", "node_heartbeats", "nodes")
INLINED_ROWS_MAX = 1000
POSTGRES_PREFIXES = ("postgres:", "postgresql://", "postgres://")
# Writers on one PostgreSQL catalog whose transactions overlap both claim the next
# snapshot id; DuckLake retries the loser's commit after ducklake_retry_wait_ms (default
# 100, x1.5 per retry, 10 retries). Two writer connections appending 2,048-span groups to
# `spans` in overlapping transactions: 10.7 commits/s with the defaults, 57.9 with these
# (one writer alone: 44.7). 20 retries from 2 ms wait at most ~13 s in all.
CONFLICT_RETRY_SETTINGS = {
    "ducklake_retry_wait_ms": 2,
    "ducklake_retry_backoff": 1.5,
    "ducklake_max_retry_count": 20,
}


@dataclass(frozen=True)
class LakeLocation:
    """Resolved addresses of one lake."""

    root: Path
    catalog: str  # the part after 'ducklake:' in ATTACH
    data_path: str
    embedded: bool  # SQLite catalog, single writer

    @property
    def lock_path(self) -> Path:
        return self.root / "writer.lock"

    @property
    def sqlite_file(self) -> Path:
        return self.root / "catalog.sqlite"


def locate(settings: StoreSettings) -> LakeLocation:
    """Work out catalog and data addresses from the store settings."""
    root = Path(settings.path).expanduser().resolve()
    data_path = settings.data_path or str(root / "data")
    if settings.catalog.startswith(POSTGRES_PREFIXES):
        conninfo = settings.catalog.removeprefix("postgres:")
        return LakeLocation(root, f"postgres:{conninfo}", data_path, embedded=False)
    if settings.catalog:
        sqlite_file = Path(settings.catalog).expanduser().resolve()
        return LakeLocation(sqlite_file.parent, f"sqlite:{sqlite_file}", data_path, True)
    return LakeLocation(root, f"sqlite:{root / 'catalog.sqlite'}", data_path, embedded=True)


def connect(settings: StoreSettings, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the lake attached as ``lake`` and selected.

    Readers (``read_only=True``) never create anything: a lake that does not exist yet
    raises LakeMissingError, and a lake written by a newer Parallax raises
    SchemaVersionError. Writers use :func:`open_writer` (see :class:`WriterLake`).
    """
    location = locate(settings)
    if read_only and location.embedded and not Path(location.catalog[len("sqlite:") :]).exists():
        raise LakeMissingError(
            f"no lake at {location.root}: start `parallax server` to create it, "
            "or point store.path at an existing lake"
        )
    con = _attach(location, settings, read_only)
    if read_only:
        check_readable(con)
    return con


@dataclass
class WriterLake:
    """The only way to write the lake.

    The rule: a process writes the lake only through the WriterLake :func:`open_writer`
    returns (on an embedded lake it holds ``writer.lock``, so no other process writes;
    the schema is migrated), and every write is one :meth:`transaction`: the block runs
    between BEGIN and COMMIT (ROLLBACK when it raises) while it holds the lake's commit
    turn, on the writer's connection ``con`` or on a :meth:`session` of it. Two DuckLake
    commits at once contend for the catalog ("database is locked", failed commits); the
    turn makes this process's commits take turns. Reads never take it.

    The writers of ``parallax server`` (launch.server): the ingest writer thread owns
    ``con`` and commits there the span groups and ingest stats (store.ingest.writer), the
    Fleet service's heartbeats (``IngestPipeline.run_in_writer``) and maintenance
    (store.maintenance); the reconciler commits its tables from its own session
    (reconciler.run). ``parallax reconcile`` and ``parallax maintain`` open their own.
    """

    con: duckdb.DuckDBPyConnection
    location: LakeLocation
    lock: WriterLock | None
    _commit_turn: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextlib.contextmanager
    def transaction(
        self, con: duckdb.DuckDBPyConnection | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run the block as one transaction on ``con`` (default: the writer's connection),
        holding the commit turn; yields the connection. A failed COMMIT raises too."""
        con = self.con if con is None else con
        with self._commit_turn:
            con.execute("BEGIN")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):  # a failed COMMIT has ended it already
                    con.execute("ROLLBACK")
                raise

    def session(self) -> duckdb.DuckDBPyConnection:
        """Another connection to the writer's database, for a component on its own thread.

        Its transactions run beside the writer connection's (DuckLake snapshot isolation);
        it writes only in ``transaction(session)``, and only tables no other writer of the
        process writes (the reconciler's).
        """
        con = self.con.cursor()
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"USE {LAKE_ALIAS}")
        return con

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            if self.lock is not None:
                self.lock.release()

    def __enter__(self) -> WriterLake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_writer(settings: StoreSettings, migrations_dir: Path | None = None) -> WriterLake:
    """Take the writer lock (embedded lakes), attach read-write and bring the schema up to date."""
    location = locate(settings)
    lock = WriterLock(location.lock_path).acquire() if location.embedded else None
    try:
        if location.embedded:
            location.root.mkdir(parents=True, exist_ok=True)
        if not location.data_path.startswith(("s3://", "gs://", "az://", "http")):
            Path(location.data_path).mkdir(parents=True, exist_ok=True)
        con = _attach(location, settings, read_only=False)
        migrate(con, migrations_dir)
        _choose_inlined_tables(con)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return WriterLake(con, location, lock)


def _attach(
    location: LakeLocation, settings: StoreSettings, read_only: bool
) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config=dict(OFFLINE_CONFIG))
    con.execute("SET TimeZone = 'UTC'")
    extensions = ["ducklake", "sqlite_scanner" if location.embedded else "postgres_scanner"]
    if location.data_path.startswith(("s3://", "gs://", "az://", "http")):
        extensions.append("httpfs")
    load_extensions(con, extensions)
    options = [f"DATA_PATH '{_quote(location.data_path)}'"]
    if location.embedded:
        options += ["META_JOURNAL_MODE 'WAL'", f"META_BUSY_TIMEOUT {settings.busy_timeout_ms}"]
    else:
        for name, value in CONFLICT_RETRY_SETTINGS.items():
            con.execute(f"SET {name} = {value}")
    if read_only:
        options.append("READ_ONLY")
    con.execute(
        f"ATTACH 'ducklake:{_quote(location.catalog)}' AS {LAKE_ALIAS} ({', '.join(options)})"
    )
    con.execute(f"USE {LAKE_ALIAS}")
    return con


def _choose_inlined_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Inline nothing by default, and small inserts into INLINED_TABLES (options kept
    in the catalog; an ATTACH option would override the per-table ones)."""
    con.execute(f"CALL {LAKE_ALIAS}.set_option('data_inlining_row_limit', 0)")
    existing = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [LAKE_ALIAS]
    ).fetchall()
    for table in set(INLINED_TABLES) & {name for (name,) in existing}:
        con.execute(
            f"CALL {LAKE_ALIAS}.set_option('data_inlining_row_limit', {INLINED_ROWS_MAX}, "
            f"table_name => '{table}')"
        )


def _quote(text: str) -> str:
    return text.replace("'", "''")
