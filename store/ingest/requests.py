"""An accepted request on its way to the lake, and how it is answered exactly once."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from store.ingest.convert import Incoming
from store.ingest.ledger import BatchId


@dataclass(eq=False)
class PendingRequest:
    """A parsed request and the future its caller awaits (a Written, or an exception)."""

    incoming: Incoming
    span_count: int
    future: Future = field(default_factory=Future)

    @property
    def batch_id(self) -> BatchId | None:
        return self.incoming.batch_id


class InFlight:
    """Requests accepted and not yet answered: admission control counts their spans, and
    a pipeline that fails answers every one of them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: set[PendingRequest] = set()
        self.spans = 0

    def __len__(self) -> int:
        return len(self._requests)

    def admit(self, pending: PendingRequest, limit: int) -> bool:
        """Take the request unless its spans would exceed ``limit`` (one is always taken)."""
        with self._lock:
            if self.spans and self.spans + pending.span_count > limit:
                return False
            self.spans += pending.span_count
            self._requests.add(pending)
            return True

    def answer(
        self, pending: PendingRequest, result: object = None, error: Exception | None = None
    ) -> bool:
        """Resolve the request's future once; False when it was already answered."""
        with self._lock:
            if pending not in self._requests:
                return False
            self._requests.remove(pending)
            self.spans -= pending.span_count
        if not pending.future.done():  # a caller that gave up may have cancelled it
            if error is not None:
                pending.future.set_exception(error)
            else:
                pending.future.set_result(result)
        return True

    def answer_all(self, error: Exception) -> None:
        with self._lock:
            requests = list(self._requests)
        for pending in requests:
            self.answer(pending, error=error)
