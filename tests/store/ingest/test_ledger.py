"""The committed-batch index: intervals per node, loaded lazily."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from store.ingest.ledger import BatchId, BatchLedger


@given(st.lists(st.integers(min_value=0, max_value=200)))
def test_a_stream_holds_exactly_the_sequences_committed_from_zero_up(values):
    ledger = BatchLedger()
    for value in values:
        ledger.record(BatchId("a", "buf", value))
    committed = [v for v in range(202) if ledger.is_committed(BatchId("a", "buf", v))]
    assert committed == sorted(set(values))


def test_the_ledger_starts_from_intervals_and_remembers_new_commits():
    ledger = BatchLedger([("a", "buf-1", 1, 3), ("a", "buf-1", 7, 7), ("b", "", 1, 1)])
    assert ledger.is_committed(BatchId("a", "buf-1", 2))
    assert not ledger.is_committed(BatchId("a", "buf-1", 5))
    assert ledger.is_committed(BatchId("a", "buf-1", 7))
    ledger.record(BatchId("a", "buf-1", 5))
    assert ledger.is_committed(BatchId("a", "buf-1", 5))
    assert not ledger.is_committed(BatchId("a", "buf-2", 2)), "a new buffer starts afresh"
    assert ledger.stream_count == 2


def test_the_writer_rebuilds_the_ledger_from_the_lake_as_intervals(store_settings):
    from store.ingest.writer import LakeWriter
    from store.lake import open_writer

    with open_writer(store_settings) as lake:
        lake.con.execute(
            "INSERT INTO ingested_batches VALUES "
            "('n', 1, 1, 0, now(), 'b'), ('n', 2, 1, 0, now(), 'b'), ('n', 3, 1, 0, now(), 'b'), "
            "('n', 9, 1, 0, now(), 'b'), ('n', 3, 1, 0, now(), 'b'), ('m', 4, 1, 0, now(), NULL)"
        )
        writer = LakeWriter(lake)
        assert writer._committed_intervals() == [
            ("m", "", 4, 4),
            ("n", "b", 1, 3),
            ("n", "b", 9, 9),
        ]
        assert writer.ledger.is_committed(BatchId("n", "b", 2))
        assert not writer.ledger.is_committed(BatchId("n", "b", 5))
        assert writer.ledger.is_committed(BatchId("m", "", 4))
