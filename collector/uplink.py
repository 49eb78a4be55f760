"""The collector's connection to `parallax server`: TLS, its client certificate, its token.

Shared by the shipper and the heartbeat client. With ``collector.backend_ca_file`` the
channel is TLS and trusts that CA (an ``https://`` OTEL endpoint without one: TLS trusting
the system's CAs); ``collector.tls_cert_file`` / ``tls_key_file`` add a
client certificate (mutual TLS, whose Common Name the server takes as the node id);
``collector.token_file`` holds the node's bearer token (``parallax credentials add``),
sent as ``authorization: Bearer <token>`` on every call. The files are checked for
changes at most every ``RELOAD_CHECK_S``: a renewed certificate or a rotated token is
used from the next call on, on a new channel, without a restart (the previous channel is
closed one renewal later, so calls under way on it finish).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

from parallax.errors import ConfigError

log = logging.getLogger("parallax.collector")

RELOAD_CHECK_S = 5.0
AUTHORIZATION_HEADER = "authorization"


@dataclass(frozen=True)
class UplinkFiles:
    """Where the uplink's trust material lives (empty strings mean not configured), and
    what comes from the environment instead: TLS trusting the system's CAs, and headers
    every call carries (collector.otel_env)."""

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    token_file: str = ""
    system_roots: bool = False
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def tls(self) -> bool:
        return bool(self.ca_file) or self.system_roots

    def check(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise ConfigError("collector.tls_cert_file and collector.tls_key_file go together")
        if self.cert_file and not self.tls:
            raise ConfigError("a client certificate needs collector.backend_ca_file (TLS)")

    @property
    def paths(self) -> list[Path]:
        names = (self.ca_file, self.cert_file, self.key_file, self.token_file)
        return [Path(name) for name in names if name]


class Uplink:
    """A channel to the backend that follows changes of its trust files."""

    def __init__(
        self,
        address: str,
        files: UplinkFiles,
        options: list[tuple[str, object]] | None = None,
        compression: grpc.Compression | None = None,
        on_channel: Callable[[grpc.Channel], None] | None = None,
    ) -> None:
        files.check()
        self._address = address
        self._files = files
        self._options = options or []
        self._compression = compression
        self._on_channel = on_channel  # builds the callables a user keeps for a channel
        self._lock = threading.Lock()
        self._next_check = 0.0
        self._stamps = self._mtimes()
        self._retired: grpc.Channel | None = None
        self.channel, self._auth = self._open()

    def metadata(self) -> list[tuple[str, str]]:
        """The metadata every call carries (the bearer token and headers, when configured)."""
        self._follow_changes()
        return list(self._auth)

    def close(self) -> None:
        with self._lock:
            for channel in (self.channel, self._retired):
                if channel is not None:
                    channel.close()

    def _open(self) -> tuple[grpc.Channel, list[tuple[str, str]]]:
        files = self._files
        if files.tls:
            roots = Path(files.ca_file).read_bytes() if files.ca_file else None  # None: system's
            key = Path(files.key_file).read_bytes() if files.key_file else None
            cert = Path(files.cert_file).read_bytes() if files.cert_file else None
            credentials = grpc.ssl_channel_credentials(roots, key, cert)
            channel = grpc.secure_channel(
                self._address, credentials, self._options, compression=self._compression
            )
        else:
            channel = grpc.insecure_channel(
                self._address, self._options, compression=self._compression
            )
        auth = list(files.headers)
        if files.token_file:
            token = Path(files.token_file).read_text(encoding="utf-8").strip()
            auth.append((AUTHORIZATION_HEADER, f"Bearer {token}"))
        if self._on_channel is not None:
            self._on_channel(channel)
        return channel, auth

    def _mtimes(self) -> list[int]:
        return [os.stat(path).st_mtime_ns for path in self._files.paths]

    def _follow_changes(self) -> None:
        now = time.monotonic()
        if now < self._next_check or not self._files.paths:
            return
        with self._lock:
            if now < self._next_check:
                return
            self._next_check = now + RELOAD_CHECK_S
            try:
                stamps = self._mtimes()
                if stamps == self._stamps:
                    return
                channel, auth = self._open()
            except OSError as err:
                log.error("uplink trust files unreadable, keeping the previous ones: %s", err)
                return
            self._stamps = stamps
            if self._retired is not None:
                self._retired.close()
            self._retired, self.channel, self._auth = self.channel, channel, auth
        log.info("uplink trust files changed: calls from now on use them")
