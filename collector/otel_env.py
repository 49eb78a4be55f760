"""The OpenTelemetry environment variables the collector reads, as the OTel SDKs read them.

An edge node often already says who it is and where its telemetry goes in the standard
variables; the collector takes them as defaults. Each variable stands in for the
Parallax key(s) below, and only where that key is not set: built-in default < OTEL_* <
configuration file < ``PARALLAX_*`` variables < flags (docs/collector.md). A trace-specific
variable (``OTEL_EXPORTER_OTLP_TRACES_*``) wins over its general one.

================================================  =====================================
``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``           ``collector.backend`` (host:port);
                                                   the scheme picks TLS (below)
``OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE``        ``collector.backend_ca_file``
``OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_CERTIFICATE`` ``collector.tls_cert_file``
``OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_KEY``         ``collector.tls_key_file``
``OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION``        ``collector.gzip`` (gzip | none)
``OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT``            ``collector.request_timeout_s`` (ms)
``OTEL_EXPORTER_OTLP_[TRACES_]HEADERS``            sent on every uplink call; an
                                                   ``authorization`` header only without
                                                   ``collector.token_file``
``OTEL_RESOURCE_ATTRIBUTES`` host.id (else         ``collector.node_id``
host.name), cloud.region,                          ``collector.region``,
parallax.hardware.tier / .accelerator              ``collector.hardware_tier`` / ``accelerator``
other attributes and ``OTEL_SERVICE_NAME``         added to spans whose resource lacks them
================================================  =====================================

Transport as the OTLP/gRPC exporter spec says: ``https://`` is TLS, ``http://`` is
plaintext, no scheme is TLS unless ``OTEL_EXPORTER_OTLP_[TRACES_]INSECURE=true``; TLS
without a certificate trusts the system's CAs. The uplink speaks OTLP/gRPC only, so a
protocol other than ``grpc`` is refused. A malformed value stops the collector with a
ConfigError naming the variable (never echoing a header's value: it may be a secret).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from parallax import conventions as conv
from parallax.conventions import parse_tier
from parallax.errors import ConfigError

EXPORTER_PREFIX = "OTEL_EXPORTER_OTLP_"
TRACES_PREFIX = "OTEL_EXPORTER_OTLP_TRACES_"
RESOURCE_ATTRIBUTES = "OTEL_RESOURCE_ATTRIBUTES"
SERVICE_NAME = "OTEL_SERVICE_NAME"
HOST_NAME = "host.name"
AUTHORIZATION = "authorization"
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 7230 token: baggage keys
_GRPC_KEY = re.compile(r"[0-9a-z_.\-]+")
_RESERVED_HEADERS = ("content-type", "te", "host", "connection", "user-agent")
_RESERVED_PREFIXES = ("grpc-", "parallax-", ":")
_DEFAULT_PORTS = {"https": 443, "http": 80}
_FILE_KEYS = {
    "CERTIFICATE": "backend_ca_file",
    "CLIENT_CERTIFICATE": "tls_cert_file",
    "CLIENT_KEY": "tls_key_file",
}
_IDENTITY_KEYS = {
    conv.CLOUD_REGION: "region",
    conv.HARDWARE_TIER: "hardware_tier",
    conv.HARDWARE_ACCELERATOR: "accelerator",
}


@dataclass(frozen=True)
class OtelEndpoint:
    """Where OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT points, and whether it asks for TLS."""

    address: str
    tls: bool
    variable: str
    protocol_problem: str = ""  # why its OTEL_EXPORTER_OTLP_PROTOCOL does not fit the uplink


@dataclass(frozen=True)
class OtelEnvironment:
    """What the OTEL_* variables say, parsed and checked; empty when none is set."""

    fallbacks: dict[str, tuple[Any, str]] = field(default_factory=dict)
    endpoint: OtelEndpoint | None = None
    headers: tuple[tuple[str, str], ...] = ()
    resource: tuple[tuple[str, str], ...] = ()  # besides those mapped to collector keys

    def uplink_headers(self, token_file: str) -> tuple[tuple[str, str], ...]:
        """The headers every uplink call carries; collector.token_file wins over an
        ``authorization`` header."""
        if not token_file:
            return self.headers
        return tuple((key, value) for key, value in self.headers if key != AUTHORIZATION)

    def check(self, backend: str, listen: str) -> None:
        """Refuse to ship to the OTEL endpoint when it is not an OTLP/gRPC one, or when it
        is the collector's own receiver (the apps' variables leaked into its environment)."""
        endpoint = self.endpoint
        if endpoint is None or endpoint.address != backend:
            return
        if endpoint.protocol_problem:
            raise ConfigError(endpoint.protocol_problem)
        if _same_address(backend, listen):
            raise ConfigError(
                f"{endpoint.variable} points at this collector's own receiver "
                f"(collector.listen {listen}): set collector.backend to the server"
            )

    def tls_with_system_roots(self, backend: str, backend_ca_file: str) -> bool:
        """TLS trusting the system's CAs: the backend is the OTEL endpoint, which asks for
        TLS, and no CA bundle is configured."""
        endpoint = self.endpoint
        return bool(endpoint and endpoint.tls and endpoint.address == backend) and (
            not backend_ca_file
        )


NO_OTEL = OtelEnvironment()


def read_otel_environment(env: Mapping[str, str]) -> OtelEnvironment:
    """Parse the OTEL_* variables of ``env``; raises ConfigError naming a malformed one."""
    fallbacks: dict[str, tuple[Any, str]] = {}
    endpoint = _endpoint(env, fallbacks)
    for suffix, key in _FILE_KEYS.items():
        if found := _exporter_variable(env, suffix):
            fallbacks[f"collector.{key}"] = (found[1], _source(found[0]))
    if found := _exporter_variable(env, "COMPRESSION"):
        fallbacks["collector.gzip"] = (_compression(*found), _source(found[0]))
    if found := _exporter_variable(env, "TIMEOUT"):
        fallbacks["collector.request_timeout_s"] = (_timeout_s(*found), _source(found[0]))
    headers: tuple[tuple[str, str], ...] = ()
    if found := _exporter_variable(env, "HEADERS"):
        headers = tuple(_header(found[0], key, value) for key, value in _members(*found, True))
    resource = _resource(env, fallbacks)
    if endpoint and not endpoint.tls and "collector.backend_ca_file" in fallbacks:
        raise ConfigError(
            f"{_endpoint_variable(env)} is http:// (plaintext) but "
            f"{_exporter_variable(env, 'CERTIFICATE')[0]} names a CA: use https://"
        )
    return OtelEnvironment(fallbacks, endpoint, headers, resource)


def _source(name: str) -> str:
    return f"environment variable {name}"


def _exporter_variable(env: Mapping[str, str], suffix: str) -> tuple[str, str] | None:
    """(name, value) of the trace-specific variable if set, else of the general one."""
    for name in (TRACES_PREFIX + suffix, EXPORTER_PREFIX + suffix):
        if env.get(name, "").strip():
            return name, env[name].strip()
    return None


def _endpoint_variable(env: Mapping[str, str]) -> str:
    found = _exporter_variable(env, "ENDPOINT")
    return found[0] if found else ""


def _endpoint(env: Mapping[str, str], fallbacks: dict[str, tuple[Any, str]]) -> OtelEndpoint | None:
    found = _exporter_variable(env, "ENDPOINT")
    if found is None:
        return None
    name, raw = found
    protocol_problem = ""
    if (protocol := _exporter_variable(env, "PROTOCOL")) and protocol[1] != "grpc":
        protocol_problem = (
            f"{protocol[0]}={protocol[1]!r}: the collector's uplink speaks OTLP/gRPC only "
            f"(set it to grpc, or set collector.backend instead of {name})"
        )
    has_scheme = "://" in raw
    parsed = urllib.parse.urlsplit(raw if has_scheme else f"//{raw}")
    if has_scheme and parsed.scheme not in _DEFAULT_PORTS:
        raise ConfigError(f"{name}: the scheme must be http or https, got {parsed.scheme!r}")
    try:
        port = parsed.port or (_DEFAULT_PORTS[parsed.scheme] if has_scheme else None)
    except ValueError as err:
        raise ConfigError(f"{name}: not a valid URL ({err})") from err
    if not parsed.hostname or port is None or parsed.username or parsed.password:
        raise ConfigError(
            f"{name}: must be a URL such as https://parallax.example:4317 (a host and a port, "
            "no user or password)"
        )
    host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
    address = f"{host}:{port}"
    if has_scheme:
        tls = parsed.scheme == "https"
    else:
        insecure = _exporter_variable(env, "INSECURE")
        tls = not (insecure and _boolean(*insecure))
    fallbacks["collector.backend"] = (address, _source(name))
    return OtelEndpoint(address, tls, name, protocol_problem)


def _same_address(first: str, second: str) -> bool:
    """Whether two HOST:PORT addresses are one, counting every loopback name as one."""
    loopback = {"localhost", "127.0.0.1", "[::1]", "0.0.0.0", "[::]"}
    host_a, _, port_a = first.rpartition(":")
    host_b, _, port_b = second.rpartition(":")
    same_host = host_a == host_b or (host_a in loopback and host_b in loopback)
    return port_a == port_b and same_host


def _boolean(name: str, raw: str) -> bool:
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        raise ConfigError(f"{name}: must be true or false, got {raw!r}")
    return lowered == "true"


def _compression(name: str, raw: str) -> bool:
    if raw.lower() not in ("gzip", "none"):
        raise ConfigError(f"{name}: must be gzip or none, got {raw!r}")
    return raw.lower() == "gzip"


def _timeout_s(name: str, raw: str) -> float:
    if not raw.isdigit() or int(raw) == 0:
        raise ConfigError(f"{name}: must be a whole number of milliseconds above 0, got {raw!r}")
    return int(raw) / 1000.0


def _members(name: str, raw: str, secret: bool) -> list[tuple[str, str]]:
    """``key=value,key=value`` as the W3C Baggage header format writes it: whitespace
    around keys and values trimmed, values percent-decoded (UTF-8), ``;properties``
    dropped. ``secret``: errors never show a value."""
    members = []
    for position, member in enumerate(raw.split(","), start=1):
        if not member.strip():
            continue
        key, sep, value = member.split(";", 1)[0].partition("=")
        key, value = key.strip(), value.strip()
        shown = "" if secret else f" {member.strip()!r}"
        if not sep or not _TOKEN.fullmatch(key):
            raise ConfigError(
                f"{name}: member {position}{shown} is not key=value with a token as its key"
            )
        try:
            decoded = urllib.parse.unquote(value, errors="strict")
        except UnicodeDecodeError as err:
            raise ConfigError(
                f"{name}: the value of {key!r} is not UTF-8 once percent-decoded"
            ) from err
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in decoded):
            raise ConfigError(f"{name}: the value of {key!r} holds control characters")
        members.append((key, decoded))
    return members


def _header(name: str, key: str, value: str) -> tuple[str, str]:
    """A header as gRPC metadata: lower-case key, printable ASCII value, not one the
    uplink or gRPC sets itself."""
    key = key.lower()
    if (
        not _GRPC_KEY.fullmatch(key)
        or key.endswith("-bin")
        or key in _RESERVED_HEADERS
        or key.startswith(_RESERVED_PREFIXES)
    ):
        raise ConfigError(f"{name}: {key!r} cannot be sent as a header on the uplink")
    if not value.isascii():
        raise ConfigError(f"{name}: the value of {key!r} must be ASCII")
    return key, value


def _resource(
    env: Mapping[str, str], fallbacks: dict[str, tuple[Any, str]]
) -> tuple[tuple[str, str], ...]:
    """Resource attributes: the identity keys become collector fallbacks, the rest are
    returned to be added to spans that lack them."""
    attributes: dict[str, tuple[str, str]] = {}  # key -> (value, variable)
    if env.get(RESOURCE_ATTRIBUTES, "").strip():
        raw = env[RESOURCE_ATTRIBUTES]
        for key, value in _members(RESOURCE_ATTRIBUTES, raw, secret=False):
            attributes[key] = (value, RESOURCE_ATTRIBUTES)
    if env.get(SERVICE_NAME, "").strip():  # the spec: it wins over service.name above
        attributes[conv.SERVICE_NAME] = (env[SERVICE_NAME].strip(), SERVICE_NAME)
    node = attributes.get(conv.HOST_ID) or attributes.get(HOST_NAME)
    if node:
        if not node[0].isascii() or not node[0].isprintable() or " " in node[0]:
            raise ConfigError(f"{node[1]}: a node id must be printable ASCII without spaces")
        fallbacks["collector.node_id"] = (node[0], _source(node[1]))
    for key, setting in _IDENTITY_KEYS.items():
        if key in attributes:
            value, variable = attributes[key]
            if key == conv.HARDWARE_TIER and (tier := parse_tier(value)) is not None:
                value = tier.value  # the canonical word; an unknown one fails the key's check
            fallbacks[f"collector.{setting}"] = (value, _source(variable))
    mapped = {conv.HOST_ID, *_IDENTITY_KEYS}
    return tuple((key, value) for key, (value, _) in attributes.items() if key not in mapped)
