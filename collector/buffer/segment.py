"""One append-only segment file and the in-memory index of its records.

A segment file is ``<base_seq:020d>.seg``: a 20-byte header (magic ``PXSG``, format
version, the sequence of its first record, CRC-32 of the header) followed by records
(:mod:`collector.buffer.record`). Records are only ever appended, at the logical end.
Sequences inside one segment are consecutive, so a record's slot in the index is
``seq - base_seq``; a sequence lost to corruption keeps an empty slot (a *hole*).
"""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from collector.buffer.files import fsync_directory, write_all

SEGMENT_MAGIC = b"PXSG"
SEGMENT_VERSION = 1
SEGMENT_SUFFIX = ".seg"
# magic, version, reserved, base sequence, CRC-32 of the preceding 16 bytes
_SEGMENT_HEADER = struct.Struct("<4sHHQI")
SEGMENT_HEADER_SIZE = _SEGMENT_HEADER.size
_HOLE = 0  # no record starts at offset 0: the segment header is there


def segment_file_name(base_seq: int) -> str:
    return f"{base_seq:020d}{SEGMENT_SUFFIX}"


def encode_segment_header(base_seq: int) -> bytes:
    head = struct.pack("<4sHHQ", SEGMENT_MAGIC, SEGMENT_VERSION, 0, base_seq)
    return head + struct.pack("<I", zlib.crc32(head))


def decode_segment_header(data: bytes) -> int:
    """The base sequence in a segment header; ValueError if the header is not one."""
    if len(data) < SEGMENT_HEADER_SIZE:
        raise ValueError("shorter than a segment header")
    magic, version, _reserved, base_seq, crc = _SEGMENT_HEADER.unpack_from(data)
    if magic != SEGMENT_MAGIC:
        raise ValueError("not a segment file (bad magic)")
    if zlib.crc32(data[: SEGMENT_HEADER_SIZE - 4]) != crc:
        raise ValueError("segment header fails its checksum")
    if version != SEGMENT_VERSION:
        raise ValueError(f"unsupported segment format version {version}")
    return base_seq


@dataclass
class Segment:
    """A segment's file and index. The index costs 20 bytes per record in memory."""

    path: Path
    base_seq: int
    # Bytes of valid data: where the next record goes; the file may be longer only
    # while a torn write is pending recovery.
    size: int = SEGMENT_HEADER_SIZE
    sealed: bool = False
    offsets: array = field(default_factory=lambda: array("I"))
    record_sizes: array = field(default_factory=lambda: array("I"))
    span_counts: array = field(default_factory=lambda: array("I"))
    written_at: array = field(default_factory=lambda: array("d"))  # Unix seconds
    dictionary_ids: set[int] = field(default_factory=set)
    _descriptor: int | None = None

    @classmethod
    def create(cls, directory: Path, base_seq: int) -> Segment:
        """Create a new, empty, durable segment file (header written and synced)."""
        path = directory / segment_file_name(base_seq)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            write_all(descriptor, encode_segment_header(base_seq))
            os.fsync(descriptor)
            fsync_directory(directory)
        except OSError:
            os.close(descriptor)
            path.unlink(missing_ok=True)
            raise
        return cls(path=path, base_seq=base_seq, _descriptor=descriptor)

    @property
    def slot_count(self) -> int:
        return len(self.offsets)

    @property
    def last_seq(self) -> int:
        """The sequence of the last slot; base_seq - 1 while the segment is empty."""
        return self.base_seq + len(self.offsets) - 1

    def holds(self, seq: int) -> bool:
        return self.base_seq <= seq <= self.last_seq

    def is_hole(self, seq: int) -> bool:
        return self.offsets[seq - self.base_seq] == _HOLE

    def index_record(
        self,
        offset: int,
        record_size: int,
        span_count: int,
        written_at_s: float,
        dictionary_id: int,
    ) -> None:
        """Add the next slot for a record found at ``offset``."""
        self.offsets.append(offset)
        self.record_sizes.append(record_size)
        self.span_counts.append(span_count)
        self.written_at.append(written_at_s)
        if dictionary_id:
            self.dictionary_ids.add(dictionary_id)
        self.size = max(self.size, offset + record_size)

    def index_hole(self) -> None:
        """Add the next slot for a sequence whose record was lost."""
        self.offsets.append(_HOLE)
        self.record_sizes.append(0)
        self.span_counts.append(0)
        self.written_at.append(0.0)

    def write(self, record: bytes) -> int:
        """Write a record at the logical end; returns its offset. Not synced.

        On failure the partial bytes are cut off (best effort); the logical end is
        unchanged either way, so the next write overwrites whatever is left.
        """
        if self._descriptor is None:
            raise OSError(f"segment {self.path} is not open for writing")
        offset = self.size
        try:
            os.lseek(self._descriptor, offset, os.SEEK_SET)
            write_all(self._descriptor, record)
        except OSError:
            # Best effort: recovery treats bytes past the last valid record as a torn tail.
            with contextlib.suppress(OSError):
                os.ftruncate(self._descriptor, offset)
            raise
        return offset

    def sync(self) -> None:
        if self._descriptor is not None:
            os.fsync(self._descriptor)

    def seal(self) -> None:
        """No more records: sync and close the file."""
        if self._descriptor is not None:
            try:
                os.fsync(self._descriptor)
            finally:
                self.abandon()
        self.sealed = True

    def abandon(self) -> None:
        """Close the file without syncing (what a crash does)."""
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None
        self.sealed = True
