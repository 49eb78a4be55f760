"""Retention: each table keeps its rows for its own number of days; spans go as whole
files, off disk; the ledger is never kept for less time than spans; ingest goes on."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from launch.cli import main
from parallax.config import StoreSettings
from parallax.errors import ConfigError
from store import open_writer
from store.maintenance import run_maintenance
from store.retention import apply_retention, retention_policy
from tests.otlp import export_request, inference_span
from tests.reconciler.fleet import T0, Fleet
from tests.servers import OtlpClient, lake_rows
from tests.waiting import wait_until

DAY = 86_400


@pytest.fixture
def store_settings(tmp_path) -> StoreSettings:
    """A lake whose spans and ledger are kept for 2 days (the server's retention)."""
    return StoreSettings(path=str(tmp_path / "lake"), retention_days=2, ledger_retention_days=2)


def policy(**days: int):
    return retention_policy(StoreSettings(**days))


def span_files(settings: StoreSettings) -> list[Path]:
    return sorted((Path(settings.path) / "data" / "main" / "spans").rglob("*.parquet"))


def test_spans_older_than_the_horizon_go_with_their_files_and_newer_ones_stay(store_settings):
    with open_writer(store_settings) as lake:
        fleet = Fleet(lake)
        for day in range(6):  # two commits a day: two files a day before merging
            for hour in (1, 13):
                fleet.commit(
                    [fleet.answer("fraud", f"in-{n}", "gbm 2.3 fp32 cloud", at=day * DAY
                                  + hour * 3600 + n, label="legit") for n in range(50)]
                )  # fmt: skip
        now = T0 + timedelta(days=5, hours=18)  # cut-off: day 2 at midnight

        result = run_maintenance(lake, 0.0, policy(retention_days=3), now=now)
        run_maintenance(lake, 0.0)  # the next pass deletes the files the first one freed

        cutoff = T0 + timedelta(days=2)
        assert result["deleted_spans"] == 2 * 2 * 50
        assert fleet.rows("SELECT count(*) FROM spans WHERE start_time < ?", cutoff) == [(0,)]
        assert fleet.rows("SELECT count(*) FROM spans WHERE start_time >= ?", cutoff) == [(400,)]
        assert fleet.rows("SELECT table_name, cutoff, rows_deleted FROM retention_log") == [
            ("spans", cutoff, 200)
        ]
    days_on_disk = {file.parent.name for file in span_files(store_settings)}
    assert days_on_disk == {"day=3", "day=4", "day=5", "day=6"}  # T0 is November 1st


def test_each_table_ages_by_its_own_clock_and_horizon(store_settings):
    now = datetime(2026, 11, 20, 15, tzinfo=UTC)
    ages = [1, 3, 9, 40]  # days before now
    with open_writer(store_settings) as lake, lake.transaction() as con:
        for age in ages:
            at = now - timedelta(days=age)
            con.execute(
                "INSERT INTO node_heartbeats (node_id, heartbeat_seq, received_at) "
                "VALUES (?, 1, ?)",
                [f"node-{age}", at],
            )
            con.execute(
                "INSERT INTO ingested_batches (node_id, batch_seq, span_count, rejected_count,"
                " committed_at) VALUES (?, 1, 1, 0, ?)",
                [f"node-{age}", at],
            )
            con.execute(
                "INSERT INTO ingest_stats (server_id, recorded_at, interval_s, spans_accepted,"
                " spans_rejected, batches, duplicate_batches, requests_refused,"
                " requests_invalid, commits, commit_seconds, queue_spans)"
                " VALUES (?, ?, 10, 1, 0, 1, 0, 0, 0, 1, 0.1, 0)",
                [f"server-{age}", at],
            )
    with open_writer(store_settings) as lake:
        deleted = apply_retention(
            lake,
            policy(retention_days=5, heartbeat_retention_days=2, ledger_retention_days=5,
                   stats_retention_days=0),
            now,
        )  # fmt: skip
        kept = {
            table: sorted(v for (v,) in lake.con.execute(f"SELECT {key} FROM {table}").fetchall())
            for table, key in (
                ("node_heartbeats", "node_id"),
                ("ingested_batches", "node_id"),
                ("ingest_stats", "server_id"),
            )
        }

    assert deleted == {"spans": 0, "node_heartbeats": 3, "ingested_batches": 2}
    assert kept == {
        "node_heartbeats": ["node-1"],
        "ingested_batches": ["node-1", "node-3"],
        "ingest_stats": ["server-1", "server-3", "server-40", "server-9"],  # 0: forever
    }


@pytest.mark.parametrize(
    ("days", "wanted"),
    [
        ({"retention_days": 30, "ledger_retention_days": 7}, "at least store.retention_days"),
        ({"retention_days": 0, "ledger_retention_days": 400}, "must be 0 \\(keep forever\\)"),
    ],
)
def test_the_ledger_is_never_kept_for_less_time_than_spans(days, wanted):
    with pytest.raises(ConfigError, match=wanted):
        policy(**days)
    assert policy(retention_days=30, ledger_retention_days=30).tables
    assert policy(retention_days=0, ledger_retention_days=0).tables


def test_parallax_maintain_applies_retention_and_refuses_a_short_ledger(
    store_settings, tmp_path, capsys
):
    with open_writer(store_settings) as lake:
        fleet = Fleet(lake)
        span = fleet.answer("fraud", "x", "gbm 2.3 fp32 cloud", label="a")
        fleet.commit([{**span, "start_time": datetime.now(UTC) - timedelta(days=10)}])
    config = tmp_path / "parallax.toml"
    config.write_text(f'[store]\npath = "{store_settings.path}"\nretention_days = 3\n'
                      "ledger_retention_days = 2\n")  # fmt: skip

    assert main(["--config", str(config), "maintain"]) == 2
    assert "store.ledger_retention_days (2) must be at least" in capsys.readouterr().err

    config.write_text(config.read_text().replace("ledger_retention_days = 2", ""))
    assert main(["--config", str(config), "maintain"]) == 0
    assert "deleted by retention: 1 spans" in capsys.readouterr().out
    assert lake_rows(store_settings, "SELECT count(*) FROM spans") == [(0,)]


def test_a_healthy_client_sees_every_request_acknowledged_and_stored_while_retention_runs(
    make_server, store_settings
):
    server = make_server(
        maintenance_interval_s=0.2, snapshot_retention_s=0.001, file_retention_s=0.001
    )
    client = OtlpClient(server.address)
    old_ns = int((time.time() - 5 * DAY) * 1e9)
    client.export(
        export_request([timed_span(old_ns + n) for n in range(100)]),
        node_id="node-old", seq=1,
    )  # fmt: skip
    sent, answered = [], []
    stop = threading.Event()

    def send() -> None:
        seq = 0
        while not stop.is_set() or seq < 5:
            seq += 1
            now_ns = time.time_ns()
            spans = [timed_span(now_ns + n) for n in range(20)]
            response = client.export(export_request(spans), node_id="node-new", seq=seq)
            sent.append(len(spans))
            answered.append(response.partial_success.rejected_spans)

    sender = threading.Thread(target=send)
    sender.start()
    try:  # retention deletes the old spans while the client keeps sending
        wait_until(lambda: lake_rows(
            store_settings, "SELECT count(*) FROM retention_log WHERE table_name = 'spans'"
        ) == [(1,)], timeout=60)  # fmt: skip
    finally:
        stop.set()
        sender.join()
    client.close()

    assert answered == [0] * len(sent)
    stored = lake_rows(store_settings, "SELECT node_id, count(*) FROM spans GROUP BY ALL")
    assert stored == [("node-new", sum(sent))]
    assert lake_rows(store_settings, "SELECT rows_deleted FROM retention_log") == [(100,)]
    wait_until(lambda: not any("day=" in str(f) and _is_old(f) for f in span_files(store_settings)))


def timed_span(start_ns: int):
    return inference_span(start_time_unix_nano=start_ns, end_time_unix_nano=start_ns + 10**7)


def _is_old(path: Path) -> bool:
    """Whether a span file lies in a day partition more than 2 days old."""
    parts = dict(part.split("=") for part in path.parent.parts[-3:])
    day = datetime(int(parts["year"]), int(parts["month"]), int(parts["day"]), tzinfo=UTC)
    return day < datetime.now(UTC) - timedelta(days=3)
