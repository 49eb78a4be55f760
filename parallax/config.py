"""Settings: one frozen dataclass per component, resolved once and passed down.

Precedence, lowest to highest: built-in defaults < TOML file < ``PARALLAX_*``
environment variables < command-line flags. The file is named by ``--config`` or
``PARALLAX_CONFIG``. Sections are the dataclasses below (``[store]``, ``[server]``);
an environment variable is ``PARALLAX_<SECTION>_<KEY>`` in upper case, e.g.
``PARALLAX_SERVER_LISTEN``. An unknown key or a bad value fails at start-up with an
error naming the key and where it came from. Every key is documented in
docs/configuration.md (a test enforces it).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parallax.errors import ConfigError

ENV_PREFIX = "PARALLAX_"
CONFIG_FILE_ENV = "PARALLAX_CONFIG"


def _positive(value: Any) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _host_port(value: str) -> str | None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        return "must look like HOST:PORT, e.g. 127.0.0.1:4317"
    return None


def _ratio(value: float) -> str | None:
    return None if 0 < value <= 1 else "must be greater than 0 and at most 1"


def _not_negative(value: Any) -> str | None:
    return None if value >= 0 else "must not be negative"


def _one_of(*choices: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def _listen_address(value: str) -> str | None:
    if value.startswith("unix:"):
        return None if len(value) > len("unix:") else "unix: needs a socket path"
    return _host_port(value)


def _host_port_or_empty(value: str) -> str | None:
    return _host_port(value) if value else None


def _setting(default: Any, doc: str, check: Callable[[Any], str | None] | None = None) -> Any:
    return field(default=default, metadata={"doc": doc, "check": check})


@dataclass(frozen=True)
class StoreSettings:
    """Where the lake lives."""

    path: str = _setting("./parallax-data", "Directory of the embedded lake (catalog, data, lock).")
    catalog: str = _setting(
        "",
        "Catalog database: empty for SQLite at <path>/catalog.sqlite, or a PostgreSQL "
        "connection string such as 'postgres:dbname=parallax host=127.0.0.1'.",
    )
    data_path: str = _setting("", "Where Parquet data files go: empty for <path>/data/.")
    busy_timeout_ms: int = _setting(5000, "SQLite catalog busy timeout in milliseconds.", _positive)


@dataclass(frozen=True)
class ServerSettings:
    """The ingest service (``parallax server``)."""

    listen: str = _setting("127.0.0.1:4317", "OTLP/gRPC listen address.", _host_port)
    tls_cert_file: str = _setting(
        "", "PEM certificate (chain) of the gRPC port; with tls_key_file, TLS only. Re-read "
        "on change."
    )
    tls_key_file: str = _setting("", "PEM private key of tls_cert_file.")
    tls_client_ca_file: str = _setting(
        "",
        "PEM CA bundle: clients must present a certificate it signed (mutual TLS); the "
        "certificate's Common Name is the node id.",
    )
    credentials_file: str = _setting(
        "",
        "Node credentials (parallax credentials add NODE_ID): every call must carry "
        "'authorization: Bearer <token>'; re-read on change.",
    )
    insecure: bool = _setting(
        False,
        "Allow listening beyond loopback without TLS and credentials (every start warns).",
    )
    max_message_bytes: int = _setting(
        4 * 1024 * 1024, "Largest accepted OTLP request, in bytes.", _positive
    )
    max_concurrent_requests: int = _setting(
        4096, "Requests in progress at once; more are refused with RESOURCE_EXHAUSTED.", _positive
    )
    max_connections: int = _setting(
        4096,
        "Client connections open at once, at most; more are refused by gRPC. The server "
        "raises its open-files limit to the hard limit at start and lowers this to fit it.",
        _positive,
    )
    max_streams_per_connection: int = _setting(
        256, "Requests in progress on one connection (HTTP/2 streams), at most.", _positive
    )
    connection_idle_timeout_s: float = _setting(
        120.0,
        "A connection with no request in progress for this long is closed (clients reconnect "
        "when they next send), so idle connections cannot pile up.",
        _positive,
    )
    connection_max_age_s: float = _setting(
        1800.0,
        "Every connection is closed after this long (its requests in progress get a minute "
        "to finish), which also spreads clients over replicas behind a load balancer.",
        _positive,
    )
    lake_threads: int = _setting(
        1,
        "DuckDB worker threads of the server's lake connection (ingest commits and the "
        "in-server reconciler); 0: DuckDB's default, one per core.",
        _not_negative,
    )
    flush_rows: int = _setting(
        20_000, "Group commit: a group is committed once this many spans wait.", _positive
    )
    flush_interval_ms: int = _setting(
        200,
        "Group commit: the longest the first request of a group waits for others.",
        _positive,
    )
    commit_quiet_ms: float = _setting(
        2.0,
        "Group commit: an idle writer commits what has gathered once no request has "
        "arrived for this long (clients waiting for acknowledgements send nothing more).",
        _positive,
    )
    stall_timeout_s: float = _setting(
        900.0,
        "An ingest stage busy with one piece of work (a conversion, a commit, maintenance) "
        "for longer than this makes the server unhealthy: it exits non-zero.",
        _positive,
    )
    queue_max_spans: int = _setting(
        262_144,
        "Spans accepted but not yet committed, at most; beyond it clients get "
        "RESOURCE_EXHAUSTED with RetryInfo.",
        _positive,
    )
    max_attributes_per_span: int = _setting(
        128,
        "Attributes a span keeps besides the promoted convention keys (the first ones sent); "
        "the rest are dropped and counted, as the OpenTelemetry SDK's span limits do.",
        _positive,
    )
    max_attribute_value_bytes: int = _setting(
        8192,
        "A string attribute value longer than this many bytes is cut at a character "
        "boundary and counted.",
        _positive,
    )
    stats_interval_s: float = _setting(
        10.0, "Seconds between self-telemetry summaries (log line and ingest_stats row).", _positive
    )
    maintenance_interval_s: float = _setting(
        900.0, "Seconds between lake maintenance runs (merge files, expire snapshots).", _positive
    )
    snapshot_retention_s: float = _setting(
        3600.0, "Maintenance expires lake snapshots older than this many seconds.", _positive
    )
    shutdown_grace_s: float = _setting(
        10.0, "On SIGTERM, seconds to let in-flight requests finish.", _positive
    )
    fleet_policy_file: str = _setting(
        "", "TOML file with the fleet directive for heartbeats; re-read when it changes."
    )


@dataclass(frozen=True)
class CollectorSettings:
    """The edge agent (``parallax collector``)."""

    listen: str = _setting(
        "127.0.0.1:4317",
        "Local OTLP/gRPC address apps export to: HOST:PORT, or unix:PATH for a socket only "
        "local users with file permission can use.",
        _listen_address,
    )
    receiver_token_file: str = _setting(
        "", "File with a token apps must send as 'authorization: Bearer <token>' (optional)."
    )
    insecure: bool = _setting(
        False,
        "Allow the local receiver to listen beyond loopback without a receiver token "
        "(every start warns).",
    )
    backend: str = _setting(
        "", "Address of `parallax server` (HOST:PORT); required to run.", _host_port_or_empty
    )
    backend_ca_file: str = _setting(
        "", "PEM CA bundle the server's certificate must chain to: the uplink uses TLS."
    )
    tls_cert_file: str = _setting(
        "", "PEM client certificate for mutual TLS (its Common Name is the node id)."
    )
    tls_key_file: str = _setting("", "PEM private key of collector.tls_cert_file.")
    token_file: str = _setting(
        "",
        "File with this node's token (parallax credentials add NODE_ID), sent on every call "
        "to the server; re-read on change.",
    )
    node_id: str = _setting("", "This node's id (host.id); empty for the host name.")
    hardware_tier: str = _setting(
        "",
        "parallax.hardware.tier of this node: device, near-edge or cloud.",
        _one_of("", "device", "near-edge", "cloud"),
    )
    accelerator: str = _setting("", "parallax.hardware.accelerator of this node, e.g. npu.")
    region: str = _setting("", "cloud.region of this node.")
    buffer_dir: str = _setting("./parallax-collector", "Directory of the durable buffer.")
    buffer_max_bytes: int = _setting(
        1024**3,
        "Bound of the buffer on disk; beyond it the oldest batches are dropped.",
        _positive,
    )
    buffer_segment_bytes: int = _setting(8 * 1024**2, "Size of one buffer segment file.", _positive)
    fsync: str = _setting(
        "always",
        "'always': fsync before an app's export is acknowledged (no window of loss); "
        "'interval': every fsync_interval_ms (that interval is the window of possible loss).",
        _one_of("always", "interval"),
    )
    fsync_interval_ms: int = _setting(1000, "fsync period when fsync = 'interval'.", _positive)
    zstd_level: int = _setting(3, "zstd compression level of buffered batches.")
    zstd_dictionary: bool = _setting(
        True, "Train a zstd dictionary from the node's early traffic for small batches."
    )
    batch_max_spans: int = _setting(
        2048, "Spans per buffered batch (one OTLP request to the backend), at most.", _positive
    )
    batch_max_bytes: int = _setting(
        2 * 1024**2, "Encoded OTLP bytes per buffered batch, at most.", _positive
    )
    batch_linger_ms: int = _setting(
        20, "How long app exports may wait to be buffered together (one fsync).", _not_negative
    )
    receive_max_message_bytes: int = _setting(
        4 * 1024**2, "Largest OTLP export an app may send to the collector, in bytes.", _positive
    )
    max_concurrent_exports: int = _setting(
        16,
        "App exports worked on at once; more are refused with RESOURCE_EXHAUSTED and "
        "RetryInfo.",
        _positive,
    )
    intake_max_bytes: int = _setting(
        16 * 1024**2,
        "Bytes of app exports held until buffered, at most (at least "
        "receive_max_message_bytes); more are refused with RESOURCE_EXHAUSTED and RetryInfo.",
        _positive,
    )
    dead_letter_max_bytes: int = _setting(
        64 * 1024**2,
        "Bound of dead-letter.jsonl and its one rotated predecessor together; the oldest "
        "entries beyond it are dropped and counted.",
        _positive,
    )
    max_in_flight: int = _setting(
        16,
        "Requests to the backend in flight at once (a backlog drains this many at a time).",
        _positive,
    )
    gzip: bool = _setting(True, "gzip requests to the backend.")
    request_timeout_s: float = _setting(30.0, "Deadline of one request to the backend.", _positive)
    retry_initial_s: float = _setting(0.5, "First retry backoff (full jitter).", _positive)
    retry_max_s: float = _setting(30.0, "Longest retry backoff; retries never give up.", _positive)
    bandwidth_bytes_per_s: int = _setting(
        0, "Cap on bytes sent to the backend per second (0: no cap).", _not_negative
    )
    sampling_ratio: float = _setting(
        1.0,
        "Share of inputs kept, chosen by input fingerprint (same inputs on every node).",
        _ratio,
    )
    keep_confidence_below: float = _setting(
        0.5, "Spans with parallax.confidence below this are always kept.", _not_negative
    )
    heartbeat_interval_s: float = _setting(
        15.0,
        "Seconds between heartbeats until the backend's directive says otherwise.",
        _positive,
    )
    shutdown_flush_s: float = _setting(
        5.0, "On shutdown, how long to keep shipping; the rest stays on disk.", _not_negative
    )


@dataclass(frozen=True)
class ReconcilerSettings:
    """``[reconciler]``: divergence and skew analysis, run inside ``parallax server``."""

    policies_file: str = _setting(
        "", "Policies TOML (docs/policies.md); empty: every feature gets the built-in defaults."
    )
    interval_s: float = _setting(
        60.0,
        "Seconds between incremental reconciler runs inside parallax server (0: off).",
        _not_negative,
    )
    skew_window_s: float = _setting(
        7 * 86400.0,
        "Skew looks at versions seen in traffic or node inventory within this many seconds.",
        _positive,
    )
    drift_min_answers: int = _setting(
        100,
        "Output drift judges a variant pair only when both have this many answers.",
        _positive,
    )


_MEMORY_UNITS = ("KB", "MB", "GB", "TB", "KIB", "MIB", "GIB", "TIB")


def _memory_size(value: str) -> str | None:
    text = value.strip().upper()
    unit = text.lstrip("0123456789. ")
    number = text[: len(text) - len(unit)].strip()
    valid = unit in _MEMORY_UNITS and number.replace(".", "", 1).isdigit() and float(number) > 0
    return None if valid else "must be a size such as '512MB' or '2GB'"


def _empty_or_oauth2callback(value: str) -> str | None:
    if not value or value.endswith("/oauth2callback"):
        return None
    return "must end with /oauth2callback, e.g. https://parallax.example/oauth2callback"


def _header_name(value: str) -> str | None:
    token = value and all(c.isalnum() or c in "-_" for c in value)
    return None if token else "must be an HTTP header name, e.g. X-Forwarded-Email"


@dataclass(frozen=True)
class DashboardSettings:
    """``[dashboard]``: the Streamlit app SREs open (``parallax dashboard``)."""

    listen: str = _setting("127.0.0.1:8501", "Dashboard HTTP address.", _host_port)
    latency_budget_ms: float = _setting(
        30.0, "Edge latency budget drawn on the Latency page (p50/p95/p99 against it).", _positive
    )
    refresh_s: float = _setting(
        30.0,
        "Auto-refresh period of the pages, and the time-to-live of cached queries.",
        _positive,
    )
    heartbeat_tolerance_s: float = _setting(
        90.0, "A node silent longer than this is stale; three times this, offline.", _positive
    )
    query_row_limit: int = _setting(10_000, "Rows the SQL page returns at most.", _positive)
    query_timeout_s: float = _setting(
        10.0, "The SQL page stops a query running longer than this.", _positive
    )
    sql_memory_limit: str = _setting(
        "1GB",
        "Memory one SQL page query may use (DuckDB's memory_limit, e.g. '512MB', '2GB'); "
        "a query that needs more is stopped.",
        _memory_size,
    )
    sql_max_result_bytes: int = _setting(
        32 * 1024 * 1024,
        "Bytes of result (Arrow data) one SQL page query returns at most; rows past it are cut.",
        _positive,
    )
    auth: str = _setting(
        "none",
        "Who may look: 'none' (loopback only), 'oidc' (Streamlit's OpenID Connect login) or "
        "'proxy' (a signing-in reverse proxy passes the user in proxy_user_header).",
        _one_of("none", "oidc", "proxy"),
    )
    insecure: bool = _setting(
        False,
        "Allow listening beyond loopback without authentication, or in proxy mode (every "
        "start warns, every page shows a banner).",
    )
    oidc_server_metadata_url: str = _setting(
        "",
        "The OpenID provider's discovery document, e.g. "
        "'https://accounts.google.com/.well-known/openid-configuration'.",
    )
    oidc_client_id: str = _setting("", "The dashboard's client id at the OpenID provider.")
    oidc_client_secret_file: str = _setting(
        "", "File holding the client secret (one line; the secret never goes in the config)."
    )
    oidc_redirect_uri: str = _setting(
        "",
        "Where the provider sends people back: the dashboard's public URL + '/oauth2callback'.",
        _empty_or_oauth2callback,
    )
    oidc_cookie_secret_file: str = _setting(
        "",
        "File holding the secret that signs the login cookie; empty: a new random one at "
        "every start (everyone signs in again after a restart).",
    )
    proxy_user_header: str = _setting(
        "X-Forwarded-Email",
        "The header the reverse proxy sets to the signed-in user (oauth2-proxy: "
        "X-Forwarded-Email; nginx auth_request: whatever proxy_set_header names).",
        _header_name,
    )
    proxy_sign_out_url: str = _setting(
        "", "The proxy's sign-out link shown in the sidebar, e.g. '/oauth2/sign_out'."
    )


@dataclass(frozen=True)
class Settings:
    """All settings, one section per component."""

    store: StoreSettings = field(default_factory=StoreSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    collector: CollectorSettings = field(default_factory=CollectorSettings)
    reconciler: ReconcilerSettings = field(default_factory=ReconcilerSettings)
    dashboard: DashboardSettings = field(default_factory=DashboardSettings)


_SECTION_TYPES: dict[str, type] = {
    "store": StoreSettings,
    "server": ServerSettings,
    "collector": CollectorSettings,
    "reconciler": ReconcilerSettings,
    "dashboard": DashboardSettings,
}


def load_settings(
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve settings from defaults, the TOML file, the environment and flag overrides.

    ``overrides`` maps ``"section.key"`` to a value (flags the user actually gave).
    """
    env = os.environ if env is None else env
    config_file = config_file or env.get(CONFIG_FILE_ENV) or None
    values: dict[str, dict[str, Any]] = {name: {} for name in _SECTION_TYPES}
    if config_file:
        _merge_file(values, Path(config_file))
    _merge_env(values, env)
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        values[section][key] = (value, "command line")
    return Settings(**{name: _build(cls, values[name]) for name, cls in _SECTION_TYPES.items()})


def documented_keys() -> dict[str, str]:
    """Every setting as ``section.key`` with its one-line documentation."""
    return {
        f"{section}.{f.name}": f.metadata["doc"]
        for section, cls in _SECTION_TYPES.items()
        for f in dataclasses.fields(cls)
    }


def _merge_file(values: dict[str, dict[str, Any]], path: Path) -> None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: configuration file not found") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    for section, table in data.items():
        if section not in _SECTION_TYPES:
            raise ConfigError(f"{path}: unknown section [{section}]")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
        for key, value in table.items():
            _require_known(section, key, str(path))
            values[section][key] = (value, str(path))


def _merge_env(values: dict[str, dict[str, Any]], env: Mapping[str, str]) -> None:
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_FILE_ENV:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("_")
        source = f"environment variable {name}"
        if section not in _SECTION_TYPES:
            raise ConfigError(f"{source}: unknown section {section!r}")
        _require_known(section, key, source)
        values[section][key] = (_from_text(_field(section, key).type, raw), source)


def _require_known(section: str, key: str, source: str) -> None:
    known = {f.name for f in dataclasses.fields(_SECTION_TYPES[section])}
    if key not in known:
        raise ConfigError(
            f"{source}: unknown key {section}.{key} (known: {', '.join(sorted(known))})"
        )


def _field(section: str, key: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(_SECTION_TYPES[section]) if f.name == key)


def _from_text(type_name: Any, raw: str) -> Any:
    """Environment values are text; turn them into the field's type where they parse."""
    kind = type_name if isinstance(type_name, str) else type_name.__name__
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        return raw  # left as text: _build reports it with the key and source
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
    return raw


def _build(cls: type, supplied: dict[str, tuple[Any, str]]) -> Any:
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in supplied:
            continue
        value, source = supplied[f.name]
        section = next(name for name, c in _SECTION_TYPES.items() if c is cls)
        kwargs[f.name] = _validated(f, value, f"{source}: {section}.{f.name}")
    return cls(**kwargs)


def _validated(f: dataclasses.Field, value: Any, where: str) -> Any:
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    expected = {"int": int, "float": float, "str": str, "bool": bool}[kind]
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {kind}, got {value!r}")
    check = f.metadata.get("check")
    problem = check(value) if check else None
    if problem:
        raise ConfigError(f"{where}: {problem} (got {value!r})")
    return value
