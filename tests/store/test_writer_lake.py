"""WriterLake.transaction, the one way to write: commit, roll back, and one commit at a time."""

from __future__ import annotations

import threading

import pytest

from store import open_writer


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
