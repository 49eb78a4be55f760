"""Recovery: damaged files are repaired or set aside, every loss is counted, once."""

from __future__ import annotations

import os
from pathlib import Path

from collector.buffer import SegmentLog
from collector.buffer.record import HEADER_SIZE, Status, decode_at
from collector.buffer.segment import SEGMENT_HEADER_SIZE

PAYLOAD_BYTES = 100  # random bytes do not compress: stored as they are, 140 bytes a record


def write_batches(settings, count: int) -> list[bytes]:
    payloads = [os.urandom(PAYLOAD_BYTES) for _ in range(count)]
    with SegmentLog(settings) as log:
        for payload in payloads:
            log.append(payload, span_count=2)
    return payloads


def only_segment(settings) -> Path:
    (segment,) = settings.directory.glob("*.seg")
    return segment


def record_offsets(segment: Path) -> list[int]:
    data = segment.read_bytes()
    offsets, offset = [], SEGMENT_HEADER_SIZE
    while offset < len(data):
        decoded = decode_at(data, offset)
        assert decoded.status is Status.VALID and decoded.header is not None
        offsets.append(offset)
        offset += decoded.header.record_size
    return offsets


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_torn_tail_is_truncated_and_counted(make_settings, open_log):
    settings = make_settings()
    payloads = write_batches(settings, 3)
    segment = only_segment(settings)
    last = record_offsets(segment)[-1]
    os.truncate(segment, last + HEADER_SIZE + 10)  # the last write stopped mid-payload

    log = open_log(settings)

    assert [b.payload for b in log.pending()] == payloads[:2]
    assert log.stats().torn_tails_truncated == 1
    assert segment.stat().st_size == last
    assert log.stats().corrupt_records == 0


def test_torn_header_at_the_end_is_truncated_too(make_settings, open_log):
    settings = make_settings()
    payloads = write_batches(settings, 2)
    segment = only_segment(settings)
    last = record_offsets(segment)[-1]
    os.truncate(segment, last + 7)

    log = open_log(settings)

    assert [b.payload for b in log.pending()] == payloads[:1]
    assert log.stats().torn_tails_truncated == 1


def test_flipped_payload_byte_is_counted_and_skipped_and_later_records_stay_readable(
    make_settings, open_log
):
    settings = make_settings()
    payloads = write_batches(settings, 4)
    segment = only_segment(settings)
    flip_byte(segment, record_offsets(segment)[1] + HEADER_SIZE + 5)

    log = open_log(settings)

    assert [(b.seq, b.payload) for b in log.pending()] == [
        (1, payloads[0]),
        (3, payloads[2]),
        (4, payloads[3]),
    ]
    stats = log.stats()
    assert (stats.corrupt_records, stats.torn_tails_truncated) == (1, 0)
    assert stats.pending_batches == 3


def test_flipped_header_byte_resynchronises_on_the_next_record(make_settings, open_log):
    settings = make_settings()
    payloads = write_batches(settings, 4)
    segment = only_segment(settings)
    flip_byte(segment, record_offsets(segment)[1] + 9)  # inside the length field

    log = open_log(settings)

    assert [b.seq for b in log.pending()] == [1, 3, 4]
    assert [b.payload for b in log.pending()] == [payloads[0], payloads[2], payloads[3]]
    assert log.stats().corrupt_records == 1


def test_damage_is_counted_once_across_restarts(make_settings):
    settings = make_settings()
    write_batches(settings, 3)
    segment = only_segment(settings)
    flip_byte(segment, record_offsets(segment)[0] + HEADER_SIZE)

    for _ in range(3):
        with SegmentLog(settings) as log:
            assert log.stats().corrupt_records == 1
            assert [b.seq for b in log.pending()] == [2, 3]


def test_damage_appearing_while_open_is_counted_when_read(make_settings, open_log):
    settings = make_settings()
    log = open_log(settings)
    for _ in range(3):
        log.append(os.urandom(PAYLOAD_BYTES))
    segment = only_segment(settings)
    flip_byte(segment, record_offsets(segment)[2] + HEADER_SIZE + 1)

    assert [b.seq for b in log.pending()] == [1, 2]
    assert log.stats().corrupt_records == 1
    assert log.stats().pending_batches == 2
    log.close()

    with SegmentLog(settings) as reopened:
        assert reopened.stats().corrupt_records == 1


def test_segment_with_garbage_header_is_moved_to_quarantine(make_settings, open_log):
    settings = make_settings(max_segment_bytes=4096, max_total_bytes=1 << 20)
    payloads = write_batches(settings, 60)  # several segments
    first = sorted(settings.directory.glob("*.seg"))[0]
    with first.open("r+b") as handle:
        handle.write(b"not a segment header")
    lost = len(record_offsets_unchecked(first))

    log = open_log(settings)

    assert (settings.directory / "quarantine" / first.name).exists()
    assert not first.exists()
    assert log.stats().quarantined_segments == 1
    assert [b.payload for b in log.pending()] == payloads[lost:]
    assert log.append(b"still works") == 61


def record_offsets_unchecked(segment: Path) -> list[int]:
    """Record offsets of a segment whose header was overwritten (records still intact)."""
    data = segment.read_bytes()
    offsets, offset = [], SEGMENT_HEADER_SIZE
    while offset < len(data):
        decoded = decode_at(data, offset)
        assert decoded.header is not None
        offsets.append(offset)
        offset += decoded.header.record_size
    return offsets


def test_segment_that_cannot_be_read_is_moved_to_quarantine(make_settings, open_log):
    settings = make_settings()
    payloads = write_batches(settings, 2)
    unreadable = settings.directory / f"{10**6:020d}.seg"
    unreadable.mkdir()  # reading it fails with an OS error, whatever the permissions

    log = open_log(settings)

    assert (settings.directory / "quarantine" / unreadable.name).exists()
    assert log.stats().quarantined_segments == 1
    assert [b.payload for b in log.pending()] == payloads


def test_segment_shorter_than_its_header_is_removed_as_torn(make_settings, open_log):
    settings = make_settings()
    payloads = write_batches(settings, 2)
    interrupted = settings.directory / f"{10**6:020d}.seg"
    interrupted.write_bytes(b"PXSG")

    log = open_log(settings)

    assert not interrupted.exists()
    assert log.stats().torn_tails_truncated == 1
    assert [b.payload for b in log.pending()] == payloads


def test_damaged_ledger_is_quarantined_and_every_batch_is_pending_again(make_settings, open_log):
    settings = make_settings()
    with SegmentLog(settings) as log:
        for index in range(3):
            log.append(b"batch %d" % index)
        log.ack(1)
        old_buffer_id = log.buffer_id
    (settings.directory / "ledger.json").write_bytes(b"{ not json")

    log = open_log(settings)

    assert [b.seq for b in log.pending()] == [1, 2, 3]  # a duplicate is possible, a loss is not
    assert (settings.directory / "quarantine" / "ledger.json").exists()
    assert log.buffer_id != old_buffer_id  # used sequences are unknown: a new numbering space
    assert log.append(b"after") > 3


def test_leftover_temporary_files_are_removed_and_other_files_left_alone(make_settings, open_log):
    settings = make_settings()
    write_batches(settings, 1)
    leftover = settings.directory / "ledger.json.tmp"
    leftover.write_bytes(b"half a ledger")
    foreign = [settings.directory / "dead-letter.jsonl", settings.directory / "theirs.tmp"]
    for path in foreign:
        path.write_text("not the buffer's")

    log = open_log(settings)

    assert not leftover.exists()
    assert all(path.read_text() == "not the buffer's" for path in foreign)
    assert len(list(log.pending())) == 1
