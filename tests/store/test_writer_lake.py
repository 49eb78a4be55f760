"""WriterLake.transaction, the one way to write: commit, roll back, and one commit at a time."""

from __future__ import annotations

import threading

import pytest

from store import open_writer
from store.maintenance import run_maintenance


def test_a_transaction_commits_when_the_block_returns_and_rolls_back_when_it_raises(
    store_settings,
):
    with open_writer(store_settings) as lake:
        with lake.transaction() as con:
            con.execute("CREATE TABLE notes (text VARCHAR)")
            con.execute("INSERT INTO notes VALUES ('kept')")
        with pytest.raises(RuntimeError), lake.transaction() as con:
            con.execute("INSERT INTO notes VALUES ('dropped')")
            raise RuntimeError("the block failed")
        assert lake.con.execute("SELECT text FROM notes").fetchall() == [("kept",)]


def test_a_session_waits_for_the_commit_turn_another_writer_holds(store_settings):
    with open_writer(store_settings) as lake:
        with lake.transaction() as con:
            con.execute("CREATE TABLE notes (text VARCHAR)")
        session = lake.session()
        entered, release = threading.Event(), threading.Event()
        order: list[str] = []

        def other_writer() -> None:
            with lake.transaction(session) as con:
                entered.set()
                con.execute("INSERT INTO notes VALUES ('session')")
                release.wait(10)
                order.append("session")

        thread = threading.Thread(target=other_writer)
        thread.start()
        assert entered.wait(10)
        waiting = threading.Thread(target=lambda: _write(lake, order))
        waiting.start()
        waiting.join(0.3)
        assert waiting.is_alive()  # the writer's connection waits for the session's commit
        release.set()
        thread.join(10)
        waiting.join(10)
        assert order == ["session", "writer"]
        assert sorted(lake.con.execute("SELECT text FROM notes").fetchall()) == [
            ("session",),
            ("writer",),
        ]
        session.close()


def _write(lake, order: list[str]) -> None:
    with lake.transaction() as con:
        con.execute("INSERT INTO notes VALUES ('writer')")
        order.append("writer")


def _data_files(lake, table: str) -> int:
    return lake.con.execute(
        "SELECT count(*) FROM ducklake_list_files('lake', ?)", [table]
    ).fetchone()[0]


def test_a_few_ledger_rows_per_commit_stay_in_the_catalog_until_maintenance_writes_them(
    store_settings,
):
    """Small per-commit inserts (ledger, stats, heartbeats) write no Parquet file each;
    spans always do; maintenance moves the inlined rows into one file."""
    with open_writer(store_settings) as lake:
        for seq in range(5):
            with lake.transaction() as con:
                con.execute(
                    "INSERT INTO ingested_batches "
                    "(node_id, buffer_id, batch_seq, span_count, rejected_count, committed_at) "
                    "VALUES ('node-a', 'b', ?, 1, 0, now())",
                    [seq],
                )
                con.execute(
                    "INSERT INTO spans (trace_id, span_id, name, start_time, ingested_at) "
                    "VALUES ('t', ?, 'n', now(), now())",
                    [str(seq)],
                )
        assert _data_files(lake, "ingested_batches") == 0
        assert _data_files(lake, "spans") == 5
        run_maintenance(lake, snapshot_retention_s=0)
        assert _data_files(lake, "ingested_batches") == 1
        assert lake.con.execute("SELECT count(*) FROM ingested_batches").fetchone()[0] == 5
    with open_writer(store_settings) as reopened:  # the choice is kept across restarts
        with reopened.transaction() as con:
            con.execute(
                "INSERT INTO ingested_batches "
                "(node_id, buffer_id, batch_seq, span_count, rejected_count, committed_at) "
                "VALUES ('node-a', 'b', 99, 1, 0, now())"
            )
        assert _data_files(reopened, "ingested_batches") == 1
