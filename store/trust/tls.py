"""The server's TLS credentials, re-read from their files for new connections on change.

gRPC asks for the certificate configuration at every handshake; the files' modification
times are compared then, so a renewed certificate (certbot, cert-manager, a fleet PKI)
takes effect for the next connection without a restart. A renewal caught half-written
or unreadable is logged and the previous configuration stays in force.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import grpc

from parallax.errors import ConfigError

log = logging.getLogger("parallax.trust")


class _ReloadingCertificates:
    def __init__(self, cert_file: str, key_file: str, client_ca_file: str) -> None:
        self._paths = [Path(p) for p in (cert_file, key_file, client_ca_file) if p]
        self._client_ca = bool(client_ca_file)
        self._lock = threading.Lock()
        self._stamps = self._mtimes()
        self.initial = self._configuration()

    def _mtimes(self) -> list[int]:
        return [os.stat(path).st_mtime_ns for path in self._paths]

    def _configuration(self) -> grpc.ServerCertificateConfiguration:
        cert, key = self._paths[0].read_bytes(), self._paths[1].read_bytes()
        roots = self._paths[2].read_bytes() if self._client_ca else None
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=roots)

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """Called by gRPC at each handshake: a new configuration when the files changed."""
        with self._lock:
            try:
                stamps = self._mtimes()
                if stamps == self._stamps:
                    return None
                configuration = self._configuration()
            except OSError as err:
                log.error("TLS certificate files unreadable, keeping the previous ones: %s", err)
                return None
            self._stamps = stamps
        log.info("TLS certificate files changed: new connections use them")
        return configuration


def server_credentials(
    cert_file: str, key_file: str, client_ca_file: str = ""
) -> grpc.ServerCredentials:
    """TLS (mutual when ``client_ca_file`` is given) that follows changes of the files."""
    try:
        certificates = _ReloadingCertificates(cert_file, key_file, client_ca_file)
    except OSError as err:
        raise ConfigError(f"cannot read the server's TLS files: {err}") from err
    return grpc.dynamic_ssl_server_credentials(
        certificates.initial,
        certificates.fetch,
        require_client_authentication=bool(client_ca_file),
    )
