"""Which backend failures are retried, and how long to wait before the next attempt.

Per the OTLP specification: CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE,
UNAVAILABLE and DATA_LOSS are retryable; RESOURCE_EXHAUSTED only when the server sent
``google.rpc.RetryInfo`` (otherwise the request itself is too large and retrying cannot
help). Unlike the specification, UNAUTHENTICATED and PERMISSION_DENIED are retried too:
they refuse this node's credentials (a rotated token, a node id its certificate does not
prove), not the batch, and are fixed on the node, after which the buffered batches
must still arrive. Every other status is permanent. There is no give-up deadline: a
retryable batch is retried until it is delivered (or evicted by the buffer's size bound).

Backoff is exponential with full jitter and a cap: a uniformly random wait in
``[0, min(cap, initial * 2^attempt)]``, unless the server's RetryInfo asks for longer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

RETRYABLE = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


CREDENTIALS_REFUSED = frozenset(
    {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}
)


@dataclass(frozen=True)
class Failure:
    """A classified failed export."""

    code: grpc.StatusCode
    message: str
    retryable: bool
    retry_after_s: float | None  # from RetryInfo, when the server sent one


def classify(error: grpc.RpcError) -> Failure:
    """Decide whether a failed call may be retried, and whether the server set a delay."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = error.details() if hasattr(error, "details") else str(error)
    retry_after = _retry_info_delay(error)
    retryable = (
        code in RETRYABLE
        or code in CREDENTIALS_REFUSED
        or (code == grpc.StatusCode.RESOURCE_EXHAUSTED and retry_after is not None)
    )
    return Failure(code, message or "", retryable, retry_after)


def _retry_info_delay(error: grpc.RpcError) -> float | None:
    try:
        status = rpc_status.from_call(error)
    except (ValueError, AttributeError):
        return None
    if status is None:
        return None
    for detail in status.details:
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return info.retry_delay.ToTimedelta().total_seconds()
    return None


class Backoff:
    """Exponential backoff with full jitter; ``reset()`` after a success."""

    def __init__(self, initial_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self, server_delay_s: float | None = None) -> float:
        ceiling = min(self.max_s, self.initial_s * (2**self.attempt))
        self.attempt += 1
        delay = self._rng.uniform(0, ceiling)
        return max(delay, server_delay_s) if server_delay_s is not None else delay

    def reset(self) -> None:
        self.attempt = 0
