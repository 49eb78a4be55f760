"""Real processes and clients for tests: `parallax server` / `parallax collector` and OTLP."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from parallax.config import StoreSettings, env_name
from parallax.conventions import BATCH_SEQUENCE_HEADER, NODE_ID_HEADER
from parallax.otlp_grpc import EXPORT_METHOD


class OtlpClient:
    """Sends raw ExportTraceServiceRequests, optionally with a batch id, over plaintext or
    TLS (``tls``: channel credentials), optionally with a bearer token."""

    def __init__(
        self,
        address: str,
        compression: grpc.Compression | None = None,
        own_connection: bool = False,
        tls: grpc.ChannelCredentials | None = None,
        token: str | None = None,
    ) -> None:
        # Channels of one process share connections unless each keeps its own pool.
        options = [("grpc.use_local_subchannel_pool", 1)] if own_connection else []
        if tls is None:
            self.channel = grpc.insecure_channel(address, options, compression=compression)
        else:
            self.channel = grpc.secure_channel(address, tls, options, compression=compression)
        self._auth = [("authorization", f"Bearer {token}")] if token else []
        self._export = self.channel.unary_unary(
            EXPORT_METHOD,
            request_serializer=lambda request: (
                request if isinstance(request, bytes) else request.SerializeToString()
            ),
            response_deserializer=ExportTraceServiceResponse.FromString,
        )

    def metadata(self, node_id: str | None, seq: int | None) -> list[tuple[str, str]]:
        metadata = list(self._auth)
        if node_id is not None:
            metadata.append((NODE_ID_HEADER, node_id))
        if seq is not None:
            metadata.append((BATCH_SEQUENCE_HEADER, str(seq)))
        return metadata

    def export(self, request, node_id: str | None = None, seq: int | None = None, timeout=30):
        return self._export(request, metadata=self.metadata(node_id, seq), timeout=timeout)

    def export_future(self, request, node_id=None, seq=None, timeout=30):
        metadata = self.metadata(node_id, seq) if node_id else list(self._auth)
        return self._export.future(request, metadata=metadata, timeout=timeout)

    def close(self) -> None:
        self.channel.close()


def lake_rows(settings: StoreSettings, sql: str, params=None) -> list[tuple]:
    from store.lake import connect

    con = connect(settings, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


_STARTED: list[ParallaxProcess] = []


def kill_leftover_processes() -> None:
    """Kill every process a test started and did not stop (e.g. after a failed assertion)."""
    while _STARTED:
        process = _STARTED.pop()
        if process.proc.poll() is None:
            process.kill()


class ParallaxProcess:
    """A `parallax` subcommand as a real process, started and waited for.

    Every process is remembered so that a fixture kills whatever a failing test left.
    ``program`` is the command that runs `parallax`: the checkout's by default, or an
    installed one (``[venv/bin/parallax]``) run in ``cwd``.
    """

    def __init__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        program: Sequence[str] = (sys.executable, "-m", "launch.cli"),
        cwd: Path | None = None,
    ) -> None:
        self.proc = subprocess.Popen(
            [*program, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
        _STARTED.append(self)
        line = self.proc.stdout.readline()
        match = re.search(r"listening on (\S+)", line)
        if not match:
            self.proc.kill()
            raise AssertionError(f"{args[0]} did not start: {line!r} {self.proc.stderr.read()}")
        self.address = match[1]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(30)


def server_process(lake: Path, listen: str = "127.0.0.1:0") -> ParallaxProcess:
    return ParallaxProcess(
        "server",
        "--lake",
        str(lake),
        "--listen",
        listen,
        env={"PARALLAX_SERVER_FLUSH_INTERVAL_MS": "20"},
    )


def collector_process(
    backend: str, buffer_dir: Path, listen: str = "127.0.0.1:0", **settings: object
) -> ParallaxProcess:
    env = {env_name("collector", key): str(value) for key, value in settings.items()}
    return ParallaxProcess(
        "collector",
        "--backend",
        backend,
        "--buffer-dir",
        str(buffer_dir),
        "--listen",
        listen,
        env=env,
    )
