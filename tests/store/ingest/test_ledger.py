"""The committed-batch index: intervals per node, loaded lazily."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from store.ingest.ledger import BatchId, BatchLedger, SequenceSet


@given(st.lists(st.integers(min_value=0, max_value=200)))
def test_sequence_set_contains_exactly_what_was_added(values):
    sequences = SequenceSet()
    for value in values:
        sequences.add(value)
    assert [v for v in range(202) if v in sequences] == sorted(set(values))
    assert len(sequences) == len(set(values))


def test_consecutive_sequences_collapse_into_one_interval():
    sequences = SequenceSet(range(10_000))
    assert sequences.interval_count == 1
    sequences.add(10_002)
    assert sequences.interval_count == 2
    sequences.add(10_000)
    assert sequences.interval_count == 2
    sequences.add(10_001)  # bridges the two intervals
    assert sequences.interval_count == 1


def test_ledger_loads_a_stream_once_and_then_remembers_new_commits():
    loads = []

    def load(stream):
        loads.append(stream)
        return [1, 2, 3] if stream == ("a", "buf-1") else []

    ledger = BatchLedger(load)
    assert ledger.is_committed(BatchId("a", "buf-1", 2))
    assert not ledger.is_committed(BatchId("a", "buf-1", 4))
    ledger.record(BatchId("a", "buf-1", 4))
    assert ledger.is_committed(BatchId("a", "buf-1", 4))
    assert not ledger.is_committed(BatchId("a", "buf-2", 2)), "a new buffer starts afresh"
    assert loads == [("a", "buf-1"), ("a", "buf-2")]
