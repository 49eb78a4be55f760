"""Scale-out: several ingest servers on one PostgreSQL catalog and a shared data path."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import pytest

from parallax.config import StoreSettings
from store import connect, open_writer
from tests.otlp import export_request, inference_span
from tests.postgres import start_postgres
from tests.servers import OtlpClient, ParallaxProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres():
    directory = Path(tempfile.mkdtemp(prefix="parallax-pg-"))
    server = start_postgres(directory)
    yield server
    server.stop()


@pytest.fixture
def scale_out_settings(postgres, tmp_path, request) -> StoreSettings:
    database = f"lake_{abs(hash(request.node.name)) % 10**8}"
    return StoreSettings(
        path=str(tmp_path / "root"),
        catalog="postgres:" + postgres.create_database(database),
        data_path=str(tmp_path / "shared-data") + "/",
    )


def test_a_postgresql_catalog_allows_several_writers_and_readers(scale_out_settings):
    with open_writer(scale_out_settings) as first, open_writer(scale_out_settings) as second:
        for writer, name in ((first, "a"), (second, "b")):
            writer.con.execute(
                "INSERT INTO spans (trace_id, span_id, name, start_time, ingested_at, feature) "
                "VALUES (?, ?, 'n', now(), now(), 'f')",
                [name, name],
            )
        reader = connect(scale_out_settings, read_only=True)
        assert reader.execute("SELECT count(*) FROM inferences").fetchone() == (2,)


def test_overlapping_writer_transactions_on_postgresql_both_commit_retrying_quickly(
    scale_out_settings,
):
    """Both claim the next snapshot id; the second commit retries after 2 ms (DuckLake's
    default, 100 ms growing by half each retry, throttled two writers to ~11 commits/s)."""
    insert = (
        "INSERT INTO spans (trace_id, span_id, name, start_time, ingested_at, feature) "
        "VALUES (?, ?, 'n', now(), now(), 'f')"
    )
    with open_writer(scale_out_settings) as first, open_writer(scale_out_settings) as second:
        for writer in (first, second):
            assert writer.con.execute(
                "SELECT current_setting('ducklake_retry_wait_ms'), "
                "current_setting('ducklake_max_retry_count')"
            ).fetchone() == (2, 20)
        with first.transaction() as one, second.transaction() as two:
            one.execute(insert, ["a", "a"])
            two.execute(insert, ["b", "b"])
        reader = connect(scale_out_settings, read_only=True)
        assert reader.execute("SELECT count(*) FROM inferences").fetchone() == (2,)


def test_two_ingest_servers_on_one_catalog_store_every_acknowledged_span(scale_out_settings):
    env = {
        "PARALLAX_STORE_CATALOG": scale_out_settings.catalog,
        "PARALLAX_STORE_DATA_PATH": scale_out_settings.data_path,
        "PARALLAX_SERVER_FLUSH_INTERVAL_MS": "20",
    }
    servers = []
    for _ in range(2):  # one after the other: the first applies the migrations
        servers.append(
            ParallaxProcess(
                "server", "--lake", scale_out_settings.path, "--listen", "127.0.0.1:0", env=env
            )
        )
    acknowledged: list[str] = []

    def send(address: str, node: str) -> None:
        client = OtlpClient(address)
        for seq in range(1, 31):
            spans = [inference_span() for _ in range(20)]
            client.export(export_request(spans), node_id=node, seq=seq)
            acknowledged.extend(span.span_id.hex() for span in spans)
        client.close()

    threads = [
        threading.Thread(target=send, args=(server.address, f"node-{i}"))
        for i, server in enumerate(servers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for server in servers:
        assert server.stop() == 0
    reader = connect(scale_out_settings, read_only=True)
    stored = [row[0] for row in reader.execute("SELECT span_id FROM spans").fetchall()]
    assert sorted(stored) == sorted(acknowledged)
    assert reader.execute("SELECT count(*) FROM ingested_batches").fetchone() == (60,)
