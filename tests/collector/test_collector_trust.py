"""The collector on a secured fleet: TLS and a node token on its uplink, a receiver that
only local apps (or apps with its token) can use. Real collector processes, a real server
with certificates generated now."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import grpc
import pytest

from parallax.conventions import BUFFER_ID_HEADER
from store.trust import CredentialsFile
from tests.certificates import CertificateAuthority
from tests.otlp import export_request, inference_span
from tests.servers import OtlpClient, collector_process, lake_rows
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def fleet(make_server, tmp_path):
    """A TLS server with credentials for edge-a and edge-b; the tokens' files."""
    pki = CertificateAuthority(tmp_path / "pki")
    credentials = CredentialsFile(tmp_path / "credentials.json")
    token_files = {}
    for node in ("edge-a", "edge-b"):
        token_files[node] = tmp_path / f"{node}.token"
        token_files[node].write_text(credentials.add(node) + "\n")
    server_cert = pki.issue_server()
    server = make_server(
        tls_cert_file=str(server_cert.cert_file),
        tls_key_file=str(server_cert.key_file),
        credentials_file=str(credentials.path),
    )
    return server, pki, credentials, token_files


def secured_collector(server, pki, token_file, buffer_dir, node_id, **settings):
    return collector_process(
        server.address,
        buffer_dir,
        node_id=node_id,
        backend_ca_file=pki.cert_file,
        token_file=token_file,
        heartbeat_interval_s=0.5,
        **settings,
    )


def stored(store_settings, node: str) -> int:
    return lake_rows(store_settings, "SELECT count(*) FROM spans WHERE node_id = ?", [node])[0][0]


def test_the_batch_claim_attack_through_a_real_collector_loses_nothing(
    fleet, tmp_path, store_settings
):
    server, pki, _, token_files = fleet
    victim = secured_collector(server, pki, token_files["edge-b"], tmp_path / "b", "edge-b")
    attacker = OtlpClient(
        server.address,
        tls=grpc.ssl_channel_credentials(pki.cert_file.read_bytes()),
        token=token_files["edge-a"].read_text().strip(),
    )
    for seq in range(1, 101):  # pre-claim the victim's next 100 batch sequences
        with pytest.raises(grpc.RpcError) as refused:
            attacker._export(
                export_request([]),
                metadata=[*attacker.metadata("edge-b", seq), (BUFFER_ID_HEADER, "any-buffer")],
                timeout=10,
            )
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    app = OtlpClient(victim.address)
    for _ in range(10):
        app.export(export_request([inference_span() for _ in range(5)]), timeout=30)
    wait_until(lambda: stored(store_settings, "edge-b") == 50, timeout=60)
    assert lake_rows(store_settings, "SELECT DISTINCT node_id FROM ingested_batches") == [
        ("edge-b",)
    ]
    wait_until(lambda: lake_rows(store_settings, "SELECT node_id FROM nodes") == [("edge-b",)])
    assert server.pipeline.stats.totals.requests_denied == 100
    assert victim.stop() == 0


def test_a_rotated_node_token_is_picked_up_by_the_collector_without_a_restart(
    fleet, tmp_path, store_settings
):
    server, pki, credentials, token_files = fleet
    collector = secured_collector(server, pki, token_files["edge-a"], tmp_path / "a", "edge-a")
    app = OtlpClient(collector.address)
    app.export(export_request([inference_span()]), timeout=30)
    wait_until(lambda: stored(store_settings, "edge-a") == 1, timeout=60)
    new_token = credentials.add("edge-a")  # the old token stops working on the server
    time.sleep(1.5)  # the server re-reads its credentials within a second
    refused_before = server.pipeline.stats.totals.requests_unauthenticated
    app.export(export_request([inference_span()]), timeout=30)  # buffered, refused upstream
    wait_until(
        lambda: server.pipeline.stats.totals.requests_unauthenticated > refused_before,
        timeout=60,
    )
    assert stored(store_settings, "edge-a") == 1
    token_files["edge-a"].write_text(new_token + "\n")
    later = time.time_ns() + 2_000_000_000
    os.utime(token_files["edge-a"], ns=(later, later))
    wait_until(lambda: stored(store_settings, "edge-a") == 2, timeout=60)
    assert collector.stop() == 0


def test_apps_need_the_receiver_token_when_one_is_configured(fleet, tmp_path, store_settings):
    server, pki, _, token_files = fleet
    receiver_token = tmp_path / "receiver.token"
    receiver_token.write_text("local-secret\n")
    collector = secured_collector(
        server,
        pki,
        token_files["edge-a"],
        tmp_path / "a",
        "edge-a",
        receiver_token_file=receiver_token,
    )
    stranger = OtlpClient(collector.address)
    with pytest.raises(grpc.RpcError) as refused:
        stranger.export(export_request([inference_span()]), timeout=30)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    app = OtlpClient(collector.address, token="local-secret")
    app.export(export_request([inference_span()]), timeout=30)
    wait_until(lambda: stored(store_settings, "edge-a") == 1, timeout=60)
    assert collector.stop() == 0


def test_apps_on_the_node_can_export_over_a_private_unix_socket(fleet, tmp_path, store_settings):
    server, pki, _, token_files = fleet
    socket_path = tmp_path / "otlp.sock"
    collector = secured_collector(
        server, pki, token_files["edge-a"], tmp_path / "a", "edge-a", listen=f"unix:{socket_path}"
    )
    assert stat.S_IMODE(os.stat(socket_path).st_mode) == 0o660
    app = OtlpClient(f"unix:{socket_path}")
    app.export(export_request([inference_span()]), timeout=30)
    wait_until(lambda: stored(store_settings, "edge-a") == 1, timeout=60)
    assert collector.stop() == 0


def test_a_receiver_reachable_from_the_network_without_a_token_refuses_to_start(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "launch.cli",
            "collector",
            "--backend",
            "127.0.0.1:1",
            "--buffer-dir",
            str(tmp_path / "b"),
            "--listen",
            "0.0.0.0:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "collector.receiver_token_file" in result.stderr
