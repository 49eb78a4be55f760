"""A call to a receiver, whichever transport carried it, and why one is refused.

The server's ingest and the collector's receiver take OTLP exports over gRPC and over
HTTP. Each decides what happens to an export once, on a ``Caller`` (the request headers,
the client certificate's name, the peer) and the request bytes, and refuses with
``CallRefused``; each transport only maps the refusal to its own status:

======================  ===========================================  ===================
Refusal                 gRPC status                                  HTTP status
======================  ===========================================  ===================
INVALID                 INVALID_ARGUMENT                             400
TOO_LARGE               RESOURCE_EXHAUSTED without RetryInfo         413
UNAUTHENTICATED         UNAUTHENTICATED                              401
PERMISSION_DENIED       PERMISSION_DENIED                            403
BUSY                    RESOURCE_EXHAUSTED with RetryInfo            429, Retry-After
UNAVAILABLE             UNAVAILABLE                                  503, Retry-After
TIMED_OUT               DEADLINE_EXCEEDED                            503, Retry-After
======================  ===========================================  ===================

Retryable per OTLP: BUSY, UNAVAILABLE and TIMED_OUT; the others are permanent.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

# What a retryable refusal without a better estimate tells the client to wait.
DEFAULT_RETRY_AFTER_S = 1.0


class Refusal(enum.Enum):
    INVALID = "invalid"
    TOO_LARGE = "too large"
    UNAUTHENTICATED = "unauthenticated"
    PERMISSION_DENIED = "permission denied"
    BUSY = "busy"
    UNAVAILABLE = "unavailable"
    TIMED_OUT = "timed out"

    @property
    def retryable(self) -> bool:
        return self in (Refusal.BUSY, Refusal.UNAVAILABLE, Refusal.TIMED_OUT)


class CallRefused(Exception):
    """The call is refused for ``refusal``; ``retry_after_s`` when the client should retry."""

    def __init__(self, refusal: Refusal, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.message = message
        if retry_after_s is None and refusal.retryable:
            retry_after_s = DEFAULT_RETRY_AFTER_S
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Caller:
    """Who sent a call: its headers (names in lower case, the last value of a repeated
    one), the Common Name of its verified client certificate, its address."""

    headers: Mapping[str, str] = field(default_factory=dict)
    certificate_name: str | None = None
    peer: str = ""
    time_remaining_s: float | None = None  # the client's deadline, when it sent one
