"""SegmentLog behaviour through its public API: append, read, acknowledge, restart."""

from __future__ import annotations

import os
import threading
import time

import pytest

from collector.buffer import (
    BatchTooLargeError,
    BufferClosedError,
    BufferLockedError,
    BufferUnusableError,
    SegmentLog,
    UnknownSequenceError,
)
from parallax.errors import ConfigError


def test_appended_batches_come_back_in_order_with_their_span_counts(
    make_settings, open_log, otlp_batch
):
    log = open_log(make_settings())
    payloads = [otlp_batch(16, seed=i) for i in range(5)]
    sequences = [log.append(payload, span_count=16) for payload in payloads]

    batches = list(log.pending())

    assert sequences == [1, 2, 3, 4, 5]
    assert [b.seq for b in batches] == sequences
    assert [b.payload for b in batches] == payloads
    assert all(b.span_count == 16 for b in batches)
    assert all(abs(b.written_at - time.time()) < 60 for b in batches)


def test_restart_keeps_pending_batches_and_sequences_continue(make_settings, open_log):
    settings = make_settings()
    with SegmentLog(settings) as log:
        for index in range(3):
            log.append(b"batch %d" % index, span_count=1)

        buffer_id = log.buffer_id

    log = open_log(settings)
    assert [b.payload for b in log.pending()] == [b"batch 0", b"batch 1", b"batch 2"]
    assert log.append(b"batch 3") == 4  # a clean close gives back the unused reservation
    assert log.buffer_id == buffer_id


def test_sequences_keep_increasing_after_a_crash(make_settings, open_log):
    settings = make_settings()
    log = SegmentLog(settings)
    first = log.append(b"before the crash")
    log._simulate_crash()

    log = open_log(settings)
    after = log.append(b"after the crash")

    assert after > first
    assert [b.seq for b in log.pending()] == [first, after]


def test_acknowledged_batches_are_not_returned_after_reopen(make_settings, open_log):
    settings = make_settings()
    log = SegmentLog(settings)
    for index in range(4):
        log.append(b"batch %d" % index)
    log.ack(1)
    log.ack(3)
    log._simulate_crash()  # acknowledgements are durable before ack() returns

    log = open_log(settings)
    assert [b.payload for b in log.pending()] == [b"batch 1", b"batch 3"]


def test_pending_after_a_sequence_continues_from_there(make_settings, open_log):
    log = open_log(make_settings())
    for index in range(5):
        log.append(b"batch %d" % index)
    log.ack(4)

    assert [b.seq for b in log.pending(after=2)] == [3, 5]


def test_acknowledging_is_idempotent_and_unknown_sequences_are_refused(make_settings, open_log):
    log = open_log(make_settings())
    seq = log.append(b"only batch")
    log.ack(seq)
    log.ack(seq)

    with pytest.raises(UnknownSequenceError):
        log.ack(seq + 1)
    assert log.stats().pending_batches == 0


def test_acknowledging_many_at_once_is_durable_and_shows_in_is_pending(make_settings, open_log):
    settings = make_settings()
    log = SegmentLog(settings)
    for index in range(5):
        log.append(b"batch %d" % index)
    log.ack_many([1, 2, 4])

    assert [log.is_pending(seq) for seq in range(0, 7)] == [
        False, False, False, True, False, True, False,
    ]  # fmt: skip
    log._simulate_crash()
    log = open_log(settings)
    assert [b.seq for b in log.pending()] == [3, 5]


def test_a_group_with_an_unknown_sequence_acknowledges_nothing(make_settings, open_log):
    log = open_log(make_settings())
    log.append(b"batch")

    with pytest.raises(UnknownSequenceError):
        log.ack_many([1, 2])
    assert log.is_pending(1)


def test_fully_acknowledged_segments_are_deleted_whole(make_settings, open_log):
    settings = make_settings(max_segment_bytes=4096, max_total_bytes=1 << 20)
    log = open_log(settings)
    sequences = [log.append(os.urandom(1000)) for _ in range(12)]
    segments_before = sorted(settings.directory.glob("*.seg"))
    assert len(segments_before) >= 3

    for seq in sequences[:-1]:
        log.ack(seq)

    remaining = sorted(settings.directory.glob("*.seg"))
    assert remaining == segments_before[-1:]  # the active segment stays
    assert [b.seq for b in log.pending()] == sequences[-1:]


def test_stats_report_pending_batches_spans_bytes_and_age(make_settings, open_log):
    log = open_log(make_settings())
    log.append(b"a" * 100, span_count=3)
    log.append(b"b" * 100, span_count=4)
    time.sleep(0.05)

    stats = log.stats()

    assert stats.pending_batches == 2
    assert stats.pending_spans == 7
    assert stats.pending_bytes > 0
    assert stats.oldest_pending_age_s >= 0.05
    assert stats.disk_bytes >= stats.pending_bytes
    log.ack(1)
    log.ack(2)
    assert (log.stats().pending_batches, log.stats().oldest_pending_age_s) == (0, 0.0)


def test_a_batch_larger_than_a_segment_is_refused(make_settings, open_log):
    log = open_log(make_settings(max_segment_bytes=4096, max_total_bytes=1 << 20))

    with pytest.raises(BatchTooLargeError):
        log.append(os.urandom(8192))
    assert log.append(b"small") == 1


def test_an_unwritable_directory_is_refused_with_its_path(tmp_path, make_settings):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("in the way")

    with pytest.raises(BufferUnusableError, match=str(not_a_directory)):
        SegmentLog(make_settings(directory=not_a_directory / "buffer"))


def test_a_second_process_cannot_open_the_same_directory(make_settings, open_log):
    settings = make_settings()
    open_log(settings)

    with pytest.raises(BufferLockedError, match=str(settings.directory)):
        SegmentLog(settings)


def test_invalid_settings_name_the_problem(make_settings):
    with pytest.raises(ConfigError, match="max_total_bytes"):
        make_settings(max_segment_bytes=1 << 20, max_total_bytes=1 << 20)
    with pytest.raises(ConfigError, match="fsync_policy"):
        make_settings(fsync_policy="sometimes")


def test_a_closed_buffer_refuses_appends_and_acknowledgements(make_settings):
    log = SegmentLog(make_settings())
    log.append(b"batch")
    log.close()
    log.close()

    with pytest.raises(BufferClosedError):
        log.append(b"late")
    with pytest.raises(BufferClosedError):
        log.ack(1)


def test_interval_policy_flushes_in_the_background(make_settings, open_log):
    settings = make_settings(fsync_policy="interval", fsync_interval_ms=20)
    log = open_log(settings)
    log.append(b"batch")
    log.ack(1)
    time.sleep(0.2)  # several intervals: the flusher has written the ledger
    log._simulate_crash()

    log = open_log(settings)
    assert list(log.pending()) == []


def test_wait_for_pending_wakes_when_a_batch_arrives(make_settings, open_log):
    log = open_log(make_settings())
    assert log.wait_for_pending(after=0, timeout=0.01) is False
    threading.Timer(0.05, log.append, args=(b"late batch",)).start()

    assert log.wait_for_pending(after=0, timeout=5)
    assert [b.payload for b in log.pending()] == [b"late batch"]


def test_a_writer_and_a_reader_in_different_threads_agree(make_settings, open_log):
    log = open_log(make_settings(max_segment_bytes=16 * 1024, max_total_bytes=1 << 24))
    total = 300
    received: list[int] = []

    def ship() -> None:
        last = 0
        while len(received) < total:
            if not log.wait_for_pending(after=last, timeout=5):
                return
            for batch in log.pending(after=last):
                assert batch.payload == b"batch %d" % batch.seq
                received.append(batch.seq)
                last = batch.seq
                log.ack(batch.seq)

    shipper = threading.Thread(target=ship)
    shipper.start()
    for seq in range(1, total + 1):
        assert log.append(b"batch %d" % seq, span_count=1) == seq
    shipper.join(timeout=30)

    assert received == list(range(1, total + 1))
    stats = log.stats()
    assert (stats.pending_batches, stats.pending_spans, stats.segment_count) == (0, 0, 1)
