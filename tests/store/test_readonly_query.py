"""The read-only query runner: hostile SQL leaves the lake byte-identical and leaks none of it.

Each hostile query runs twice: through the runner (DuckDB's parser refuses everything
but SELECT), and through the worker with that check switched off, which shows that the
confinement alone (Landlock, DuckLake READ_ONLY, DuckDB's file check) holds.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from parallax.config import StoreSettings
from store import open_writer
from store.landlock import abi_version
from store.readonly_query import PROJECT_ROOT, QueryLimits, QueryRefused, run_readonly_query

UNCHECKED_WORKER = (
    "import sys, duckdb, store.query_worker as worker; "
    "worker.selects_only = duckdb.extract_statements; sys.exit(worker.main())"
)


# Templates: {lake}, {catalog}, {lock} and {data_file} are the lake's own paths.
HOSTILE = {
    "attach the catalog and create a table": (
        "ATTACH '{catalog}' AS cat (TYPE sqlite); CREATE TABLE cat.pwned (a INTEGER)"
    ),
    "attach the catalog and update its file list": (
        "ATTACH '{catalog}' AS cat (TYPE sqlite); "
        "UPDATE cat.ducklake_data_file SET record_count = 1"
    ),
    "update the catalog through DuckLake's metadata database": (
        "UPDATE __ducklake_metadata_lake.ducklake_data_file SET record_count = 1"
    ),
    "update the catalog through sqlite_query": (
        "SELECT * FROM sqlite_query('__ducklake_metadata_lake', "
        "'UPDATE ducklake_data_file SET record_count = 1 RETURNING record_count')"
    ),
    "copy over a live data file": "COPY (SELECT 1 AS a) TO '{data_file}' (FORMAT parquet)",
    "copy a new file into the lake": "COPY (SELECT 1 AS a) TO '{catalog}.wal'",
    "export into the data directory": "EXPORT DATABASE '{lake}/data/export'",
    "delete rows": "DELETE FROM spans",
    "expire snapshots": "CALL ducklake_expire_snapshots('lake', older_than => now())",
    "read the catalog's bytes": "SELECT content FROM read_blob('{catalog}')",
    "read writer.lock": "SELECT content FROM read_text('{lock}')",
    "glob the lake": "SELECT file FROM glob('{lake}/*')",
    "scan the catalog with sqlite_scan": (
        "SELECT * FROM sqlite_scan('{catalog}', 'ducklake_data_file')"
    ),
    "read a file outside the lake": "SELECT * FROM read_csv('/etc/passwd')",
}


def hostile(name: str, root: Path) -> str:
    data_file = next((root / "data").rglob("*.parquet"))
    return HOSTILE[name].format(
        lake=root, catalog=root / "catalog.sqlite", lock=root / "writer.lock", data_file=data_file
    )


@pytest.fixture
def lake(store_settings) -> StoreSettings:
    with open_writer(store_settings) as writer:
        for trace in ("t1", "t2", "t3"):  # one Parquet file each
            writer.con.execute(
                "INSERT INTO spans (trace_id, span_id, name, start_time, ingested_at) "
                "VALUES (?, 's', 'n', now(), now())",
                [trace],
            )
    return store_settings


def lake_files(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.endswith(("-wal", "-shm"))
    }


def secrets_of(root: Path) -> list[bytes]:
    """Byte strings only the catalog and the lock hold."""
    catalog = (root / "catalog.sqlite").read_bytes()
    return [catalog[:100], (root / "writer.lock").read_bytes()]


def unchecked_answer(lake: StoreSettings, text: str) -> bytes:
    request = {"store": {"path": lake.path}, "sql": text, "memory_limit": "256MB",
               "row_limit": 100, "max_result_bytes": 1_000_000}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", UNCHECKED_WORKER], input=json.dumps(request).encode(),
        capture_output=True, cwd=PROJECT_ROOT, check=True,
    )  # fmt: skip
    return done.stdout


def test_the_kernel_offers_landlock_here():
    assert abi_version() >= 1, "these tests need Linux Landlock (5.13+) to mean anything"


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_query_is_refused_and_changes_nothing(lake, name):
    root = Path(lake.path)
    before, secrets = lake_files(root), secrets_of(root)
    with pytest.raises(QueryRefused) as refused:
        run_readonly_query(lake, hostile(name, root), QueryLimits())
    assert not any(secret in str(refused.value).encode() for secret in secrets)
    assert lake_files(root) == before


@pytest.mark.parametrize("name", list(HOSTILE))
def test_without_the_statement_check_the_confinement_alone_holds(lake, name):
    root = Path(lake.path)
    before, secrets = lake_files(root), secrets_of(root)
    answer = unchecked_answer(lake, hostile(name, root))
    assert b'"refused"' in answer.split(b"\n", 1)[0] or b'"result": false' in answer
    assert not any(secret in answer for secret in secrets)
    assert lake_files(root) == before
    assert run_readonly_query(lake, "SELECT count(*) AS n FROM spans", QueryLimits()).table[
        "n"
    ].to_pylist() == [3]


def test_the_lake_reads_normally_in_the_confined_worker(lake):
    result = run_readonly_query(
        lake, "SELECT trace_id FROM spans ORDER BY 1", QueryLimits(row_limit=2)
    )
    assert result.table["trace_id"].to_pylist() == ["t1", "t2"]
    assert result.truncated_by == "rows"
