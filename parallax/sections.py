"""The settings sections: one frozen dataclass per component (``[store]``, ``[server]``,
...). Each key carries its default, its one-line documentation (docs/configuration.md
repeats it; a test ties the two) and its check (parallax.checks)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from parallax.checks import (
    empty_or_oauth2callback,
    header_name,
    host_port,
    host_port_or_empty,
    listen_address,
    memory_size,
    not_negative,
    one_of,
    positive,
    ratio,
)
from parallax.logs import FORMATS, LEVELS


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
    busy_timeout_ms: int = _setting(5000, "SQLite catalog busy timeout in milliseconds.", positive)
    retention_days: int = _setting(
        30,
        "Spans are kept this many days by start time (whole UTC days, deleted by the "
        "server's maintenance); 0 keeps them forever.",
        not_negative,
    )
    heartbeat_retention_days: int = _setting(
        7, "Heartbeat rows (node_heartbeats) are kept this many days; 0: forever.", not_negative
    )
    ledger_retention_days: int = _setting(
        30,
        "Ingest ledger rows (ingested_batches) are kept this many days; at least "
        "retention_days, and 0 (forever) when spans are kept forever (effectively-once).",
        not_negative,
    )
    stats_retention_days: int = _setting(
        30, "Self-telemetry rows (ingest_stats) are kept this many days; 0: forever.", not_negative
    )


@dataclass(frozen=True)
class ServerSettings:
    """The ingest service (``parallax server``)."""

    listen: str = _setting("127.0.0.1:4317", "OTLP/gRPC listen address.", host_port)
    http_listen: str = _setting(
        "127.0.0.1:4318",
        "OTLP/HTTP listen address (POST /v1/traces, protobuf or JSON); empty turns it off. "
        "Same TLS, credentials and limits as the gRPC port.",
        host_port_or_empty,
    )
    http_body_timeout_s: float = _setting(
        30.0,
        "An OTLP/HTTP request body not received in full within this many seconds closes "
        "its connection (a slow sender cannot hold one).",
        positive,
    )
    tls_cert_file: str = _setting(
        "",
        "PEM certificate (chain) of the gRPC port; with tls_key_file, TLS only. Re-read on change.",
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
    metrics_listen: str = _setting(
        "127.0.0.1:9464",
        "HTTP address of /metrics (Prometheus), /healthz and /readyz; empty turns it off. "
        "Read-only, but names nodes: beyond loopback only where the network is trusted.",
        host_port_or_empty,
    )
    max_message_bytes: int = _setting(
        4 * 1024 * 1024, "Largest accepted OTLP request, in bytes.", positive
    )
    max_concurrent_requests: int = _setting(
        4096, "Requests in progress at once; more are refused with RESOURCE_EXHAUSTED.", positive
    )
    max_connections: int = _setting(
        4096,
        "Client connections open at once, at most; more are refused by gRPC. The server "
        "raises its open-files limit to the hard limit at start and lowers this to fit it.",
        positive,
    )
    max_streams_per_connection: int = _setting(
        256, "Requests in progress on one connection (HTTP/2 streams), at most.", positive
    )
    connection_idle_timeout_s: float = _setting(
        120.0,
        "A connection with no request in progress for this long is closed (clients reconnect "
        "when they next send), so idle connections cannot pile up.",
        positive,
    )
    connection_max_age_s: float = _setting(
        1800.0,
        "Every connection is closed after this long (its requests in progress get a minute "
        "to finish), which also spreads clients over replicas behind a load balancer.",
        positive,
    )
    lake_threads: int = _setting(
        1,
        "DuckDB worker threads of the server's lake connection (ingest commits and the "
        "in-server reconciler); 0: DuckDB's default, one per core.",
        not_negative,
    )
    flush_rows: int = _setting(
        20_000, "Group commit: a group is committed once this many spans wait.", positive
    )
    flush_interval_ms: int = _setting(
        200,
        "Group commit: the longest the first request of a group waits for others.",
        positive,
    )
    commit_quiet_ms: float = _setting(
        2.0,
        "Group commit: an idle writer commits what has gathered once no request has "
        "arrived for this long (clients waiting for acknowledgements send nothing more).",
        positive,
    )
    stall_timeout_s: float = _setting(
        900.0,
        "An ingest stage busy with one piece of work (a conversion, a commit, maintenance) "
        "for longer than this makes the server unhealthy: it exits non-zero.",
        positive,
    )
    queue_max_spans: int = _setting(
        262_144,
        "Spans accepted but not yet committed, at most; beyond it clients get "
        "RESOURCE_EXHAUSTED with RetryInfo.",
        positive,
    )
    max_attributes_per_span: int = _setting(
        128,
        "Attributes a span keeps besides the promoted convention keys (the first ones sent); "
        "the rest are dropped and counted, as the OpenTelemetry SDK's span limits do.",
        positive,
    )
    max_attribute_value_bytes: int = _setting(
        8192,
        "A string attribute value longer than this many bytes is cut at a character "
        "boundary and counted.",
        positive,
    )
    stats_interval_s: float = _setting(
        10.0, "Seconds between self-telemetry summaries (log line and ingest_stats row).", positive
    )
    maintenance_interval_s: float = _setting(
        900.0, "Seconds between lake maintenance runs (merge files, expire snapshots).", positive
    )
    snapshot_retention_s: float = _setting(
        300.0,
        "Lake snapshots (time travel) older than this are expired, every tenth of it; "
        "each kept snapshot makes every commit slower.",
        positive,
    )
    file_retention_s: float = _setting(
        3600.0,
        "Data files no snapshot uses any more stay on disk this long (longer than any "
        "reader's query), then maintenance deletes them.",
        positive,
    )
    shutdown_grace_s: float = _setting(
        10.0, "On SIGTERM, seconds to let in-flight requests finish.", positive
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
        listen_address,
    )
    receiver_token_file: str = _setting(
        "", "File with a token apps must send as 'authorization: Bearer <token>' (optional)."
    )
    insecure: bool = _setting(
        False,
        "Allow the local receiver to listen beyond loopback without a receiver token "
        "(every start warns).",
    )
    http_listen: str = _setting(
        "127.0.0.1:4318",
        "Local OTLP/HTTP address apps export to (POST /v1/traces, protobuf or JSON): "
        "HOST:PORT, empty turns it off. Same token, admission and answers as collector.listen.",
        host_port_or_empty,
    )
    metrics_listen: str = _setting(
        "127.0.0.1:9465",
        "HTTP address of /metrics (Prometheus), /healthz and /readyz; empty turns it off.",
        host_port_or_empty,
    )
    backend: str = _setting(
        "", "Address of `parallax server` (HOST:PORT); required to run.", host_port_or_empty
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
        one_of("", "device", "near-edge", "cloud"),
    )
    accelerator: str = _setting("", "parallax.hardware.accelerator of this node, e.g. npu.")
    region: str = _setting("", "cloud.region of this node.")
    buffer_dir: str = _setting("./parallax-collector", "Directory of the durable buffer.")
    buffer_max_bytes: int = _setting(
        1024**3,
        "Bound of the buffer on disk; beyond it the oldest batches are dropped.",
        positive,
    )
    buffer_segment_bytes: int = _setting(8 * 1024**2, "Size of one buffer segment file.", positive)
    fsync: str = _setting(
        "always",
        "'always': fsync before an app's export is acknowledged (no window of loss); "
        "'interval': every fsync_interval_ms (that interval is the window of possible loss).",
        one_of("always", "interval"),
    )
    fsync_interval_ms: int = _setting(1000, "fsync period when fsync = 'interval'.", positive)
    zstd_level: int = _setting(3, "zstd compression level of buffered batches.")
    zstd_dictionary: bool = _setting(
        True, "Train a zstd dictionary from the node's early traffic for small batches."
    )
    batch_max_spans: int = _setting(
        2048, "Spans per buffered batch (one OTLP request to the backend), at most.", positive
    )
    batch_max_bytes: int = _setting(
        2 * 1024**2, "Encoded OTLP bytes per buffered batch, at most.", positive
    )
    batch_linger_ms: int = _setting(
        20, "How long app exports may wait to be buffered together (one fsync).", not_negative
    )
    receive_max_message_bytes: int = _setting(
        4 * 1024**2, "Largest OTLP export an app may send to the collector, in bytes.", positive
    )
    max_concurrent_exports: int = _setting(
        16,
        "App exports worked on at once; more are refused with RESOURCE_EXHAUSTED and RetryInfo.",
        positive,
    )
    intake_max_bytes: int = _setting(
        16 * 1024**2,
        "Bytes of app exports held until buffered, at most (at least "
        "receive_max_message_bytes); more are refused with RESOURCE_EXHAUSTED and RetryInfo.",
        positive,
    )
    dead_letter_max_bytes: int = _setting(
        64 * 1024**2,
        "Bound of dead-letter.jsonl and its one rotated predecessor together; the oldest "
        "entries beyond it are dropped and counted.",
        positive,
    )
    max_in_flight: int = _setting(
        16,
        "Requests to the backend in flight at once (a backlog drains this many at a time).",
        positive,
    )
    gzip: bool = _setting(True, "gzip requests to the backend.")
    request_timeout_s: float = _setting(30.0, "Deadline of one request to the backend.", positive)
    retry_initial_s: float = _setting(0.5, "First retry backoff (full jitter).", positive)
    retry_max_s: float = _setting(30.0, "Longest retry backoff; retries never give up.", positive)
    bandwidth_bytes_per_s: int = _setting(
        0, "Cap on bytes sent to the backend per second (0: no cap).", not_negative
    )
    sampling_ratio: float = _setting(
        1.0,
        "Share of inputs kept, chosen by input fingerprint (same inputs on every node).",
        ratio,
    )
    keep_confidence_below: float = _setting(
        0.5, "Spans with parallax.confidence below this are always kept.", not_negative
    )
    heartbeat_interval_s: float = _setting(
        15.0,
        "Seconds between heartbeats until the backend's directive says otherwise.",
        positive,
    )
    shutdown_flush_s: float = _setting(
        5.0, "On shutdown, how long to keep shipping; the rest stays on disk.", not_negative
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
        not_negative,
    )
    skew_window_s: float = _setting(
        7 * 86400.0,
        "Skew looks at versions seen in traffic or node inventory within this many seconds.",
        positive,
    )
    drift_min_answers: int = _setting(
        100,
        "Output drift judges a variant pair only when both have this many answers.",
        positive,
    )
    latency_window_s: float = _setting(
        3600.0,
        "The latency budget check judges each variant's warm p99 over the spans that "
        "started in this many seconds before the run (whole minutes).",
        positive,
    )
    latency_min_spans: int = _setting(
        100,
        "The latency budget check judges a variant only with this many warm spans in its window.",
        positive,
    )


@dataclass(frozen=True)
class DashboardSettings:
    """``[dashboard]``: the Streamlit app SREs open (``parallax dashboard``)."""

    listen: str = _setting("127.0.0.1:8501", "Dashboard HTTP address.", host_port)
    refresh_s: float = _setting(
        30.0,
        "Auto-refresh period of the pages, and the time-to-live of cached queries.",
        positive,
    )
    heartbeat_tolerance_s: float = _setting(
        90.0, "A node silent longer than this is stale; three times this, offline.", positive
    )
    query_row_limit: int = _setting(10_000, "Rows the SQL page returns at most.", positive)
    query_timeout_s: float = _setting(
        10.0, "The SQL page stops a query running longer than this.", positive
    )
    sql_memory_limit: str = _setting(
        "1GB",
        "Memory one SQL page query may use (DuckDB's memory_limit, e.g. '512MB', '2GB'); "
        "a query that needs more is stopped.",
        memory_size,
    )
    sql_max_result_bytes: int = _setting(
        32 * 1024 * 1024,
        "Bytes of result (Arrow data) one SQL page query returns at most; rows past it are cut.",
        positive,
    )
    auth: str = _setting(
        "none",
        "Who may look: 'none' (loopback only), 'oidc' (Streamlit's OpenID Connect login) or "
        "'proxy' (a signing-in reverse proxy passes the user in proxy_user_header).",
        one_of("none", "oidc", "proxy"),
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
        empty_or_oauth2callback,
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
        header_name,
    )
    proxy_sign_out_url: str = _setting(
        "", "The proxy's sign-out link shown in the sidebar, e.g. '/oauth2/sign_out'."
    )


@dataclass(frozen=True)
class LogSettings:
    """``[log]``: what every ``parallax`` command writes to stderr."""

    format: str = _setting(
        "text",
        "'text': one readable line a record; 'json': one JSON object a line (time, level, "
        "logger, message, fields).",
        one_of(*FORMATS),
    )
    level: str = _setting(
        "info", "Least severe level written: debug, info, warning or error.", one_of(*LEVELS)
    )


@dataclass(frozen=True)
class Settings:
    """All settings, one section per component."""

    store: StoreSettings = field(default_factory=StoreSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    collector: CollectorSettings = field(default_factory=CollectorSettings)
    reconciler: ReconcilerSettings = field(default_factory=ReconcilerSettings)
    dashboard: DashboardSettings = field(default_factory=DashboardSettings)
    log: LogSettings = field(default_factory=LogSettings)


SECTION_TYPES: dict[str, type] = {
    "store": StoreSettings,
    "server": ServerSettings,
    "collector": CollectorSettings,
    "reconciler": ReconcilerSettings,
    "dashboard": DashboardSettings,
    "log": LogSettings,
}
