"""The server's TLS credentials, re-read from their files for new connections on change.

gRPC asks for the certificate configuration at every handshake (and the HTTP listener's
ssl context does the same through its server-name callback); the files' modification
times are compared then, so a renewed certificate (certbot, cert-manager, a fleet PKI)
takes effect for the next connection without a restart. A renewal caught half-written
or unreadable is logged and the previous configuration stays in force.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

import grpc

from parallax.errors import ConfigError

log = logging.getLogger("parallax.trust")
T = TypeVar("T")


class _ReloadingCertificates(Generic[T]):
    """The TLS files, and what ``build`` makes of them, rebuilt when they change."""

    def __init__(
        self,
        cert_file: str,
        key_file: str,
        client_ca_file: str,
        build: Callable[[Path, Path, Path | None], T],
    ) -> None:
        self._paths = [Path(p) for p in (cert_file, key_file, client_ca_file) if p]
        self._client_ca = bool(client_ca_file)
        self._build = build
        self._lock = threading.Lock()
        self._stamps = self._mtimes()
        self.initial = self._configuration()

    def _mtimes(self) -> list[int]:
        return [os.stat(path).st_mtime_ns for path in self._paths]

    def _configuration(self) -> T:
        return self._build(
            self._paths[0], self._paths[1], self._paths[2] if self._client_ca else None
        )

    def fetch(self) -> T | None:
        """Called at each handshake: a new configuration when the files changed."""
        with self._lock:
            try:
                stamps = self._mtimes()
                if stamps == self._stamps:
                    return None
                configuration = self._configuration()
            except (OSError, ssl.SSLError) as err:
                log.error("TLS certificate files unreadable, keeping the previous ones: %s", err)
                return None
            self._stamps = stamps
        log.info("TLS certificate files changed: new connections use them")
        return configuration


def _grpc_configuration(
    cert: Path, key: Path, client_ca: Path | None
) -> grpc.ServerCertificateConfiguration:
    roots = client_ca.read_bytes() if client_ca else None
    return grpc.ssl_server_certificate_configuration(
        [(key.read_bytes(), cert.read_bytes())], root_certificates=roots
    )


def _ssl_context(cert: Path, key: Path, client_ca: Path | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["http/1.1"])
    return context


def server_credentials(
    cert_file: str, key_file: str, client_ca_file: str = ""
) -> grpc.ServerCredentials:
    """TLS (mutual when ``client_ca_file`` is given) that follows changes of the files."""
    try:
        certificates = _ReloadingCertificates(
            cert_file, key_file, client_ca_file, _grpc_configuration
        )
    except OSError as err:
        raise ConfigError(f"cannot read the server's TLS files: {err}") from err
    return grpc.dynamic_ssl_server_credentials(
        certificates.initial,
        certificates.fetch,
        require_client_authentication=bool(client_ca_file),
    )


def server_ssl_context(cert_file: str, key_file: str, client_ca_file: str = "") -> ssl.SSLContext:
    """The same TLS for an HTTP listener (Python's ssl): at each handshake the server-name
    callback, which runs whether or not the client names a server, switches the
    connection to a context rebuilt from the files if they changed."""
    try:
        certificates = _ReloadingCertificates(cert_file, key_file, client_ca_file, _ssl_context)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(f"cannot read the server's TLS files: {err}") from err
    first = certificates.initial
    current = [first]

    def follow_files(connection: ssl.SSLObject | ssl.SSLSocket, _name, _context) -> None:
        fresh = certificates.fetch()
        if fresh is not None:
            current[0] = fresh
        if current[0] is not first:
            connection.context = current[0]

    first.sni_callback = follow_files
    return first
