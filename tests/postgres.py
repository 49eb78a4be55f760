"""A throwaway PostgreSQL server for the scale-out tests (Debian's postgresql package).

The Makefile installs the package; nothing here is skipped when it is missing: the test
fails and says so. As root (CI), the server runs as the ``postgres`` system user, which
PostgreSQL requires.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.servers import free_port


@dataclass
class PostgresServer:
    directory: Path
    port: int
    bin_dir: Path

    def conninfo(self, database: str) -> str:
        return f"dbname={database} host=127.0.0.1 port={self.port} user=postgres"

    def create_database(self, name: str) -> str:
        self._run(
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-c",
            f"CREATE DATABASE {name}",
        )
        return self.conninfo(name)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", "fast", "stop")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=60)


def postgres_bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise AssertionError(
            "PostgreSQL is not installed: `make test` installs Debian's postgresql package"
        )
    return Path(found[-1]).parent


def start_postgres(directory: Path) -> PostgresServer:
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
    server = PostgresServer(directory, free_port(), postgres_bin_dir())
    server._run("initdb", "-D", str(directory / "data"), "--auth=trust", "-U", "postgres")
    server._run(
        "pg_ctl",
        "-D",
        str(directory / "data"),
        "-l",
        str(directory / "log"),
        "-w",
        "-o",
        f"-p {server.port} -k {directory} -c listen_addresses=127.0.0.1",
        "start",
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            server.create_database("ready_check")
            return server
        except subprocess.CalledProcessError:
            time.sleep(0.2)
    raise AssertionError(f"PostgreSQL did not start: {(directory / 'log').read_text()}")
