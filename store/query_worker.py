"""The read-only query worker: one process per query (``python -m store.query_worker``).

It reads one request (JSON) on stdin and answers on stdout with one JSON header line,
followed by the result as an Arrow IPC stream when there is one. In order, it:

1. parses the text with DuckDB's parser and refuses it unless every statement is a
   ``SELECT`` (``FROM``, ``WITH``, ``SHOW``, ``DESCRIBE``, ``SUMMARIZE`` are SELECTs);
2. loads the lake's extensions from their package files, attaches the lake with
   DuckLake's ``READ_ONLY`` and opens the transaction the query will run in, so the
   SQLite catalog is open before step 3 (DuckLake reads it through that open file);
3. confines itself with Linux Landlock (:mod:`store.landlock`): from here the kernel
   lets it read only the lake's data directory, the catalog's ``-wal`` and ``-shm``
   files (SQLite reopens them) and the Python installation, write no file anywhere, and
   open no TCP connection (for an embedded lake). The catalog file, ``writer.lock`` and
   everything else can no longer be opened at all. DuckDB runs the query on this one
   thread (``threads = 1``), the thread the confinement binds;
4. confines DuckDB as well: file access only under the data directory, configuration
   locked, ``memory_limit`` as asked and no spilling to disk;
5. runs the statements in that transaction and returns at most ``row_limit`` rows and at
   most ``max_result_bytes`` bytes of Arrow data, saying which cap cut the result.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import sysconfig
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.ipc

from parallax.config import StoreSettings
from store.extensions import OFFLINE_CONFIG, load_extensions
from store.lake import LAKE_ALIAS, LakeLocation, locate
from store.landlock import LandlockUnavailable, confine
from store.schema import check_readable

REMOTE_PREFIXES = ("s3://", "gs://", "az://", "http://", "https://")
BATCH_ROWS = 1024


class Refusal(Exception):
    """The query is refused before or while it runs; ``kind`` names why."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def answer(request: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """Run the request confined; return the header and the Arrow IPC bytes."""
    statements = selects_only(request["sql"])
    if not statements:
        return {"result": False}, b""
    store = StoreSettings(**request["store"])
    location = locate(store)
    con = open_lake(store, location, request["memory_limit"])
    confine_process(location)
    confine_duckdb(con, location)
    for statement in statements[:-1]:
        con.execute(statement.query)
    relation = con.sql(statements[-1].query)
    if relation is None:
        return {"result": False}, b""
    return collect(relation, request["row_limit"], request["max_result_bytes"])


def selects_only(text: str) -> list[duckdb.Statement]:
    """The statements of ``text``, refused unless every one of them is a SELECT."""
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as err:
        raise Refusal("error", str(err).strip()) from err
    for statement in statements:
        if statement.type != duckdb.StatementType.SELECT:
            raise Refusal("statement", statement.type.name)
    return statements


def open_lake(
    store: StoreSettings, location: LakeLocation, memory_limit: str
) -> duckdb.DuckDBPyConnection:
    """The lake attached read-only, with the transaction of the query begun and its catalog open."""
    # One thread: Landlock confines the thread that asks and the threads it starts later,
    # and DuckLake opens the catalog again for every extra thread; with one, it reads
    # through the connection opened here, and the catalog file can stay out of reach.
    config = {
        **OFFLINE_CONFIG,
        "memory_limit": memory_limit,
        "temp_directory": "",  # no spilling: a query past memory_limit stops
        "threads": 1,
    }
    con = duckdb.connect(config=config)
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    extensions = ["ducklake", "sqlite_scanner" if location.embedded else "postgres_scanner"]
    if location.data_path.startswith(REMOTE_PREFIXES):
        extensions.append("httpfs")
    load_extensions(con, extensions)
    options = f"DATA_PATH '{_quote(location.data_path)}', READ_ONLY"
    if location.embedded:
        options += f", META_BUSY_TIMEOUT {store.busy_timeout_ms}"
    con.execute(f"ATTACH 'ducklake:{_quote(location.catalog)}' AS {LAKE_ALIAS} ({options})")
    con.execute(f"USE {LAKE_ALIAS}")
    con.execute("BEGIN TRANSACTION")
    check_readable(con)
    return con


def confine_process(location: LakeLocation) -> None:
    """Landlock: read the data directory, the catalog's WAL files and Python's own files."""
    python = {Path(sysconfig.get_paths()[name]) for name in ("stdlib", "platstdlib", "purelib")}
    python.add(Path(sysconfig.get_paths()["platlib"]))
    readable = [*sorted(python)]
    if location.embedded:  # SQLite reopens its WAL files for each read transaction
        catalog = location.catalog.removeprefix("sqlite:")
        readable += [Path(f"{catalog}-wal"), Path(f"{catalog}-shm")]
    if not location.data_path.startswith(REMOTE_PREFIXES):
        readable.append(Path(location.data_path))
    try:
        confine(read=readable, write=[], network=not _local_only(location))
    except LandlockUnavailable as err:
        raise Refusal("confinement", str(err)) from err


def confine_duckdb(con: duckdb.DuckDBPyConnection, location: LakeLocation) -> None:
    """DuckDB's own file check: only under the data directory; then lock the settings."""
    con.execute("SET allowed_directories = $dirs", {"dirs": [location.data_path.rstrip("/") + "/"]})
    con.execute("SET allowed_paths = []")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def collect(
    relation: duckdb.DuckDBPyRelation, row_limit: int | None, max_bytes: int | None
) -> tuple[dict[str, Any], bytes]:
    """Read batches until a cap is reached; the header says which cap cut the result."""
    if row_limit is not None:
        relation = relation.limit(row_limit + 1)
    reader = relation.to_arrow_reader(BATCH_ROWS)
    batches: list[pa.RecordBatch] = []
    rows = size = 0
    truncated = None
    for batch in reader:
        if row_limit is not None and rows + batch.num_rows > row_limit:
            batch, truncated = batch.slice(0, row_limit - rows), "rows"
        if max_bytes is not None and size + _size(batch) > max_bytes:
            batch, truncated = _fit(batch, max_bytes - size), "bytes"
        batches.append(batch)
        rows, size = rows + batch.num_rows, size + _size(batch)
        if truncated:
            break
    sink = pa.BufferOutputStream()
    with pyarrow.ipc.new_stream(sink, reader.schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    header = {"result": True, "rows": rows, "truncated": truncated}
    return header, sink.getvalue().to_pybytes()


def _fit(batch: pa.RecordBatch, budget: int) -> pa.RecordBatch:
    """The longest head of ``batch`` whose Arrow size is within ``budget`` bytes."""
    low, high = 0, batch.num_rows
    while low < high:
        middle = (low + high + 1) // 2
        if _size(batch.slice(0, middle)) <= budget:
            low = middle
        else:
            high = middle - 1
    return batch.slice(0, low)


def _size(batch: pa.RecordBatch) -> int:
    return pyarrow.ipc.get_record_batch_size(batch)


def _local_only(location: LakeLocation) -> bool:
    return location.embedded and not location.data_path.startswith(REMOTE_PREFIXES)


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _limit_resources() -> None:
    """No core dumps: they would hold lake data."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main() -> int:
    _limit_resources()
    # The answer goes to the original stdout; anything a library prints goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    try:
        header, body = answer(json.loads(sys.stdin.buffer.read()))
    except Refusal as refusal:
        header, body = {"refused": refusal.kind, "message": str(refusal)}, b""
    except Exception as err:  # every failure is an answer for the analyst
        header, body = {"refused": _kind(err), "message": str(err).strip()}, b""
    out.write(json.dumps(header).encode() + b"\n" + body)
    out.flush()
    return 0


def _kind(err: Exception) -> str:
    if isinstance(err, duckdb.OutOfMemoryException):
        return "memory"
    if isinstance(err, duckdb.PermissionException) or "Permission denied" in str(err):
        return "files"
    if "read-only" in str(err):
        return "write"
    return "error"


if __name__ == "__main__":
    sys.exit(main())
