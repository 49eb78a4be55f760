"""The settings sections: one frozen dataclass per component (``[store]``, ``[server]``,
...; ``[collector]`` in parallax.collector_settings). Each key is a
:func:`parallax.setting.setting`: its default, its one-line documentation and its check."""

from __future__ import annotations

from dataclasses import dataclass, field

from parallax.checks import (
    empty_or_oauth2callback,
    header_name,
    host_port,
    host_port_or_empty,
    memory_size,
    not_negative,
    one_of,
    positive,
)
from parallax.collector_settings import CollectorSettings
from parallax.logs import FORMATS, LEVELS
from parallax.setting import setting


@dataclass(frozen=True)
class StoreSettings:
    """Where the lake lives."""

    path: str = setting("./parallax-data", "Directory of the embedded lake (catalog, data, lock).")
    catalog: str = setting(
        "",
        "Catalog database: empty for SQLite at <path>/catalog.sqlite, or a PostgreSQL "
        "connection string such as 'postgres:dbname=parallax host=127.0.0.1'.",
    )
    data_path: str = setting("", "Where Parquet data files go: empty for <path>/data/.")
    busy_timeout_ms: int = setting(5000, "SQLite catalog busy timeout in milliseconds.", positive)
    retention_days: int = setting(
        30,
        "Spans are kept this many days by start time (whole UTC days, deleted by the "
        "server's maintenance); 0 keeps them forever.",
        not_negative,
    )
    heartbeat_retention_days: int = setting(
        7, "Heartbeat rows (node_heartbeats) are kept this many days; 0: forever.", not_negative
    )
    ledger_retention_days: int = setting(
        30,
        "Ingest ledger rows (ingested_batches) are kept this many days; at least "
        "retention_days, and 0 (forever) when spans are kept forever (effectively-once).",
        not_negative,
    )
    stats_retention_days: int = setting(
        30, "Self-telemetry rows (ingest_stats) are kept this many days; 0: forever.", not_negative
    )


@dataclass(frozen=True)
class ServerSettings:
    """The ingest service (``parallax server``)."""

    listen: str = setting("127.0.0.1:4317", "OTLP/gRPC listen address.", host_port)
    http_listen: str = setting(
        "127.0.0.1:4318",
        "OTLP/HTTP listen address (POST /v1/traces, protobuf or JSON); empty turns it off. "
        "Same TLS, credentials and limits as the gRPC port.",
        host_port_or_empty,
    )
    http_body_timeout_s: float = setting(
        30.0,
        "An OTLP/HTTP request body not received in full within this many seconds closes "
        "its connection (a slow sender cannot hold one).",
        positive,
    )
    tls_cert_file: str = setting(
        "",
        "PEM certificate (chain) of the gRPC port; with tls_key_file, TLS only. Re-read on change.",
    )
    tls_key_file: str = setting("", "PEM private key of tls_cert_file.")
    tls_client_ca_file: str = setting(
        "",
        "PEM CA bundle: clients must present a certificate it signed (mutual TLS); the "
        "certificate's Common Name is the node id.",
    )
    credentials_file: str = setting(
        "",
        "Node credentials (parallax credentials add NODE_ID): every call must carry "
        "'authorization: Bearer <token>'; re-read on change.",
    )
    insecure: bool = setting(
        False,
        "Allow listening beyond loopback without TLS and credentials (every start warns).",
    )
    metrics_listen: str = setting(
        "127.0.0.1:9464",
        "HTTP address of /metrics (Prometheus), /healthz and /readyz; empty turns it off. "
        "Read-only, but names nodes: beyond loopback only where the network is trusted.",
        host_port_or_empty,
    )
    max_message_bytes: int = setting(
        4 * 1024 * 1024, "Largest accepted OTLP request, in bytes.", positive
    )
    max_concurrent_requests: int = setting(
        4096, "Requests in progress at once; more are refused with RESOURCE_EXHAUSTED.", positive
    )
    max_connections: int = setting(
        4096,
        "Client connections open at once, at most; more are refused by gRPC. The server "
        "raises its open-files limit to the hard limit at start and lowers this to fit it.",
        positive,
    )
    max_streams_per_connection: int = setting(
        256, "Requests in progress on one connection (HTTP/2 streams), at most.", positive
    )
    connection_idle_timeout_s: float = setting(
        120.0,
        "A connection with no request in progress for this long is closed (clients reconnect "
        "when they next send), so idle connections cannot pile up.",
        positive,
    )
    connection_max_age_s: float = setting(
        1800.0,
        "Every connection is closed after this long (its requests in progress get a minute "
        "to finish), which also spreads clients over replicas behind a load balancer.",
        positive,
    )
    lake_threads: int = setting(
        1,
        "DuckDB worker threads of the server's lake connection (ingest commits and the "
        "in-server reconciler); 0: DuckDB's default, one per core.",
        not_negative,
    )
    flush_rows: int = setting(
        20_000, "Group commit: a group is committed once this many spans wait.", positive
    )
    flush_interval_ms: int = setting(
        200,
        "Group commit: the longest the first request of a group waits for others.",
        positive,
    )
    commit_quiet_ms: float = setting(
        2.0,
        "Group commit: an idle writer commits what has gathered once no request has "
        "arrived for this long (clients waiting for acknowledgements send nothing more).",
        positive,
    )
    stall_timeout_s: float = setting(
        900.0,
        "An ingest stage busy with one piece of work (a conversion, a commit, maintenance) "
        "for longer than this makes the server unhealthy: it exits non-zero.",
        positive,
    )
    queue_max_spans: int = setting(
        262_144,
        "Spans accepted but not yet committed, at most; beyond it clients get "
        "RESOURCE_EXHAUSTED with RetryInfo.",
        positive,
    )
    max_attributes_per_span: int = setting(
        128,
        "Attributes a span keeps besides the promoted convention keys (the first ones sent); "
        "the rest are dropped and counted, as the OpenTelemetry SDK's span limits do.",
        positive,
    )
    max_attribute_value_bytes: int = setting(
        8192,
        "A string attribute value longer than this many bytes is cut at a character "
        "boundary and counted.",
        positive,
    )
    stats_interval_s: float = setting(
        10.0, "Seconds between self-telemetry summaries (log line and ingest_stats row).", positive
    )
    maintenance_interval_s: float = setting(
        900.0, "Seconds between lake maintenance runs (merge files, expire snapshots).", positive
    )
    snapshot_retention_s: float = setting(
        300.0,
        "Lake snapshots (time travel) older than this are expired, every tenth of it; "
        "each kept snapshot makes every commit slower.",
        positive,
    )
    file_retention_s: float = setting(
        3600.0,
        "Data files no snapshot uses any more stay on disk this long (longer than any "
        "reader's query), then maintenance deletes them.",
        positive,
    )
    shutdown_grace_s: float = setting(
        10.0, "On SIGTERM, seconds to let in-flight requests finish.", positive
    )
    fleet_policy_file: str = setting(
        "", "TOML file with the fleet directive for heartbeats; re-read when it changes."
    )


@dataclass(frozen=True)
class ReconcilerSettings:
    """``[reconciler]``: divergence and skew analysis, run inside ``parallax server``."""

    policies_file: str = setting(
        "", "Policies TOML (docs/policies.md); empty: every feature gets the built-in defaults."
    )
    interval_s: float = setting(
        60.0,
        "Seconds between incremental reconciler runs inside parallax server (0: off).",
        not_negative,
    )
    skew_window_s: float = setting(
        7 * 86400.0,
        "Skew looks at versions seen in traffic or node inventory within this many seconds.",
        positive,
    )
    drift_min_answers: int = setting(
        100,
        "Output drift judges a variant pair only when both have this many answers.",
        positive,
    )
    latency_window_s: float = setting(
        3600.0,
        "The latency budget check judges each variant's warm p99 over the spans that "
        "started in this many seconds before the run (whole minutes).",
        positive,
    )
    latency_min_spans: int = setting(
        100,
        "The latency budget check judges a variant only with this many warm spans in its window.",
        positive,
    )


@dataclass(frozen=True)
class DashboardSettings:
    """``[dashboard]``: the Streamlit app SREs open (``parallax dashboard``)."""

    listen: str = setting("127.0.0.1:8501", "Dashboard HTTP address.", host_port)
    refresh_s: float = setting(
        30.0,
        "Auto-refresh period of the pages, and the time-to-live of cached queries.",
        positive,
    )
    heartbeat_tolerance_s: float = setting(
        90.0, "A node silent longer than this is stale; three times this, offline.", positive
    )
    query_row_limit: int = setting(10_000, "Rows the SQL page returns at most.", positive)
    query_timeout_s: float = setting(
        10.0, "The SQL page stops a query running longer than this.", positive
    )
    sql_memory_limit: str = setting(
        "1GB",
        "Memory one SQL page query may use (DuckDB's memory_limit, e.g. '512MB', '2GB'); "
        "a query that needs more is stopped.",
        memory_size,
    )
    sql_max_result_bytes: int = setting(
        32 * 1024 * 1024,
        "Bytes of result (Arrow data) one SQL page query returns at most; rows past it are cut.",
        positive,
    )
    auth: str = setting(
        "none",
        "Who may look: 'none' (loopback only), 'oidc' (Streamlit's OpenID Connect login) or "
        "'proxy' (a signing-in reverse proxy passes the user in proxy_user_header).",
        one_of("none", "oidc", "proxy"),
    )
    insecure: bool = setting(
        False,
        "Allow listening beyond loopback without authentication, or in proxy mode (every "
        "start warns, every page shows a banner).",
    )
    oidc_server_metadata_url: str = setting(
        "",
        "The OpenID provider's discovery document, e.g. "
        "'https://accounts.google.com/.well-known/openid-configuration'.",
    )
    oidc_client_id: str = setting("", "The dashboard's client id at the OpenID provider.")
    oidc_client_secret_file: str = setting(
        "", "File holding the client secret (one line; the secret never goes in the config)."
    )
    oidc_redirect_uri: str = setting(
        "",
        "Where the provider sends people back: the dashboard's public URL + '/oauth2callback'.",
        empty_or_oauth2callback,
    )
    oidc_cookie_secret_file: str = setting(
        "",
        "File holding the secret that signs the login cookie; empty: a new random one at "
        "every start (everyone signs in again after a restart).",
    )
    proxy_user_header: str = setting(
        "X-Forwarded-Email",
        "The header the reverse proxy sets to the signed-in user (oauth2-proxy: "
        "X-Forwarded-Email; nginx auth_request: whatever proxy_set_header names).",
        header_name,
    )
    proxy_sign_out_url: str = setting(
        "", "The proxy's sign-out link shown in the sidebar, e.g. '/oauth2/sign_out'."
    )


@dataclass(frozen=True)
class LogSettings:
    """``[log]``: what every ``parallax`` command writes to stderr."""

    format: str = setting(
        "text",
        "'text': one readable line a record; 'json': one JSON object a line (time, level, "
        "logger, message, fields).",
        one_of(*FORMATS),
    )
    level: str = setting(
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
