"""`parallax reconcile` and the reconciler inside `parallax server`."""

from __future__ import annotations

import logging
import os

from launch.cli import main
from launch.server import start_server
from parallax import conventions as conv
from parallax.config import ReconcilerSettings, ServerSettings, Settings
from store.lake import connect, open_writer
from tests.otlp import export_request, inference_span
from tests.reconciler.fleet import Fleet
from tests.servers import OtlpClient, lake_rows
from tests.waiting import wait_until

FP32 = "gbm 2.3 fp32 cloud"
INT8 = "gbm 2.3 int8 device"


def seed(store_settings) -> None:
    with open_writer(store_settings) as lake:
        fleet = Fleet(lake)
        fleet.commit(
            [fleet.answer("fraud", "in-1", FP32, label="legit"),
             fleet.answer("fraud", "in-1", INT8, label="fraud")]
        )  # fmt: skip


def test_reconcile_command_runs_once_and_full_rebuilds(store_settings, capsys):
    seed(store_settings)

    assert main(["reconcile", "--lake", store_settings.path]) == 0
    assert "reconcile run 1 (full): 2 new spans, 1 groups recomputed" in capsys.readouterr().out
    assert main(["reconcile", "--lake", store_settings.path]) == 0
    assert "run 2 (incremental): 0 new spans" in capsys.readouterr().out
    assert main(["reconcile", "--lake", store_settings.path, "--full"]) == 0
    assert "run 3 (full): 2 new spans" in capsys.readouterr().out

    con = connect(store_settings)
    assert con.execute("SELECT count(*) FROM divergences").fetchone() == (1,)


def test_reconcile_command_names_file_feature_and_key_of_a_bad_policy(
    store_settings, tmp_path, capsys
):
    policies = tmp_path / "policies.toml"
    policies.write_text('[features.fraud]\ncomparator = "exact"\n')

    assert main(["reconcile", "--lake", store_settings.path, "--policies", str(policies)]) == 2

    err = capsys.readouterr().err
    assert f"{policies}: feature 'fraud': comparator: must be one of" in err


def test_the_server_reconciles_on_its_interval_while_ingest_writes(store_settings, caplog):
    settings = Settings(
        store=store_settings,
        server=ServerSettings(
            listen="127.0.0.1:0", http_listen="", metrics_listen="", flush_interval_ms=20
        ),
        reconciler=ReconcilerSettings(interval_s=0.1),
    )
    server = start_server(settings)
    client = OtlpClient(server.address)
    try:
        for batch in range(40):  # every span a new input answered by int8 and fp32
            spans = [
                inference_span(attrs={conv.INPUT_FINGERPRINT: f"in-{batch}-{n}",
                                      conv.MODEL_QUANTIZATION: quantization,
                                      conv.OUTPUT_LABEL: "fraud" if n == 0 else "legit"})
                for n in range(25) for quantization in ("fp32", "int8")
            ]  # fmt: skip
            assert client.export(export_request(spans), node_id="node-a", seq=batch + 1)
            if batch == 20:
                wait_until(lambda: server.reconciler.last_report is not None, timeout=30)
        wait_until(lambda: reconciled_inputs(store_settings) == 1000, timeout=30)
    finally:
        client.close()
        server.stop()
    assert lake_rows(store_settings, "SELECT count(*) FROM divergences") == [(0,)]
    assert lake_rows(store_settings, "SELECT count(*) FROM reconcile_runs") >= [(2,)]
    # Commits of ingest and reconciler took turns: none of them failed.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def reconciled_inputs(store_settings) -> int:
    return lake_rows(store_settings, "SELECT count(*) FROM reconciled")[0][0]


def test_a_bad_policies_file_stops_the_server_at_start_up(store_settings, tmp_path, capsys):
    policies = tmp_path / "policies.toml"
    policies.write_text("[features.fraud]\ntolerance = '2%'\n")

    code = main(["--config", str(write_config(tmp_path, policies)), "server",
                 "--lake", store_settings.path, "--listen", "127.0.0.1:0"])  # fmt: skip

    assert code == 2
    assert "feature 'fraud': tolerance: expected float, got str '2%'" in capsys.readouterr().err


def write_config(tmp_path, policies):
    config = tmp_path / "parallax.toml"
    config.write_text(f'[reconciler]\npolicies_file = "{policies}"\n')
    return config


def test_an_edited_policies_file_makes_the_next_in_server_run_a_full_rebuild(
    store_settings, tmp_path
):
    seed(store_settings)
    policies = tmp_path / "policies.toml"
    policies.write_text("[features.fraud]\ntolerance = 0.02\n")
    settings = Settings(
        store=store_settings,
        server=ServerSettings(listen="127.0.0.1:0", http_listen="", metrics_listen=""),
        reconciler=ReconcilerSettings(interval_s=0.1, policies_file=str(policies)),
    )
    server = start_server(settings)
    try:
        wait_until(lambda: server.reconciler.last_report is not None, timeout=30)
        wait_until(lambda: server.reconciler.last_report.mode == "incremental", timeout=30)
        policies.write_text("[features.fraud]\ntolerance = 0.5\n")
        os.utime(policies, ns=(0, 10**18))  # a modification time no earlier write had

        wait_until(lambda: server.reconciler.last_report.mode == "full", timeout=30)
    finally:
        server.stop()
    assert lake_rows(store_settings, "SELECT DISTINCT tolerance FROM variant_pairs") == [(0.5,)]
