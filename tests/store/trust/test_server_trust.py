"""TLS, node credentials and identities against a real server, with certificates made now.

Every refusal is checked next to what it protects: nothing of a refused call is stored,
and a healthy node on the same server keeps working.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from parallax import conventions as conv
from parallax.errors import ConfigError
from parallax.proto.fleet.v1 import fleet_pb2, fleet_pb2_grpc
from store.trust import CredentialsFile
from tests.certificates import CertificateAuthority
from tests.otlp import export_request, inference_span
from tests.servers import OtlpClient, lake_rows
from tests.waiting import wait_until


@pytest.fixture
def pki(tmp_path) -> CertificateAuthority:
    return CertificateAuthority(tmp_path / "pki")


@pytest.fixture
def credentials(tmp_path) -> CredentialsFile:
    return CredentialsFile(tmp_path / "credentials.json")


@pytest.fixture
def secured(make_server, pki, credentials):
    """A server on TLS with node credentials; tokens for edge-a and edge-b."""
    tokens = {node: credentials.add(node) for node in ("edge-a", "edge-b")}
    server_cert = pki.issue_server()
    server = make_server(
        tls_cert_file=str(server_cert.cert_file),
        tls_key_file=str(server_cert.key_file),
        credentials_file=str(credentials.path),
    )
    return server, tokens


def tls(pki: CertificateAuthority, client=None) -> grpc.ChannelCredentials:
    key, cert = (client.key, client.cert) if client else (None, None)
    return grpc.ssl_channel_credentials(pki.cert_file.read_bytes(), key, cert)


def refused(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as error:
        call()
    return error.value.code()


def spans_of(store_settings, node: str) -> int:
    return lake_rows(store_settings, "SELECT count(*) FROM spans WHERE node_id = ?", [node])[0][0]


def test_a_plaintext_client_cannot_talk_to_a_tls_server(secured, pki):
    server, tokens = secured
    plain = OtlpClient(server.address, token=tokens["edge-a"])
    assert refused(lambda: plain.export(export_request([inference_span()]), timeout=5)) == (
        grpc.StatusCode.UNAVAILABLE
    )


@pytest.mark.parametrize("token", [None, "plx_not-a-token", "Basic dXNlcjpwYXNz"])
def test_a_missing_or_unknown_token_is_unauthenticated_and_stores_nothing(
    secured, pki, store_settings, token
):
    server, tokens = secured
    client = OtlpClient(server.address, tls=tls(pki))
    if token:
        client._auth = [("authorization", token if " " in token else f"Bearer {token}")]
    call = lambda: client.export(export_request([inference_span()]), "edge-a", 1)  # noqa: E731
    assert refused(call) == grpc.StatusCode.UNAUTHENTICATED
    healthy = OtlpClient(server.address, tls=tls(pki), token=tokens["edge-a"])
    healthy.export(export_request([inference_span()]), "edge-a", 1)
    assert spans_of(store_settings, "edge-a") == 1
    assert lake_rows(store_settings, "SELECT count(*) FROM ingested_batches") == [(1,)]
    assert server.pipeline.stats.totals.requests_unauthenticated == 1


def test_a_node_cannot_write_or_claim_batches_as_another_node(secured, pki, store_settings):
    server, tokens = secured
    attacker = OtlpClient(server.address, tls=tls(pki), token=tokens["edge-a"])
    for seq in range(1, 4):  # the batch-claim attack: junk under edge-b's identity first
        call = lambda s=seq: attacker.export(export_request([]), "edge-b", s)  # noqa: E731
        assert refused(call) == grpc.StatusCode.PERMISSION_DENIED
    victim = OtlpClient(server.address, tls=tls(pki), token=tokens["edge-b"])
    for seq in range(1, 4):
        victim.export(export_request([inference_span()]), "edge-b", seq)
    assert spans_of(store_settings, "edge-b") == 3
    assert lake_rows(
        store_settings, "SELECT node_id, count(*) FROM ingested_batches GROUP BY 1"
    ) == [("edge-b", 3)]
    assert server.pipeline.stats.totals.requests_denied == 3


def test_spans_without_a_batch_header_are_stored_as_the_proven_node(secured, pki, store_settings):
    server, tokens = secured
    client = OtlpClient(server.address, tls=tls(pki), token=tokens["edge-a"])
    spoofed = export_request([inference_span()], resource={conv.HOST_ID: "edge-b"})
    client.export(spoofed)
    assert (spans_of(store_settings, "edge-a"), spans_of(store_settings, "edge-b")) == (1, 0)


def test_a_heartbeat_as_another_node_is_denied_and_records_nothing(secured, pki, store_settings):
    server, tokens = secured
    channel = grpc.secure_channel(server.address, tls(pki))
    beat = fleet_pb2_grpc.FleetStub(channel).Heartbeat
    auth = [("authorization", f"Bearer {tokens['edge-a']}")]
    spoof = fleet_pb2.HeartbeatRequest(node_id="edge-b", sequence=1, hardware_tier="cloud")
    spoof.buffer.dropped_spans = 2**63 - 1
    assert refused(lambda: beat(spoof, metadata=auth, timeout=30)) == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    beat(fleet_pb2.HeartbeatRequest(node_id="edge-a", sequence=1), metadata=auth, timeout=30)
    assert lake_rows(store_settings, "SELECT node_id FROM nodes") == [("edge-a",)]
    channel.close()


def test_a_revoked_token_and_a_rotated_one_stop_working_without_a_restart(
    secured, pki, credentials, store_settings
):
    server, tokens = secured
    old = OtlpClient(server.address, tls=tls(pki), token=tokens["edge-a"])
    old.export(export_request([inference_span()]), "edge-a", 1)
    rotated = credentials.add("edge-a")  # a new token replaces the old one
    _touch_later(credentials.path)
    call = lambda: old.export(export_request([]), timeout=5)  # noqa: E731  (stores nothing)
    wait_until(lambda: _refused_with(call, grpc.StatusCode.UNAUTHENTICATED), timeout=10)
    new = OtlpClient(server.address, tls=tls(pki), token=rotated)
    new.export(export_request([inference_span()]), "edge-a", 2)
    assert credentials.revoke("edge-a")
    _touch_later(credentials.path)
    call = lambda: new.export(export_request([]), timeout=5)  # noqa: E731
    wait_until(lambda: _refused_with(call, grpc.StatusCode.UNAUTHENTICATED), timeout=10)
    assert spans_of(store_settings, "edge-a") == 2
    assert rotated not in credentials.path.read_text() and "edge-b" in credentials.path.read_text()


def test_the_credentials_file_keeps_only_hashes_and_is_private(credentials):
    token = credentials.add("edge-z")
    text = credentials.path.read_text()
    assert token not in text and token[4:] not in text
    assert os.stat(credentials.path).st_mode & 0o777 == 0o600


def test_a_gateway_writes_only_for_the_nodes_it_relays(
    make_server, pki, credentials, store_settings
):
    relay = credentials.add("relay-1", "gateway", ["edge-c", "edge-d"])
    server_cert = pki.issue_server()
    server = make_server(
        tls_cert_file=str(server_cert.cert_file),
        tls_key_file=str(server_cert.key_file),
        credentials_file=str(credentials.path),
    )
    client = OtlpClient(server.address, tls=tls(pki), token=relay)
    client.export(export_request([inference_span()]), "edge-c", 1)
    client.export(export_request([inference_span()]), "edge-d", 1)
    assert refused(lambda: client.export(export_request([inference_span()]), "edge-e", 1)) == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    assert refused(lambda: client.export(export_request([inference_span()]))) == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    assert [spans_of(store_settings, n) for n in ("edge-c", "edge-d", "edge-e")] == [1, 1, 0]


def test_with_mutual_tls_the_client_certificate_names_the_node(make_server, pki, store_settings):
    server_cert = pki.issue_server()
    server = make_server(
        tls_cert_file=str(server_cert.cert_file),
        tls_key_file=str(server_cert.key_file),
        tls_client_ca_file=str(pki.cert_file),
    )
    edge_a = OtlpClient(server.address, tls=tls(pki, pki.issue_client("edge-a")))
    edge_a.export(export_request([inference_span()]), "edge-a", 1)
    edge_a.export(export_request([inference_span()], resource={conv.HOST_ID: "x"}))
    assert refused(lambda: edge_a.export(export_request([inference_span()]), "edge-b", 1)) == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    no_certificate = OtlpClient(server.address, tls=tls(pki))
    assert refused(
        lambda: no_certificate.export(export_request([inference_span()]), timeout=5)
    ) in {
        grpc.StatusCode.UNAVAILABLE,  # the handshake itself fails
        grpc.StatusCode.UNAUTHENTICATED,
    }
    assert (spans_of(store_settings, "edge-a"), spans_of(store_settings, "edge-b")) == (2, 0)


def test_a_renewed_server_certificate_is_used_for_new_connections_without_a_restart(
    make_server, pki, tmp_path, credentials, store_settings
):
    token = credentials.add("edge-a")
    first = pki.issue_server("first")
    cert_file, key_file = tmp_path / "server.crt", tmp_path / "server.key"
    cert_file.write_bytes(first.cert)
    key_file.write_bytes(first.key)
    server = make_server(
        tls_cert_file=str(cert_file),
        tls_key_file=str(key_file),
        credentials_file=str(credentials.path),
    )
    OtlpClient(server.address, tls=tls(pki), token=token).export(export_request([inference_span()]))
    renewing_ca = CertificateAuthority(tmp_path / "pki2", "renewed CA")
    renewed = renewing_ca.issue_server("renewed")
    key_file.write_bytes(renewed.key)
    cert_file.write_bytes(renewed.cert)
    _touch_later(cert_file, key_file)
    fresh = OtlpClient(server.address, tls=tls(renewing_ca), token=token, own_connection=True)
    fresh.export(export_request([inference_span()]), timeout=10)
    assert spans_of(store_settings, "edge-a") == 2


def test_the_stock_sdk_exports_over_tls_with_a_bearer_token_from_the_environment(
    secured, pki, store_settings, monkeypatch
):
    server, tokens = secured
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(pki.cert_file))
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer {tokens['edge-b']}")
    provider = TracerProvider(resource=Resource.create({conv.HOST_ID: "someone-else"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=server.address)))
    for _ in range(3):
        with provider.get_tracer("app").start_as_current_span("inference") as span:
            span.set_attribute(conv.FEATURE, "fraud-scoring")
    provider.shutdown()
    assert spans_of(store_settings, "edge-b") == 3


def test_a_server_reachable_from_the_network_without_tls_and_credentials_refuses_to_start(
    make_server, caplog
):
    with pytest.raises(ConfigError, match=r"server\.tls_cert_file"):
        make_server(listen="0.0.0.0:0")
    server = make_server(listen="0.0.0.0:0", insecure=True)
    assert server.address.startswith("0.0.0.0:")
    assert "WITHOUT TLS and authentication" in caplog.text


def _refused_with(call, code: grpc.StatusCode) -> bool:
    try:
        call()
    except grpc.RpcError as err:
        return err.code() == code
    return False


def _touch_later(*paths: Path) -> None:
    """Give an edited file a modification time its reader sees as new."""
    later = time.time_ns() + 2_000_000_000
    for path in paths:
        os.utime(path, ns=(later, later))
