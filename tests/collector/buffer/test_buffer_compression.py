"""zstd compression with trained dictionaries: every record stays readable."""

from __future__ import annotations

import os
from pathlib import Path

from collector.buffer import SegmentLog
from collector.buffer.record import CODEC_STORED, CODEC_ZSTD, Status, decode_at
from collector.buffer.segment import SEGMENT_HEADER_SIZE


def stored_records(directory: Path) -> list[tuple[int, int, int]]:
    """(sequence, codec, dictionary id) of every record on disk, in order."""
    records = []
    for segment in sorted(directory.glob("*.seg")):
        data = segment.read_bytes()
        offset = SEGMENT_HEADER_SIZE
        while offset < len(data):
            decoded = decode_at(data, offset)
            assert decoded.status is Status.VALID and decoded.header is not None
            header = decoded.header
            records.append((header.seq, header.codec, header.dictionary_id))
            offset += header.record_size
    return records


def test_records_compressed_with_an_older_dictionary_stay_readable_after_retraining(
    make_settings, open_log, otlp_batch
):
    settings = make_settings(dictionary=True, dictionary_size=4096, dictionary_train_samples=20)
    log = open_log(settings)
    payloads = [otlp_batch(16, seed=i) for i in range(60)]
    for payload in payloads[:30]:
        log.append(payload, span_count=16)
    assert log.stats().dictionary_id == 1

    assert log.train_dictionary() == 2
    for payload in payloads[30:]:
        log.append(payload, span_count=16)

    dictionaries_used = {dictionary for _, _, dictionary in stored_records(settings.directory)}
    assert dictionaries_used == {0, 1, 2}
    assert [b.payload for b in log.pending()] == payloads
    log.close()
    with SegmentLog(settings) as reopened:
        assert [b.payload for b in reopened.pending()] == payloads
        assert reopened.stats().dictionary_id == 2


def test_a_dictionary_is_deleted_once_no_segment_uses_it(make_settings, open_log, otlp_batch):
    settings = make_settings(
        dictionary=True,
        dictionary_size=4096,
        dictionary_train_samples=10,
        max_segment_bytes=8192,
        max_total_bytes=1 << 20,
    )
    log = open_log(settings)
    dictionaries = settings.directory / "dictionaries"
    for seq in range(1, 21):
        log.append(otlp_batch(4, seed=seq), span_count=4)
    log.train_dictionary()
    assert sorted(p.name for p in dictionaries.iterdir()) == ["00001.zdict", "00002.zdict"]

    for batch in log.pending():
        log.ack(batch.seq)
    log.close()  # seals the active segment: now every segment is acknowledged

    with SegmentLog(settings):
        assert sorted(p.name for p in dictionaries.iterdir()) == ["00002.zdict"]


def test_damaged_dictionary_is_quarantined_and_its_records_counted_as_corrupt(
    make_settings, open_log, otlp_batch
):
    settings = make_settings(dictionary=True, dictionary_size=4096, dictionary_train_samples=10)
    payloads = [otlp_batch(8, seed=i) for i in range(15)]
    with SegmentLog(settings) as log:
        for payload in payloads:
            log.append(payload, span_count=8)
    dictionary = settings.directory / "dictionaries" / "00001.zdict"
    dictionary.write_bytes(dictionary.read_bytes()[:-10])

    log = open_log(settings)
    readable = list(log.pending())

    assert (settings.directory / "quarantine" / "00001.zdict").exists()
    compressed_with_it = [s for s, _, d in stored_records(settings.directory) if d == 1]
    assert [b.seq for b in readable] == [s for s in range(1, 16) if s not in compressed_with_it]
    assert log.stats().corrupt_records == len(compressed_with_it) > 0


def test_incompressible_payloads_are_stored_as_they_are(make_settings, open_log):
    settings = make_settings()
    log = open_log(settings)
    appended = [os.urandom(500), b"very compressible " * 50]
    for payload in appended:
        log.append(payload)

    codecs = [codec for _, codec, _ in stored_records(settings.directory)]

    assert codecs == [CODEC_STORED, CODEC_ZSTD]
    assert [b.payload for b in log.pending()] == appended


def test_small_batches_compress_better_with_a_dictionary_and_both_decode(
    make_settings, otlp_batch, tmp_path
):
    """Measures, prints, asserts only correctness: the ratio depends on the traffic."""
    training = [otlp_batch(16, seed=i) for i in range(200)]
    measured = [otlp_batch(16, seed=1000 + i) for i in range(100)]
    raw_bytes = sum(len(payload) for payload in measured)
    ratios = {}
    for use_dictionary in (False, True):
        settings = make_settings(
            directory=tmp_path / f"dictionary-{use_dictionary}",
            dictionary=use_dictionary,
            dictionary_train_samples=200,
        )
        with SegmentLog(settings) as log:
            for payload in training:
                log.append(payload, span_count=16)
            for batch in log.pending():
                log.ack(batch.seq)
            for payload in measured:
                log.append(payload, span_count=16)
            assert [b.payload for b in log.pending()] == measured
            ratios[use_dictionary] = raw_bytes / log.stats().pending_bytes

    print(
        f"16-span OTLP batches, stored size incl. headers: {ratios[False]:.2f}x without a "
        f"dictionary, {ratios[True]:.2f}x with a 16 KiB dictionary"
    )
