"""OTLP/HTTP under the gRPC port's trust rules: TLS, client certificates, node tokens.

One server speaks TLS only, asks every client for a certificate its CA signed (the
Common Name is the node id) and takes node tokens too. Every refusal is checked next to
what it protects: nothing of a refused request is stored, and a healthy node is served.
"""

from __future__ import annotations

import http.client
import os
import ssl
import time
from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from launch.server import RunningServer
from parallax import conventions as conv
from parallax.config import StoreSettings
from parallax.errors import ConfigError
from store.trust import CredentialsFile
from tests.certificates import CertificateAuthority, Issued
from tests.conftest import start_test_server
from tests.otlp import export_request, inference_span
from tests.otlp_http import post
from tests.servers import lake_rows


class Secured:
    def __init__(self, server: RunningServer, store: StoreSettings, pki: CertificateAuthority):
        self.server, self.store, self.pki = server, store, pki
        self.certificates: dict[str, Issued] = {}
        self.server_certificate: Issued | None = None
        self.tokens: dict[str, str] = {}

    def tls(self, node: str | None, trusted: CertificateAuthority | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=(trusted or self.pki).cert_file)
        if node is not None:
            issued = self.certificates[node]
            context.load_cert_chain(issued.cert_file, issued.key_file)
        return context

    def spans_of(self, node: str) -> int:
        return lake_rows(self.store, "SELECT count(*) FROM spans WHERE node_id = ?", [node])[0][0]


@pytest.fixture(scope="module")
def secured(tmp_path_factory) -> Iterator[Secured]:
    root = tmp_path_factory.mktemp("http-trust")
    pki = CertificateAuthority(root / "pki")
    credentials = CredentialsFile(root / "credentials.json")
    tokens = {node: credentials.add(node) for node in ("edge-a", "edge-b")}
    server_cert = pki.issue_server()
    store = StoreSettings(path=str(root / "lake"))
    server = start_test_server(
        store,
        tls_cert_file=str(server_cert.cert_file),
        tls_key_file=str(server_cert.key_file),
        tls_client_ca_file=str(pki.cert_file),
        credentials_file=str(credentials.path),
    )
    fixture = Secured(server, store, pki)
    fixture.tokens = tokens
    fixture.server_certificate = server_cert
    fixture.certificates = {node: pki.issue_client(node) for node in tokens}
    yield fixture
    server.stop()


def spans() -> bytes:
    """One span whose resource claims a node id of its own: ignored for the proven one."""
    return export_request([inference_span()], {conv.HOST_ID: "claimed"}).SerializeToString()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_client_certificate_names_the_node_and_a_token_must_agree_with_it(secured):
    address = secured.server.http_address
    assert post(address, spans(), tls=secured.tls("edge-a")).status == 200
    with_token = post(address, spans(), headers=bearer(secured.tokens["edge-a"]),
                      tls=secured.tls("edge-a"))  # fmt: skip
    assert with_token.status == 200
    assert secured.spans_of("edge-a") == 2  # stored as the proven node, not host.id
    other_token = post(address, spans(), headers=bearer(secured.tokens["edge-b"]),
                       tls=secured.tls("edge-a"))  # fmt: skip
    assert other_token.status == 403
    unknown = post(address, spans(), headers=bearer("plx_not-a-token"), tls=secured.tls("edge-a"))
    assert unknown.status == 401 and unknown.rpc_status().code == 16  # UNAUTHENTICATED
    assert secured.spans_of("edge-a") == 2 and secured.spans_of("claimed") == 0


def test_a_node_cannot_write_or_claim_a_batch_as_another_node(secured):
    address = secured.server.http_address
    claim = {conv.NODE_ID_HEADER: "edge-b", conv.BATCH_SEQUENCE_HEADER: "1"}
    refused = post(address, spans(), headers=claim, tls=secured.tls("edge-a"))
    assert refused.status == 403 and refused.rpc_status().code == 7  # PERMISSION_DENIED
    assert secured.spans_of("edge-b") == 0
    assert post(address, spans(), headers=claim, tls=secured.tls("edge-b")).status == 200
    assert secured.spans_of("edge-b") == 1  # the batch was not taken by the attacker


def test_plaintext_and_clients_without_a_certificate_get_no_answer(secured):
    address = secured.server.http_address
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        post(address, spans())
    with pytest.raises((ssl.SSLError, ConnectionError)):
        post(address, spans(), tls=secured.tls(None))
    assert post(address, spans(), tls=secured.tls("edge-b")).status == 200  # still served


def test_the_stock_sdk_http_exporter_exports_over_mutual_tls_with_a_token(secured, monkeypatch):
    # requests lets these variables win over the exporter's certificate_file
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(variable, raising=False)
    issued = secured.certificates["edge-a"]
    exporter = OTLPSpanExporter(
        endpoint=f"https://{secured.server.http_address}/v1/traces",
        certificate_file=str(secured.pki.cert_file),
        client_certificate_file=str(issued.cert_file),
        client_key_file=str(issued.key_file),
        headers={"authorization": f"Bearer {secured.tokens['edge-a']}"},
    )
    provider = TracerProvider(resource=Resource.create({conv.SERVICE_NAME: "sdk-over-tls"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("tests").start_as_current_span("inference"):
        pass
    provider.shutdown()
    assert lake_rows(
        secured.store, "SELECT node_id FROM spans WHERE service_name = 'sdk-over-tls'"
    ) == [("edge-a",)]


def test_an_unsecured_http_port_beyond_loopback_refuses_to_start(store_settings):
    with pytest.raises(ConfigError, match=r"OTLP/HTTP port would listen on 0\.0\.0\.0:0"):
        start_test_server(store_settings, http_listen="0.0.0.0:0")


def test_a_renewed_server_certificate_is_used_for_new_connections_without_a_restart(
    secured, tmp_path
):
    """Runs last in this module: the server's certificate changes for good."""
    renewing_ca = CertificateAuthority(tmp_path / "renewing", "renewing CA")
    renewed = renewing_ca.issue_server("renewed")
    current = secured.server_certificate
    current.key_file.write_bytes(renewed.key)
    current.cert_file.write_bytes(renewed.cert)
    later = time.time_ns() + 2_000_000_000
    for path in (current.cert_file, current.key_file):
        os.utime(path, ns=(later, later))
    address = secured.server.http_address
    answer = post(address, spans(), tls=secured.tls("edge-b", trusted=renewing_ca))
    assert answer.status == 200
    with pytest.raises(ssl.SSLError):  # the old certificate is gone
        post(address, spans(), tls=secured.tls("edge-b"))
