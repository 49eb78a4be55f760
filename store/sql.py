"""``parallax sql``: run a query on a read-only connection and print the result.

Formats: ``table`` (a boxed table for people), ``csv``, ``json`` (one object per line)
and ``parquet`` (to ``--output``). The lake is attached read-only, so a statement that
would write fails with DuckDB's read-only error and changes nothing.
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
from store.lake import connect

FORMATS = ("table", "csv", "json", "parquet")


class QueryError(Exception):
    """The query failed; the message is DuckDB's."""


def run_query(
    settings: StoreSettings,
    query: str,
    output_format: str = "table",
    output: IO[bytes] | None = None,
    max_rows: int = 1000,
) -> int:
    """Run ``query`` read-only and write the result; return the number of rows."""
    con = connect(settings, read_only=True)
    try:
        relation = con.sql(query)
        if relation is None:  # a statement without a result (SET, PRAGMA ...)
            return 0
        if output_format == "table":
            return _print_table(con, relation, max_rows)
        table = relation.to_arrow_table()
    except duckdb.Error as err:
        raise QueryError(str(err).strip()) from err
    finally:
        con.close()
    _write(table, output_format, output or sys.stdout.buffer)
    return table.num_rows


def _print_table(
    con: duckdb.DuckDBPyConnection, relation: duckdb.DuckDBPyRelation, max_rows: int
) -> int:
    """Run the query once (one row more than shown, to know whether there are more)."""
    rows = relation.limit(max_rows + 1).to_arrow_table()
    shown = rows.slice(0, max_rows)
    con.from_arrow(shown).show(max_rows=max_rows, max_width=200)
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
