"""Load DuckDB extensions from the files their PyPI packages ship.

Nothing is downloaded at run time: autoinstall and autoload are switched off on every
connection and each extension is ``LOAD``-ed from the package's own file.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import duckdb

from store.errors import MissingExtensionError

# extension name -> the PyPI distribution (and import package) that carries its file
EXTENSION_PACKAGES = {
    "ducklake": ("duckdb-extension-ducklake", "duckdb_extension_ducklake"),
    "sqlite_scanner": ("duckdb-extension-sqlite-scanner", "duckdb_extension_sqlite_scanner"),
    "postgres_scanner": ("duckdb-extension-postgres-scanner", "duckdb_extension_postgres_scanner"),
    "httpfs": ("duckdb-extension-httpfs", "duckdb_extension_httpfs"),
}

OFFLINE_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def extension_file(name: str) -> Path:
    """Path of the extension file shipped by its package for this DuckDB version."""
    distribution, module_name = EXTENSION_PACKAGES[name]
    hint = f"pip install '{distribution}=={duckdb.__version__}'"
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise MissingExtensionError(f"DuckDB extension {name!r} is not installed: {hint}") from err
    path = (
        Path(module.__file__).parent
        / "extensions"
        / f"v{duckdb.__version__}"
        / f"{name}.duckdb_extension"
    )
    if not path.is_file():
        raise MissingExtensionError(
            f"{distribution} carries no {name} extension for DuckDB {duckdb.__version__} "
            f"(looked for {path}): {hint}"
        )
    return path


def load_extensions(con: duckdb.DuckDBPyConnection, names: list[str]) -> None:
    """LOAD each named extension from its package file."""
    for name in names:
        con.execute(f"LOAD '{extension_file(name)}'")
