"""The single-writer rule for an embedded (SQLite-catalog) lake, enforced by a file lock.

The holder writes who it is into the lock file so that a refused second writer can name
it. The lock is an ``flock`` on an open file: the kernel releases it when the holder
exits for any reason, ``kill -9`` included, so a stale lock file never blocks a restart.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from store.errors import WriterLockedError


class WriterLock:
    """An exclusive, non-blocking lock on ``path``; ``acquire`` raises when it is held."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = None

    def acquire(self) -> WriterLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            handle.seek(0)
            holder = handle.read().strip() or "unknown process"
            handle.close()
            raise WriterLockedError(
                f"the lake at {self.path.parent} already has a writer ({holder}); "
                "only one `parallax server` may write an embedded lake"
            ) from err
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(_holder_description()) + "\n")
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder_description() -> dict[str, object]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join(sys.argv[:3]),
    }
