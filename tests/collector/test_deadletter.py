"""The dead-letter file: bounded, rotated, every dropped entry counted, never raising."""

from __future__ import annotations

import json
import os

from collector.deadletter import DeadLetterFile

PAYLOAD = os.urandom(600)  # an entry is about 1 KB


def add(dead_letters: DeadLetterFile, seq: int, spans: int = 3) -> None:
    dead_letters.add("edge-1", seq, spans, "INVALID_ARGUMENT", "refused", PAYLOAD)


def batch_seqs(*paths) -> list[int]:
    return [
        json.loads(line)["batch_seq"]
        for path in paths
        if path.exists()
        for line in path.read_text().splitlines()
    ]


def test_the_files_stay_within_the_bound_and_the_oldest_entries_are_dropped_and_counted(
    tmp_path,
):
    dead_letters = DeadLetterFile(tmp_path / "dead-letter.jsonl", max_bytes=16 * 1024)

    for seq in range(1, 101):
        add(dead_letters, seq)
        total = sum(p.stat().st_size for p in tmp_path.glob("dead-letter*.jsonl"))
        assert total <= 16 * 1024

    kept = batch_seqs(dead_letters.rotated_path, dead_letters.path)
    assert kept == list(range(101 - len(kept), 101)), "the newest entries stay, in order"
    assert dead_letters.dropped_batches == 100 - len(kept) > 0
    assert dead_letters.dropped_spans == 3 * dead_letters.dropped_batches
    assert dead_letters.batches == 100


def test_counts_continue_from_the_files_left_by_an_earlier_run(tmp_path):
    path = tmp_path / "dead-letter.jsonl"
    first = DeadLetterFile(path, max_bytes=16 * 1024)
    for seq in range(1, 11):
        add(first, seq)
    dropped_by_first = first.dropped_batches

    second = DeadLetterFile(path, max_bytes=16 * 1024)
    for seq in range(11, 41):
        add(second, seq)

    kept = batch_seqs(second.rotated_path, second.path)
    assert kept == list(range(41 - len(kept), 41))
    assert dropped_by_first + second.dropped_batches == 40 - len(kept)


def test_an_entry_larger_than_half_the_bound_is_dropped_and_counted(tmp_path):
    dead_letters = DeadLetterFile(tmp_path / "dead-letter.jsonl", max_bytes=1024)

    dead_letters.add("edge-1", 1, 7, "INVALID_ARGUMENT", "refused", os.urandom(2000))

    assert not dead_letters.path.exists()
    assert (dead_letters.dropped_batches, dead_letters.dropped_spans) == (1, 7)


def test_a_write_that_fails_is_counted_as_dropped_and_does_not_raise(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    dead_letters = DeadLetterFile(blocker / "dead-letter.jsonl", max_bytes=16 * 1024)

    add(dead_letters, 1, spans=5)

    assert (dead_letters.dropped_batches, dead_letters.dropped_spans) == (1, 5)
    assert dead_letters.batches == 0
