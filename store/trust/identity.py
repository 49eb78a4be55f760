"""The identity a call proves (a bearer token or a client certificate), and what it may write.

``Authenticator.identify`` reads a call's headers and the name of its verified client
certificate (gRPC and HTTP alike, see parallax.calls.Caller); with neither credentials
nor client certificates configured it returns None (authentication is off, which only a
loopback listener or ``server.insecure`` allows). When both a token and a certificate
are presented they must name the same node.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from parallax.ratelimit import RateLimitedLog
from parallax.watched import WatchedFile
from store.trust.credentials import CredentialsFile, NodeCredential, token_hash

log = logging.getLogger("parallax.trust")

AUTHORIZATION_HEADER = "authorization"
BEARER = "bearer "
REFRESH_INTERVAL_S = 1.0


class Unauthenticated(Exception):
    """The call proves no identity (no, unknown or revoked token; no certificate)."""


class PermissionDenied(Exception):
    """The call's identity may not act as the node it names."""


@dataclass(frozen=True)
class Identity:
    node_id: str
    may_write_for: frozenset[str]
    proof: str  # "token" or "certificate"

    def require(self, node_id: str) -> None:
        """Raise PermissionDenied unless this identity may write as ``node_id``."""
        if node_id not in self.may_write_for:
            raise PermissionDenied(
                f"the credential of {self.node_id!r} may not write as node {node_id!r}"
            )


class Authenticator:
    """Checks calls against the credentials file and client certificates."""

    def __init__(self, credentials_file: str, client_certificates: bool) -> None:
        self._watched = (
            WatchedFile(Path(credentials_file), _load_credentials, "credentials")
            if credentials_file
            else None
        )
        self._client_certificates = client_certificates
        self._next_refresh = 0.0
        self._lock = threading.Lock()
        self.refusals = RateLimitedLog(log)

    @property
    def enabled(self) -> bool:
        return self._watched is not None or self._client_certificates

    def identify(self, headers: Mapping[str, str], certificate_name: str | None) -> Identity | None:
        """The call's proven identity; None when authentication is off."""
        if not self.enabled:
            return None
        by_token = self._by_token(headers.get(AUTHORIZATION_HEADER))
        by_certificate = self._by_certificate(certificate_name)
        if by_token and by_certificate and by_token.node_id != by_certificate.node_id:
            raise PermissionDenied(
                f"the token is {by_token.node_id!r}'s but the certificate "
                f"{by_certificate.node_id!r}'s"
            )
        identity = by_token or by_certificate
        if identity is None:
            raise Unauthenticated(
                "send 'authorization: Bearer <token>' (parallax credentials add NODE_ID)"
                if self._watched
                else "present a client certificate signed by server.tls_client_ca_file"
            )
        return identity

    def _by_token(self, header: str | None) -> Identity | None:
        if header is None or self._watched is None:
            return None
        if not header.lower().startswith(BEARER):
            raise Unauthenticated("the authorization header is not 'Bearer <token>'")
        credential = self._credentials().get(token_hash(header[len(BEARER) :].strip()))
        if credential is None:
            raise Unauthenticated("unknown or revoked token")
        return _identity(credential)

    def _by_certificate(self, certificate_name: str | None) -> Identity | None:
        if not self._client_certificates or not certificate_name:
            return None
        return Identity(certificate_name, frozenset({certificate_name}), "certificate")

    def _credentials(self) -> dict[str, NodeCredential]:
        assert self._watched is not None
        now = time.monotonic()
        if now >= self._next_refresh:
            with self._lock:
                if now >= self._next_refresh:
                    self._watched.refresh()
                    self._next_refresh = now + REFRESH_INTERVAL_S
        return self._watched.value


def _load_credentials(path: Path) -> dict[str, NodeCredential]:
    return CredentialsFile(path).load()


def _identity(credential: NodeCredential) -> Identity:
    return Identity(credential.node_id, credential.may_write_for, "token")
