"""``parallax server``: the ingest service and the lake's single writer, as one process.

Lifecycle: take the writer lock and migrate the lake, start the gRPC server, the
ingest pipeline and the reconciler (an incremental run every ``reconciler.interval_s``,
on its own connection), run until SIGTERM or SIGINT, then turn NOT_SERVING (gRPC health,
/readyz: launch.observability), stop accepting, let in-flight requests finish within
``shutdown_grace_s``, commit everything accepted and exit 0.
When an ingest stage dies or stalls (``IngestPipeline.problem``), the server stops the
same way and exits 1, so that its supervisor (systemd, Kubernetes) restarts it instead
of leaving a process that accepts connections and times out.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

from launch.observability import server_checks, server_observability
from parallax.aio import EventLoopThread
from parallax.config import ServerSettings, Settings
from parallax.errors import ConfigError
from parallax.exposure import require_loopback_unless_secured
from parallax.observability import Observability
from parallax.otlp_grpc import TRACE_SERVICE
from parallax.otlp_http import OtlpHttpListener
from parallax.supervision import serve_until_stopped, stop_on_signals
from reconciler import ReconcilerLoop
from store import StoreError, WriterLake, open_writer
from store.fleet import FleetService
from store.fleet.policy_file import PolicyFile
from store.fleet.service import SERVICE_NAME as FLEET_SERVICE
from store.ingest.chores import Chore
from store.ingest.http import http_ingest
from store.ingest.pipeline import IngestPipeline
from store.ingest.service import TraceService
from store.ingest.writer import LakeWriter
from store.maintenance import expire_snapshots, run_maintenance
from store.retention import RetentionPolicy, retention_policy
from store.trust import Authenticator, server_credentials
from store.trust.guard import CallGuard

log = logging.getLogger("parallax.server")

CONNECTION_AGE_GRACE_MS = 60_000
HANDSHAKE_TIMEOUT_MS = 10_000
# Descriptors kept for everything but client connections: the lake's files, the
# catalog, logs, the reconciler's connection.
RESERVED_DESCRIPTORS = 256


@dataclass
class RunningServer:
    """A started server; ``stop()`` shuts it down cleanly."""

    grpc_server: grpc.aio.Server
    loop: EventLoopThread
    pipeline: IngestPipeline
    fleet: FleetService
    lake: WriterLake
    address: str
    grace_s: float
    reconciler: ReconcilerLoop | None = None
    stopped: bool = False
    observability: Observability | None = None
    http: OtlpHttpListener | None = None  # OTLP/HTTP on server.http_listen, when set
    http_address: str = ""

    def stop(self) -> None:
        """Stop accepting, finish in-flight requests, commit, release the lake. Idempotent."""
        if self.stopped:
            return
        self.stopped = True
        if self.observability is not None:
            self.observability.drain()  # NOT_SERVING while in-flight requests finish
        if self.reconciler is not None:
            self.reconciler.stop()  # a run in progress rolls back; the next start redoes it
        if self.http is not None:
            self.loop.run(self.http.stop(self.grace_s))
        self.loop.run(self.grpc_server.stop(self.grace_s))
        self.loop.close()
        drained = self.pipeline.close(timeout=self.grace_s + 30)
        if not drained:
            log.error("ingest pipeline did not drain in time; unacknowledged requests are lost")
        self.lake.close()
        if self.observability is not None:
            self.observability.close()


def start_server(settings: Settings) -> RunningServer:
    """Open the lake as its writer and start serving OTLP/gRPC; raises StoreError or
    ConfigError on failure."""
    credentials = _transport_credentials(settings.server)
    authenticator = Authenticator(
        settings.server.credentials_file, bool(settings.server.tls_client_ca_file)
    )
    retention = retention_policy(settings.store)  # refuses a ledger kept less than spans
    lake = open_writer(settings.store)
    reconciler = observability = None
    try:
        if settings.server.lake_threads:
            # One thread commits a group with half the CPU of two and no slower (measured
            # on 2 cores: ~2.7 vs ~5.6 us per span): the second mostly waits for work,
            # and the cores are better spent on conversion and gRPC.
            lake.con.execute(f"SET threads = {int(settings.server.lake_threads)}")
        if settings.reconciler.interval_s > 0:
            reconciler = ReconcilerLoop(lake, settings.reconciler)
        server_id = f"{socket.gethostname()}:{os.getpid()}"
        pipeline = IngestPipeline(
            LakeWriter(lake),
            settings.server,
            server_id,
            chores=_writer_chores(lake, settings, retention),
        )
        guard = CallGuard(authenticator, lambda counter: pipeline.stats.add(**{counter: 1}))
        policy_file = settings.server.fleet_policy_file
        fleet = FleetService(
            pipeline, guard, policy_file=PolicyFile(Path(policy_file)) if policy_file else None
        )
        observability = server_observability(settings, pipeline, fleet, reconciler)
        loop = EventLoopThread("grpc-aio")
        grpc_server = loop.run(_create_grpc_server(settings, observability.interceptors()))
        traces = TraceService(pipeline, guard)
        grpc_server.add_generic_rpc_handlers((traces.handler(), fleet.handler()))
        observability.add_health_to(grpc_server, loop, (TRACE_SERVICE, FLEET_SERVICE))
        address = _bind(grpc_server, settings.server.listen, credentials)
        http, http_address = None, ""
        if settings.server.http_listen:
            connections = _connections_within_fd_limit(settings.server)
            http = http_ingest(traces, settings.server, connections, observability.count_http)
            http_address = loop.run(http.start("server.http_listen", settings.server.http_listen))
        observability.listen()
        pipeline.start()
        loop.run(grpc_server.start())
        if reconciler is not None:
            reconciler.start()
        observability.start(*server_checks(pipeline, reconciler))
    except BaseException:
        if observability is not None:
            observability.close()
        lake.close()
        raise
    log.info("parallax server listening on %s, lake %s", address, lake.location.root)
    if http is not None:
        log.info("OTLP/HTTP on %s", http_address)
    return RunningServer(
        grpc_server,
        loop,
        pipeline,
        fleet,
        lake,
        address,
        settings.server.shutdown_grace_s,
        reconciler,
        observability=observability,
        http=http,
        http_address=http_address,
    )


def _writer_chores(lake: WriterLake, settings: Settings, retention: RetentionPolicy) -> list[Chore]:
    server = settings.server
    return [
        Chore(
            "snapshot expiry",
            max(1.0, server.snapshot_retention_s / 10),
            lambda: expire_snapshots(lake, server.snapshot_retention_s),
        ),
        Chore(
            "lake maintenance",
            server.maintenance_interval_s,
            lambda: run_maintenance(
                lake,
                server.snapshot_retention_s,
                retention,
                file_retention_s=server.file_retention_s,
            ),
        ),
    ]


async def _create_grpc_server(
    settings: Settings, interceptors: list[grpc.aio.ServerInterceptor]
) -> grpc.aio.Server:
    server = settings.server
    return grpc.aio.server(
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", server.max_message_bytes),
            ("grpc.so_reuseport", 0),
            ("grpc.max_allowed_incoming_connections", _connections_within_fd_limit(server)),
            ("grpc.max_concurrent_streams", server.max_streams_per_connection),
            ("grpc.max_connection_idle_ms", int(server.connection_idle_timeout_s * 1000)),
            ("grpc.max_connection_age_ms", int(server.connection_max_age_s * 1000)),
            ("grpc.max_connection_age_grace_ms", CONNECTION_AGE_GRACE_MS),
            # A client that opens a connection and never completes its handshake (or
            # sends its HTTP/2 preface) holds a descriptor for this long at most.
            ("grpc.server_handshake_timeout_ms", HANDSHAKE_TIMEOUT_MS),
        ],
        maximum_concurrent_rpcs=server.max_concurrent_requests,
    )


def _connections_within_fd_limit(server: ServerSettings) -> int:
    """Raise the soft open-files limit to the hard one; the connections that fit in it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return server.max_connections
    fitting = max(1, soft - RESERVED_DESCRIPTORS)
    if fitting < server.max_connections:
        log.warning(
            "open-files limit %d allows %d client connections, not server.max_connections "
            "= %d: raise LimitNOFILE (ulimit -n)",
            soft,
            fitting,
            server.max_connections,
        )
        return fitting
    return server.max_connections


def run_server(settings: Settings, on_ready: Callable[[RunningServer], None] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; return the process exit code (1: ingest cannot go on)."""
    with stop_on_signals() as stop:
        server = start_server(settings)
        print(f"parallax server listening on {server.address}", flush=True)
        if on_ready:
            on_ready(server)
        if serve_until_stopped("ingest", server.pipeline.problem, server.stop, stop):
            return 1
        log.info("shutting down: finishing in-flight requests")
        server.stop()
        log.info("stopped cleanly")
        return 0


def _transport_credentials(server: ServerSettings) -> grpc.ServerCredentials | None:
    """TLS credentials when configured (None: plaintext), after checking that the listen
    address is safe for what is configured."""
    tls = bool(server.tls_cert_file or server.tls_key_file)
    if tls and not (server.tls_cert_file and server.tls_key_file):
        raise ConfigError("server.tls_cert_file and server.tls_key_file go together")
    if server.tls_client_ca_file and not tls:
        raise ConfigError("server.tls_client_ca_file needs server.tls_cert_file and _key_file")
    proves_nodes = bool(server.credentials_file or server.tls_client_ca_file)
    require_loopback_unless_secured(
        "parallax server",
        server.listen,
        secured=tls and proves_nodes,
        insecure=server.insecure,
        needed="server.tls_cert_file, server.tls_key_file and server.credentials_file "
        "(or server.tls_client_ca_file; see docs/security.md)",
    )
    if not tls:
        return None
    return server_credentials(server.tls_cert_file, server.tls_key_file, server.tls_client_ca_file)


def _bind(server: grpc.aio.Server, listen: str, credentials: grpc.ServerCredentials | None) -> str:
    try:
        if credentials is None:
            port = server.add_insecure_port(listen)
        else:
            port = server.add_secure_port(listen, credentials)
    except RuntimeError as err:
        raise StoreError(f"cannot listen on {listen}: {err}") from err
    if port == 0:
        raise StoreError(f"cannot listen on {listen} (address in use or not available)")
    host = listen.rpartition(":")[0]
    return f"{host}:{port}"
