"""The SQL page's engine: an analyst's query on a confined read-only connection.

Each query gets its own connection (``store.connect(read_only=True)``, so nothing it
does outlives it) that is confined before the query runs: the lake is attached
read-only, DuckDB may touch no file outside the lake's own directories (no ``ATTACH``,
``COPY … TO``, ``read_csv('/etc/…')``, extension install), and the configuration is
locked so the query cannot lift that. At most ``row_limit`` rows come back; a query
running longer than ``timeout_s`` is interrupted. Failures become :class:`QueryRefused`
with a message saying what happened in words.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from parallax.config import StoreSettings
from store.lake import connect, locate

WRITE_REFUSED = (
    "The dashboard reads the lake and never writes it: INSERT, UPDATE, DELETE, CREATE, DROP "
    "and other statements that change the lake are refused."
)
FILES_REFUSED = (
    "The SQL page reads the lake only: ATTACH, COPY, reading or writing files and installing "
    "extensions are refused. Use `parallax sql` or DuckDB on the lake for those."
)
SETTINGS_REFUSED = "Settings (SET, PRAGMA …) are locked on the SQL page."


class QueryRefused(Exception):
    """The query failed or was refused; the message is for the analyst."""


@dataclass(frozen=True)
class Answer:
    table: pa.Table | None  # None for a statement without a result
    truncated: bool  # more rows than row_limit existed
    seconds: float


def run_query(store: StoreSettings, text: str, row_limit: int, timeout_s: float) -> Answer:
    """Run ``text`` confined and read-only; at most ``row_limit`` rows, at most ``timeout_s``."""
    con = connect(store, read_only=True)
    timer = threading.Timer(timeout_s, con.interrupt)
    started = time.monotonic()
    try:
        confine(con, store)
        timer.start()
        relation = con.sql(text)
        if relation is None:
            return Answer(None, False, time.monotonic() - started)
        table = relation.limit(row_limit + 1).to_arrow_table()
    except duckdb.InterruptException as err:
        raise QueryRefused(
            f"The query ran longer than {timeout_s:g} s (dashboard.query_timeout_s) and was "
            "stopped. Narrow it (a time range on start_time, fewer columns) or use `parallax sql`."
        ) from err
    except duckdb.Error as err:
        raise QueryRefused(explain(err)) from err
    finally:
        timer.cancel()
        con.close()
    truncated = table.num_rows > row_limit
    return Answer(table.slice(0, row_limit), truncated, time.monotonic() - started)


def confine(con: duckdb.DuckDBPyConnection, store: StoreSettings) -> None:
    """Allow file access only under the lake's directories, then lock the configuration."""
    location = locate(store)
    allowed = [f"{location.root}/", f"{location.data_path.rstrip('/')}/"]
    con.execute("SET allowed_directories = $dirs", {"dirs": allowed})
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def explain(err: duckdb.Error) -> str:
    """DuckDB's error in words, for the refusals an analyst can run into."""
    message = str(err).strip()
    if "read-only mode" in message or "read-only" in message.lower():
        return f"{WRITE_REFUSED}\n\nDuckDB: {message}"
    if isinstance(err, duckdb.PermissionException):
        return f"{FILES_REFUSED}\n\nDuckDB: {message}"
    if "configuration has been locked" in message:
        return f"{SETTINGS_REFUSED}\n\nDuckDB: {message}"
    return f"DuckDB: {message}"
