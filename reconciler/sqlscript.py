"""Run the reconciler's versioned ``.sql`` files (reconciler/sql/) on a connection.

A file holds statements separated by ``;`` at the end of a line; whole-line ``--``
comments are dropped. Parameters are DuckDB's
named parameters (``$as_of``); each statement gets the ones it names. A fragment such as
``/*touched*/`` is replaced by fixed SQL chosen by the caller, never by user text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import duckdb

SQL_DIR = resources.files("reconciler") / "sql"  # package data: in the wheel too
_PARAMETER = re.compile(r"\$([a-z_]+)")


@cache
def _statements(name: str) -> tuple[str, ...]:
    text = SQL_DIR.joinpath(f"{name}.sql").read_text(encoding="utf-8")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    parts = re.split(r";\s*\n", code + "\n")
    return tuple(part.strip() for part in parts if part.strip())


def run_script(
    con: duckdb.DuckDBPyConnection,
    name: str,
    params: Mapping[str, Any] | None = None,
    fragments: Mapping[str, str] | None = None,
) -> None:
    """Execute every statement of ``sql/<name>.sql`` in order."""
    params = params or {}
    for statement in _statements(name):
        for marker, sql in (fragments or {}).items():
            statement = statement.replace(f"/*{marker}*/", sql)
        wanted = dict.fromkeys(_PARAMETER.findall(statement))
        con.execute(statement, {key: params[key] for key in wanted})
