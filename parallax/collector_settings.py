"""``[collector]``: the edge agent's settings (``parallax collector``), one key per field as
in parallax.sections."""

from __future__ import annotations

from dataclasses import dataclass

from parallax.checks import (
    host_port_or_empty,
    listen_address,
    not_negative,
    one_of,
    positive,
    ratio,
)
from parallax.setting import setting


@dataclass(frozen=True)
class CollectorSettings:
    """The edge agent (``parallax collector``)."""

    listen: str = setting(
        "127.0.0.1:4317",
        "Local OTLP/gRPC address apps export to: HOST:PORT, or unix:PATH for a socket only "
        "local users with file permission can use.",
        listen_address,
    )
    receiver_token_file: str = setting(
        "", "File with a token apps must send as 'authorization: Bearer <token>' (optional)."
    )
    insecure: bool = setting(
        False,
        "Allow the local receiver to listen beyond loopback without a receiver token "
        "(every start warns).",
    )
    http_listen: str = setting(
        "127.0.0.1:4318",
        "Local OTLP/HTTP address apps export to (POST /v1/traces, protobuf or JSON): "
        "HOST:PORT, empty turns it off. Same token, admission and answers as collector.listen.",
        host_port_or_empty,
    )
    metrics_listen: str = setting(
        "127.0.0.1:9465",
        "HTTP address of /metrics (Prometheus), /healthz and /readyz; empty turns it off.",
        host_port_or_empty,
    )
    backend: str = setting(
        "", "Address of `parallax server` (HOST:PORT); required to run.", host_port_or_empty
    )
    backend_ca_file: str = setting(
        "", "PEM CA bundle the server's certificate must chain to: the uplink uses TLS."
    )
    tls_cert_file: str = setting(
        "", "PEM client certificate for mutual TLS (its Common Name is the node id)."
    )
    tls_key_file: str = setting("", "PEM private key of collector.tls_cert_file.")
    token_file: str = setting(
        "",
        "File with this node's token (parallax credentials add NODE_ID), sent on every call "
        "to the server; re-read on change.",
    )
    node_id: str = setting("", "This node's id (host.id); empty for the host name.")
    hardware_tier: str = setting(
        "",
        "parallax.hardware.tier of this node: device, near-edge or cloud.",
        one_of("", "device", "near-edge", "cloud"),
    )
    accelerator: str = setting("", "parallax.hardware.accelerator of this node, e.g. npu.")
    region: str = setting("", "cloud.region of this node.")
    buffer_dir: str = setting("./parallax-collector", "Directory of the durable buffer.")
    buffer_max_bytes: int = setting(
        1024**3,
        "Bound of the buffer on disk; beyond it the oldest batches are dropped.",
        positive,
    )
    buffer_segment_bytes: int = setting(8 * 1024**2, "Size of one buffer segment file.", positive)
    fsync: str = setting(
        "always",
        "'always': fsync before an app's export is acknowledged (no window of loss); "
        "'interval': every fsync_interval_ms (that interval is the window of possible loss).",
        one_of("always", "interval"),
    )
    fsync_interval_ms: int = setting(1000, "fsync period when fsync = 'interval'.", positive)
    zstd_level: int = setting(3, "zstd compression level of buffered batches.")
    zstd_dictionary: bool = setting(
        True, "Train a zstd dictionary from the node's early traffic for small batches."
    )
    batch_max_spans: int = setting(
        2048, "Spans per buffered batch (one OTLP request to the backend), at most.", positive
    )
    batch_max_bytes: int = setting(
        2 * 1024**2, "Encoded OTLP bytes per buffered batch, at most.", positive
    )
    batch_linger_ms: int = setting(
        20, "How long app exports may wait to be buffered together (one fsync).", not_negative
    )
    receive_max_message_bytes: int = setting(
        4 * 1024**2, "Largest OTLP export an app may send to the collector, in bytes.", positive
    )
    max_concurrent_exports: int = setting(
        16,
        "App exports worked on at once; more are refused with RESOURCE_EXHAUSTED and RetryInfo.",
        positive,
    )
    intake_max_bytes: int = setting(
        16 * 1024**2,
        "Bytes of app exports held until buffered, at most (at least "
        "receive_max_message_bytes); more are refused with RESOURCE_EXHAUSTED and RetryInfo.",
        positive,
    )
    dead_letter_max_bytes: int = setting(
        64 * 1024**2,
        "Bound of dead-letter.jsonl and its one rotated predecessor together; the oldest "
        "entries beyond it are dropped and counted.",
        positive,
    )
    max_in_flight: int = setting(
        16,
        "Requests to the backend in flight at once (a backlog drains this many at a time).",
        positive,
    )
    gzip: bool = setting(True, "gzip requests to the backend.")
    request_timeout_s: float = setting(30.0, "Deadline of one request to the backend.", positive)
    retry_initial_s: float = setting(0.5, "First retry backoff (full jitter).", positive)
    retry_max_s: float = setting(30.0, "Longest retry backoff; retries never give up.", positive)
    bandwidth_bytes_per_s: int = setting(
        0, "Cap on bytes sent to the backend per second (0: no cap).", not_negative
    )
    sampling_ratio: float = setting(
        1.0,
        "Share of inputs kept, chosen by input fingerprint (same inputs on every node).",
        ratio,
    )
    keep_confidence_below: float = setting(
        0.5, "Spans with parallax.confidence below this are always kept.", not_negative
    )
    heartbeat_interval_s: float = setting(
        15.0,
        "Seconds between heartbeats until the backend's directive says otherwise.",
        positive,
    )
    shutdown_flush_s: float = setting(
        5.0, "On shutdown, how long to keep shipping; the rest stays on disk.", not_negative
    )
