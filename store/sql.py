"""``parallax sql``: run a query through the read-only query runner and print the result.

Formats: ``table`` (a boxed table for people), ``csv``, ``json`` (one object per line)
and ``parquet`` (to ``--output``). The query runs in a confined worker process
(:mod:`store.readonly_query`), as the dashboard's SQL page does: it reads the lake's
tables and views and can write nothing; statements other than SELECT are refused.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from parallax.config import StoreSettings
from store.readonly_query import QueryLimits, QueryRefused, run_readonly_query

FORMATS = ("table", "csv", "json", "parquet")


class QueryError(Exception):
    """The query failed or was refused; the message says why."""


def run_query(
    settings: StoreSettings,
    query: str,
    output_format: str = "table",
    output: IO[bytes] | None = None,
    max_rows: int = 1000,
) -> int:
    """Run ``query`` read-only and write the result; return the number of rows."""
    row_limit = max_rows + 1 if output_format == "table" else None
    try:
        result = run_readonly_query(settings, query, QueryLimits(row_limit=row_limit))
    except QueryRefused as err:
        raise QueryError(str(err)) from err
    if result.table is None:  # no statement in the text
        return 0
    if output_format == "table":
        return _print_table(result.table, max_rows)
    _write(result.table, output_format, output or sys.stdout.buffer)
    return result.table.num_rows


def _print_table(rows: pa.Table, max_rows: int) -> int:
    """Print at most ``max_rows`` (one more was asked for, to know whether there are more)."""
    shown = rows.slice(0, max_rows)
    duckdb.from_arrow(shown).show(max_rows=max_rows, max_width=200)
    if rows.num_rows > max_rows:
        print(f"(showing the first {max_rows} rows; use --max-rows or --format csv for all)")
    return shown.num_rows


def _write(table: pa.Table, output_format: str, output: IO[bytes]) -> None:
    if output_format == "csv":
        pa_csv.write_csv(table, output)
    elif output_format == "json":
        for row in table.to_pylist(maps_as_pydicts="strict"):
            output.write(json.dumps(row, default=_json_value, ensure_ascii=False).encode() + b"\n")
    elif output_format == "parquet":
        pq.write_table(table, output)
    else:
        raise ValueError(f"unknown format {output_format!r}; choose from {', '.join(FORMATS)}")
    output.flush()


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
