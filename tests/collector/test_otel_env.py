"""The collector reads the node's OpenTelemetry variables as the OTel SDKs do: as defaults
below every Parallax setting, with malformed values refused by name."""

from __future__ import annotations

import subprocess
import sys

import pytest

from collector.otel_env import NO_OTEL, read_otel_environment
from collector.sampling import Sampler
from collector.tagging import NodeIdentity, Tagger
from parallax import conventions as conv
from parallax.config import load_settings
from parallax.errors import ConfigError
from store.trust import CredentialsFile
from tests.certificates import CertificateAuthority
from tests.otlp import export_request, inference_span
from tests.servers import OtlpClient, ParallaxProcess, lake_rows
from tests.waiting import wait_until


def resolved(otel_env: dict[str, str], parallax_env: dict[str, str] | None = None, config=None):
    otel = read_otel_environment(otel_env)
    settings = load_settings(config, env=parallax_env or {}, fallbacks=otel.fallbacks)
    return settings.collector, otel


def test_every_exporter_variable_sets_its_collector_key():
    collector, otel = resolved(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "https://parallax.example:4317",
            "OTEL_EXPORTER_OTLP_CERTIFICATE": "/etc/ca.pem",
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/etc/node.pem",
            "OTEL_EXPORTER_OTLP_CLIENT_KEY": "/etc/node.key",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "none",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        }
    )
    assert collector.backend == "parallax.example:4317"
    assert (collector.backend_ca_file, collector.tls_cert_file, collector.tls_key_file) == (
        "/etc/ca.pem",
        "/etc/node.pem",
        "/etc/node.key",
    )
    assert collector.gzip is False and collector.request_timeout_s == 2.5
    assert otel.endpoint.tls is True


def test_the_trace_specific_variable_wins_over_the_general_one():
    collector, _ = resolved(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://general:4317",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4317",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "1000",
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "3000",
        }
    )
    assert collector.backend == "traces:4317" and collector.request_timeout_s == 3.0


def test_the_scheme_or_the_insecure_flag_chooses_tls_as_the_spec_says():
    def tls(**env: str) -> bool:
        return read_otel_environment(env).endpoint.tls

    assert tls(OTEL_EXPORTER_OTLP_ENDPOINT="https://a:4317") is True
    assert tls(OTEL_EXPORTER_OTLP_ENDPOINT="http://a:4317") is False
    assert tls(OTEL_EXPORTER_OTLP_ENDPOINT="a:4317") is True  # no scheme: secure by default
    assert tls(OTEL_EXPORTER_OTLP_ENDPOINT="a:4317", OTEL_EXPORTER_OTLP_INSECURE="true") is False
    # https wins over the insecure flag
    assert tls(OTEL_EXPORTER_OTLP_ENDPOINT="https://a:4317", OTEL_EXPORTER_OTLP_INSECURE="true")
    assert read_otel_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://a"}).endpoint.address == (
        "a:443"
    )
    ipv6 = read_otel_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://[::1]:4317"})
    assert ipv6.endpoint.address == "[::1]:4317"


def test_https_without_a_ca_bundle_trusts_the_system_and_a_parallax_backend_ignores_the_scheme():
    otel = read_otel_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://a:4317"})
    assert otel.tls_with_system_roots("a:4317", backend_ca_file="") is True
    assert otel.tls_with_system_roots("a:4317", backend_ca_file="/ca.pem") is False
    assert otel.tls_with_system_roots("parallax-key:4317", backend_ca_file="") is False


def test_headers_are_baggage_members_percent_decoded_and_lower_cased():
    otel = read_otel_environment(
        {"OTEL_EXPORTER_OTLP_HEADERS": " Authorization = Bearer%20s3cr%3Dt , X-Tenant=eu;p=1,"}
    )
    assert otel.headers == (("authorization", "Bearer s3cr=t"), ("x-tenant", "eu"))
    assert otel.uplink_headers(token_file="") == otel.headers
    # collector.token_file wins over an authorization header; other headers stay
    assert otel.uplink_headers(token_file="/etc/node.token") == (("x-tenant", "eu"),)


def test_resource_attributes_give_the_node_identity_and_service_name_wins_over_the_attribute():
    collector, otel = resolved(
        {
            "OTEL_RESOURCE_ATTRIBUTES": "host.name=edge-9,cloud.region=eu-west-3,"
            "parallax.hardware.tier=Edge,parallax.hardware.accelerator=npu,"
            "deployment.environment.name=prod%20eu,service.name=ignored",
            "OTEL_SERVICE_NAME": "edge-collector",
        }
    )
    assert collector.node_id == "edge-9"  # host.name, as no host.id is given
    assert (collector.region, collector.hardware_tier, collector.accelerator) == (
        "eu-west-3",
        "near-edge",  # the convention's word for the spelling 'Edge'
        "npu",
    )
    assert dict(otel.resource) == {
        "host.name": "edge-9",
        "deployment.environment.name": "prod eu",
        conv.SERVICE_NAME: "edge-collector",
    }
    both, _ = resolved({"OTEL_RESOURCE_ATTRIBUTES": "host.name=h,host.id=i"})
    assert both.node_id == "i"


def test_parallax_settings_win_over_otel_variables_which_win_over_defaults(tmp_path):
    otel_env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4317",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2000",
        "OTEL_RESOURCE_ATTRIBUTES": "host.id=otel-node,cloud.region=otel-region",
    }
    config = tmp_path / "collector.toml"
    config.write_text('[collector]\nbackend = "file:4317"\n')
    collector, _ = resolved(otel_env, {"PARALLAX_COLLECTOR_NODE_ID": "env-node"}, config)
    assert collector.backend == "file:4317"  # file > OTEL
    assert collector.node_id == "env-node"  # PARALLAX_* > OTEL
    assert (
        collector.region == "otel-region" and collector.request_timeout_s == 2.0
    )  # OTEL > default
    assert resolved({})[0] == load_settings(env={}).collector  # no OTEL: the defaults


def test_a_parallax_key_set_to_its_default_value_still_wins(tmp_path):
    config = tmp_path / "collector.toml"
    config.write_text("[collector]\ngzip = true\n")
    collector, _ = resolved({"OTEL_EXPORTER_OTLP_COMPRESSION": "none"}, config=config)
    assert collector.gzip is True


@pytest.mark.parametrize(
    ("env", "named", "problem"),
    [
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, "OTEL_EXPORTER_OTLP_TIMEOUT", "milliseconds"),
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "0"}, "OTEL_EXPORTER_OTLP_TIMEOUT", "above 0"),
        ({"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "zstd"}, "TRACES_COMPRESSION", "gzip or none"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://a:1"}, "OTEL_EXPORTER_OTLP_ENDPOINT", "http or"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:99999"}, "_ENDPOINT", "not a valid URL"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://u:p@a:1"}, "_ENDPOINT", "no user"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "a", "OTEL_EXPORTER_OTLP_INSECURE": "yes"},
            "ENDPOINT",
            "",
        ),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "k=v,=v"}, "OTEL_EXPORTER_OTLP_HEADERS", "member 2"),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "grpc-timeout=1S"}, "_HEADERS", "cannot be sent"),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "parallax-node-id=x"}, "_HEADERS", "cannot be sent"),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "k=a%0Ab"}, "_HEADERS", "control characters"),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "k=%C3%A9"}, "_HEADERS", "must be ASCII"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "host.id=a%FFb"}, "OTEL_RESOURCE_ATTRIBUTES", "not UTF-8"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "host.id=a b"}, "OTEL_RESOURCE_ATTRIBUTES", "node id"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "parallax.hardware.tier=moon"}, "RESOURCE_ATTR", "one of"),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:1",
                "OTEL_EXPORTER_OTLP_CERTIFICATE": "/ca.pem",
            },
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            "use https",
        ),
    ],
)
def test_a_malformed_value_is_a_config_error_naming_the_variable(env, named, problem):
    with pytest.raises(ConfigError) as error:
        resolved(env)
    assert named in str(error.value) and problem in str(error.value)


def test_a_malformed_header_never_shows_its_value():
    with pytest.raises(ConfigError) as error:
        read_otel_environment({"OTEL_EXPORTER_OTLP_HEADERS": "authorization Bearer TOPSECRET"})
    assert "TOPSECRET" not in str(error.value)


def test_an_endpoint_that_is_not_otlp_grpc_or_is_the_collector_itself_is_refused_when_used():
    http = read_otel_environment(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://server:4318",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        }
    )
    with pytest.raises(ConfigError, match=r"OTEL_EXPORTER_OTLP_PROTOCOL.*OTLP/gRPC only"):
        http.check("server:4318", "127.0.0.1:4317")
    http.check("explicit-backend:4317", "127.0.0.1:4317")  # not used: no objection
    leaked = read_otel_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4317"})
    with pytest.raises(ConfigError, match="own receiver"):
        leaked.check("localhost:4317", "127.0.0.1:4317")
    NO_OTEL.check("localhost:4317", "127.0.0.1:4317")


def test_node_attributes_are_added_only_where_the_app_did_not_set_them():
    identity = NodeIdentity(
        "edge-1", attributes=(("deployment.environment.name", "prod"), ("team", "vision"))
    )
    tagger = Tagger(identity, Sampler(1.0, 0.5))
    request = export_request([inference_span()], resource={"team": "app's own", "x": 1})
    tagger.process(request)
    resource = {kv.key: kv.value for kv in request.resource_spans[0].resource.attributes}
    assert resource["team"].string_value == "app's own"
    assert resource["deployment.environment.name"].string_value == "prod"
    assert resource[conv.HOST_ID].string_value == "edge-1"


def test_the_collector_command_stops_on_a_malformed_variable_and_names_it(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "launch.cli", "collector", "--buffer-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "OTEL_EXPORTER_OTLP_TIMEOUT": "ten"},
        timeout=60,
    )
    assert result.returncode == 2
    assert "parallax collector: OTEL_EXPORTER_OTLP_TIMEOUT" in result.stderr


@pytest.fixture
def secured_server(make_server, tmp_path):
    """A TLS server with a credential for edge-otel and one for edge-parallax."""
    pki = CertificateAuthority(tmp_path / "pki")
    credentials = CredentialsFile(tmp_path / "credentials.json")
    tokens = {node: credentials.add(node) for node in ("edge-otel", "edge-parallax")}
    certificate = pki.issue_server()
    server = make_server(
        tls_cert_file=str(certificate.cert_file),
        tls_key_file=str(certificate.key_file),
        credentials_file=str(credentials.path),
    )
    return server, pki, tokens


def otel_collector(tmp_path, env: dict[str, str]) -> ParallaxProcess:
    """`parallax collector` with no backend, TLS, token or identity of its own."""
    return ParallaxProcess(
        "collector", "--buffer-dir", str(tmp_path / "buffer"), "--listen", "127.0.0.1:0", env=env
    )


def test_a_collector_set_up_only_by_otel_variables_ships_over_tls_as_the_node_they_name(
    secured_server, tmp_path, store_settings
):
    server, pki, tokens = secured_server
    collector = otel_collector(
        tmp_path,
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"https://{server.address}",
            "OTEL_EXPORTER_OTLP_CERTIFICATE": str(pki.cert_file),
            "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer%20{tokens['edge-otel']}",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "10000",
            "OTEL_RESOURCE_ATTRIBUTES": "host.id=edge-otel,cloud.region=eu-west-3,"
            "parallax.hardware.tier=near-edge,deployment.environment.name=staging",
        },
    )
    app = OtlpClient(collector.address)
    app.export(export_request([inference_span() for _ in range(3)], resource={}), timeout=30)
    query = (
        "SELECT node_id, region, hardware_tier, r.attributes['deployment.environment.name'] "
        "FROM spans JOIN resource_attributes r USING (resource_id)"
    )
    rows = wait_until(lambda: lake_rows(store_settings, query), timeout=60)
    assert rows == [("edge-otel", "eu-west-3", "near-edge", "staging")] * 3
    assert collector.stop() == 0


def test_parallax_keys_win_over_otel_variables_in_a_real_collector(
    secured_server, tmp_path, store_settings
):
    server, pki, tokens = secured_server
    token_file = tmp_path / "edge-parallax.token"
    token_file.write_text(tokens["edge-parallax"] + "\n")
    collector = otel_collector(
        tmp_path,
        {
            # https without a certificate: the system's CAs, which gRPC reads from here
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"https://{server.address}",
            "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(pki.cert_file),
            "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20not-a-valid-token",
            "OTEL_RESOURCE_ATTRIBUTES": "host.id=edge-otel,cloud.region=otel-region",
            "PARALLAX_COLLECTOR_NODE_ID": "edge-parallax",
            "PARALLAX_COLLECTOR_TOKEN_FILE": str(token_file),
        },
    )
    app = OtlpClient(collector.address)
    app.export(export_request([inference_span()], resource={}), timeout=30)
    rows = wait_until(lambda: lake_rows(store_settings, "SELECT node_id, region FROM spans"))
    assert rows == [("edge-parallax", "otel-region")]
    assert collector.stop() == 0
