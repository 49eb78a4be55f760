"""Small filesystem primitives the buffer's durability rests on."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from collector.buffer.errors import BufferLockedError, BufferUnusableError

TEMPORARY_SUFFIX = ".tmp"
PROBE_PREFIX = ".probe-"
LOCK_FILE = "lock"


def fsync_directory(directory: Path) -> None:
    """Make creations, renames and removals of entries in ``directory`` durable."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new file.

    Write a temporary file, fsync it, rename it over the target, fsync the directory.
    """
    temporary = path.with_name(path.name + TEMPORARY_SUFFIX)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)
    fsync_directory(path.parent)


def write_all(descriptor: int, data: bytes) -> None:
    """``os.write`` until every byte is written (a regular file may take fewer at once)."""
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]


def remove_temporary_files(directory: Path, target_pattern: str) -> None:
    """Remove leftovers of atomic writes (to files matching ``target_pattern``) that a
    crash interrupted; their targets were never replaced. Other files are left alone."""
    for leftover in directory.glob(target_pattern + TEMPORARY_SUFFIX):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def move_to_quarantine(path: Path, quarantine_directory: Path) -> Path:
    """Move a file that cannot be used aside, keeping it for inspection; returns its new path."""
    quarantine_directory.mkdir(exist_ok=True)
    target = quarantine_directory / path.name
    if target.exists():
        # Keep every quarantined file: a second one of the same name gets a timestamp.
        target = quarantine_directory / f"{path.name}.{time.time_ns()}"
    os.replace(path, target)
    fsync_directory(quarantine_directory)
    fsync_directory(path.parent)
    return target


def prepare_directory(directory: Path) -> None:
    """Create the directory if needed and prove it writable, or raise naming the path.

    A probe file is written, synced and removed: permission bits alone do not tell
    (a read-only mount, root, ACLs).
    """
    probe = directory / f"{PROBE_PREFIX}{os.getpid()}{TEMPORARY_SUFFIX}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(descriptor, b"probe")
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        probe.unlink()
    except OSError as err:
        raise BufferUnusableError(
            f"buffer directory {directory} is unusable: {err.strerror or err} "
            "(the collector needs a writable local directory for its buffer)"
        ) from err


class DirectoryLock:
    """An exclusive ``flock`` on ``<directory>/lock``: one buffer owner per directory.

    The kernel releases the lock when the holder exits for any reason, so a crash never
    leaves the directory locked.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self._descriptor: int | None = None

    def acquire(self) -> None:
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            os.close(descriptor)
            raise BufferLockedError(
                f"buffer directory {self.path.parent} is already in use by another collector"
            ) from err
        self._descriptor = descriptor

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)  # closing the descriptor drops the flock
            self._descriptor = None
