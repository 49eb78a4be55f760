"""The one read-only query runner: analysts' SQL in a confined process of its own.

``parallax sql`` and the dashboard's SQL page both run analysts' SQL through
:func:`run_readonly_query`. Each query gets a new worker process
(:mod:`store.query_worker`) that confines itself with Linux Landlock before it runs the
query, so what the query may do is decided by the kernel, not by inspecting its text:

- it can write no file at all: not the catalog, not a Parquet file, not anywhere;
- it can read the lake's data directory and nothing else of the lake but the catalog's
  SQLite ``-wal``/``-shm`` files: the catalog file and ``writer.lock`` cannot even be
  opened (DuckLake reads the catalog through the connection opened before the
  confinement), so their bytes cannot be read by any function;
- it can open no network connection (embedded lakes);
- DuckDB in it has external file access switched off except under the data directory,
  its configuration locked, a ``memory_limit`` and no spilling to disk.

Only ``SELECT`` statements are run (DuckDB's parser says which a text holds), so
``ATTACH``, ``COPY``, ``INSTALL``, ``SET`` and writes are refused with a clear message
before the lake is opened. At most ``row_limit`` rows and ``max_result_bytes`` bytes of
Arrow data come back; a query running longer than ``timeout_s`` is killed with its process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc

from parallax.config import StoreSettings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WRITES = {"INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "MERGE_INTO", "VACUUM"}
SETTINGS = {"SET", "VARIABLE_SET", "PRAGMA", "RESET"}

WRITE_REFUSED = (
    "Analyst SQL reads the lake and never writes it: INSERT, UPDATE, DELETE, CREATE, DROP "
    "and other statements that change the lake are refused."
)
FILES_REFUSED = (
    "Analyst SQL reads the lake's tables and views only: ATTACH, COPY, EXPORT, reading or "
    "writing files by path and installing or loading extensions are refused."
)
SETTINGS_REFUSED = "Settings (SET, PRAGMA …) are locked for analyst SQL."
ONLY_SELECT = "Only SELECT queries run here (FROM, WITH, SHOW, DESCRIBE, SUMMARIZE are SELECTs)."


@dataclass(frozen=True)
class QueryLimits:
    """What one query may use; ``None`` means no cap."""

    memory_limit: str = "1GB"  # DuckDB's memory_limit
    row_limit: int | None = None
    max_result_bytes: int | None = None
    timeout_s: float | None = None


@dataclass(frozen=True)
class QueryResult:
    table: pa.Table | None  # None for a statement without a result
    truncated_by: str | None  # "rows" or "bytes" when a cap cut the result
    seconds: float

    @property
    def truncated(self) -> bool:
        return self.truncated_by is not None


class QueryRefused(Exception):
    """The query failed or was refused; the message is for the analyst.

    ``kind`` says why: statement, write, files, memory, timeout, confinement or error.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def run_readonly_query(store: StoreSettings, text: str, limits: QueryLimits) -> QueryResult:
    """Run ``text`` in a new confined worker process; its result, or QueryRefused."""
    request = {"store": asdict(store), "sql": text, **asdict(limits)}
    started = time.monotonic()
    output = _ask_worker(json.dumps(request).encode(), limits)
    header_line, _, body = output.partition(b"\n")
    header = json.loads(header_line)
    if "refused" in header:
        raise QueryRefused(header["refused"], explain(header["refused"], header["message"]))
    table = pyarrow.ipc.open_stream(body).read_all() if header["result"] else None
    return QueryResult(table, header.get("truncated"), time.monotonic() - started)


def _ask_worker(request: bytes, limits: QueryLimits) -> bytes:
    worker = subprocess.Popen(
        [sys.executable, "-m", "store.query_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=PROJECT_ROOT,
        start_new_session=True,  # its own process group, killed whole on timeout
    )
    try:
        output, errors = worker.communicate(request, timeout=limits.timeout_s)
    except subprocess.TimeoutExpired as err:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.communicate()
        raise QueryRefused(
            "timeout",
            f"The query ran longer than {limits.timeout_s:g} s and was stopped. Narrow it "
            "(a time range on start_time, fewer columns).",
        ) from err
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    if worker.returncode != 0 or b"\n" not in output:
        last = errors.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise QueryRefused(
            "error",
            f"The query process ended without an answer (exit {worker.returncode}): {last[0]}",
        )
    return output


def explain(kind: str, message: str) -> str:
    """DuckDB's or the worker's message in words, for the refusals an analyst can meet."""
    if kind == "statement":
        return _refused_statement(message)
    if kind == "write":
        return f"{WRITE_REFUSED}\n\nDuckDB: {message}"
    if kind == "files" or "unable to open database file" in message:
        return f"{FILES_REFUSED}\n\nDuckDB: {message}"
    if kind == "memory":
        first = message.splitlines()[0]
        return (
            "The query needed more memory than its limit and was stopped. Narrow it (a time "
            f"range on start_time, fewer columns, an aggregate).\n\nDuckDB: {first}"
        )
    if kind == "confinement":
        return f"Analyst SQL cannot run on this system: {message}"
    return f"DuckDB: {message}"


def _refused_statement(statement_type: str) -> str:
    if statement_type in WRITES:
        return f"{WRITE_REFUSED} ({statement_type})"
    if statement_type in SETTINGS:
        return f"{SETTINGS_REFUSED} ({statement_type})"
    return f"{FILES_REFUSED} ({statement_type}) {ONLY_SELECT}"
