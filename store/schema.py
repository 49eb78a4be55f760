"""Versioned schema migrations for the lake.

Migrations are the numbered ``.sql`` files in ``store/migrations`` (``0001_name.sql``),
applied in order, each in its own transaction together with its row in
``parallax_schema``. A migration may hold ``{{name}}`` for SQL generated from the code
when it runs (``GENERATED``: the canonical-value and variant macros of store.canonical,
made from parallax.conventions); a change to those conventions comes with a migration
that re-creates them and rewrites the rows. A lake whose schema is newer than the newest
migration this code knows is refused rather than written with assumptions that no longer
hold.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from store.canonical import create_macros_sql
from store.errors import LakeMissingError, SchemaVersionError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_GENERATED_MARK = re.compile(r"\{\{([a-z_]+)\}\}")
GENERATED: dict[str, Callable[[], str]] = {"canonical_macros": create_macros_sql}


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    def sql(self) -> str:
        """The migration's SQL with every ``{{name}}`` replaced by its generated SQL."""
        text = self.path.read_text(encoding="utf-8")
        return _GENERATED_MARK.sub(lambda mark: GENERATED[mark[1]](), text)


def available_migrations(directory: Path | None = None) -> list[Migration]:
    """The migrations shipped with this code, in version order."""
    found = []
    for path in sorted((directory or MIGRATIONS_DIR).glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match:
            found.append(Migration(int(match[1]), match[2], path))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise SchemaVersionError(f"migrations must be numbered 1..n without gaps: {versions}")
    return found


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """Schema version of the attached lake; 0 for an empty lake."""
    has_table = con.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE database_name = current_database() AND table_name = 'parallax_schema'"
    ).fetchone()[0]
    if not has_table:
        return 0
    return con.execute("SELECT coalesce(max(version), 0) FROM parallax_schema").fetchone()[0]


def migrate(con: duckdb.DuckDBPyConnection, directory: Path | None = None) -> int:
    """Apply every migration newer than the lake's version; return the resulting version."""
    migrations = available_migrations(directory)
    version = current_version(con)
    newest = migrations[-1].version if migrations else 0
    if version > newest:
        raise SchemaVersionError(_too_new(version, newest))
    if version == 0:
        con.execute(
            "CREATE TABLE IF NOT EXISTS parallax_schema "
            "(version INTEGER NOT NULL, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
    pending = migrations[version:]
    if not pending:
        return version
    # One transaction for every pending migration: a lake is upgraded whole or not at
    # all, and a new lake costs one DuckLake commit instead of one per migration.
    con.execute("BEGIN")
    try:
        for migration in pending:
            con.execute(migration.sql())
            con.execute(
                "INSERT INTO parallax_schema VALUES (?, ?, now())",
                [migration.version, migration.name],
            )
        con.execute("COMMIT")
    except Exception:
        with contextlib.suppress(duckdb.Error):  # a failed COMMIT has ended it already
            con.execute("ROLLBACK")
        raise
    return pending[-1].version


def check_readable(con: duckdb.DuckDBPyConnection) -> None:
    """Refuse a lake that is empty or newer than this code."""
    version = current_version(con)
    newest = len(available_migrations())
    if version == 0:
        raise LakeMissingError("the lake exists but has no schema yet: start `parallax server`")
    if version > newest:
        raise SchemaVersionError(_too_new(version, newest))


def _too_new(version: int, newest: int) -> str:
    return (
        f"the lake has schema version {version}, newer than this Parallax understands "
        f"(up to {newest}): upgrade Parallax before opening it"
    )
