"""A full disk: appends fail while it lasts, and the buffer recovers by itself once the
delivered batches free their space (no restart)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from collector.buffer import BufferSettings, BufferWriteError, SegmentLog, segment
from tests.tmpfs import mounted_tmpfs

PAYLOAD_BYTES = 20_000


class FullDisk:
    """Makes every record write fail with ENOSPC while ``full`` is set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.full = False
        real_write_all = segment.write_all

        def write_all(descriptor: int, data: bytes) -> None:
            if self.full:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            real_write_all(descriptor, data)

        monkeypatch.setattr(segment, "write_all", write_all)


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    """A 1 MiB tmpfs (needs root); skipped where it cannot be mounted."""
    with mounted_tmpfs(tmp_path, "1m") as mount_point:
        yield mount_point


def fill(log: SegmentLog) -> list[int]:
    """Append until the disk refuses; the sequences that were stored."""
    stored = []
    while True:
        try:
            stored.append(log.append(os.urandom(PAYLOAD_BYTES), span_count=1))
        except BufferWriteError:
            return stored


def test_the_segment_that_hit_a_full_disk_is_deleted_once_delivered_and_appends_resume(
    make_settings, open_log, monkeypatch
):
    disk = FullDisk(monkeypatch)
    log = open_log(make_settings(max_segment_bytes=1024 * 1024, max_total_bytes=64 * 1024**2))
    stored = [log.append(os.urandom(PAYLOAD_BYTES), span_count=1) for _ in range(5)]
    disk.full = True
    with pytest.raises(BufferWriteError):
        log.append(os.urandom(PAYLOAD_BYTES), span_count=1)

    log.ack_many(stored)  # the backend is back and takes everything
    disk.full = False

    assert log.stats().segment_count == 0, "the delivered segment is gone"
    assert not list(log.directory.glob("*.seg"))
    seq = log.append(b"after the episode", span_count=1)
    assert [batch.payload for batch in log.pending()] == [b"after the episode"]
    assert seq == stored[-1] + 1, "the failed append used no sequence"


def test_a_failed_write_into_a_fresh_segment_leaves_no_file_behind(
    make_settings, open_log, monkeypatch
):
    disk = FullDisk(monkeypatch)
    log = open_log(make_settings())
    disk.full = True
    for _ in range(3):
        with pytest.raises(BufferWriteError):
            log.append(b"refused", span_count=1)
    disk.full = False

    assert not list(log.directory.glob("*.seg"))
    assert log.append(b"accepted", span_count=1) == 1
    assert [batch.payload for batch in log.pending()] == [b"accepted"]


def test_a_buffer_larger_than_its_tmpfs_recovers_once_delivered_batches_are_acknowledged(
    small_tmpfs, open_log
):
    # One segment could hold the whole disk: the segment written when it filled is the
    # one that must go once delivered.
    log = open_log(
        BufferSettings(
            directory=small_tmpfs / "buffer",
            max_segment_bytes=2 * 1024 * 1024,
            max_total_bytes=64 * 1024**2,
            dictionary=False,
        )
    )
    stored = fill(log)
    assert stored, "some batches fit before the disk filled"

    log.ack_many(stored)

    assert [log.append(os.urandom(PAYLOAD_BYTES), span_count=1) for _ in range(10)]
    assert log.stats().pending_batches == 10
    assert fill(log), "the freed space takes new batches until the disk is full again"
