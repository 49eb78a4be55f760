"""The size bound: the oldest segments go whole, and every dropped batch and span is counted."""

from __future__ import annotations

import logging
import os

from collector.buffer import SegmentLog

SEGMENT_BYTES = 4096
TOTAL_BYTES = 3 * SEGMENT_BYTES


def segment_files(settings) -> list[str]:
    return sorted(path.name for path in settings.directory.glob("*.seg"))


def test_oldest_segments_are_dropped_whole_with_exact_counts(make_settings, open_log, caplog):
    settings = make_settings(max_segment_bytes=SEGMENT_BYTES, max_total_bytes=TOTAL_BYTES)
    log = open_log(settings)
    span_counts: dict[int, int] = {}
    caplog.set_level(logging.WARNING, logger="collector.buffer")

    for index in range(60):
        seq = log.append(os.urandom(1000), span_count=index % 7 + 1)
        span_counts[seq] = index % 7 + 1
        assert log.stats().disk_bytes <= TOTAL_BYTES
    log.ack(59)  # acknowledged batches are never counted as dropped

    pending = [batch.seq for batch in log.pending()]
    dropped = sorted(set(span_counts) - set(pending) - {59})
    stats = log.stats()

    assert dropped == list(range(1, len(dropped) + 1)), "the oldest batches go first"
    assert len(dropped) % 3 == 0, "three records fill a segment: segments go whole"
    assert stats.dropped_batches == len(dropped) > 0
    assert not any(log.is_pending(seq) for seq in dropped)
    assert stats.dropped_spans == sum(span_counts[seq] for seq in dropped)
    assert stats.pending_batches == len(pending)
    assert stats.pending_spans == sum(span_counts[seq] for seq in pending)
    assert "buffer full" in caplog.text


def test_acknowledged_batches_in_a_dropped_segment_are_not_counted(make_settings, open_log):
    settings = make_settings(max_segment_bytes=SEGMENT_BYTES, max_total_bytes=TOTAL_BYTES)
    log = open_log(settings)
    first_segment = [log.append(os.urandom(1000), span_count=5) for _ in range(3)]
    log.ack(first_segment[0])

    while first_segment[1] in [batch.seq for batch in log.pending()]:
        log.append(os.urandom(1000), span_count=1)

    stats = log.stats()
    assert (stats.dropped_batches, stats.dropped_spans) == (2, 10)


def test_drop_counts_survive_a_crash(make_settings, open_log):
    settings = make_settings(max_segment_bytes=SEGMENT_BYTES, max_total_bytes=TOTAL_BYTES)
    log = SegmentLog(settings)
    for _ in range(30):
        log.append(os.urandom(1000), span_count=2)
    before = log.stats()
    log._simulate_crash()

    after = open_log(settings).stats()

    assert before.dropped_batches > 0
    assert (after.dropped_batches, after.dropped_spans) == (
        before.dropped_batches,
        before.dropped_spans,
    )
    assert after.pending_batches == before.pending_batches
