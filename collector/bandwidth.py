"""A token bucket that caps bytes per second on a metered link."""

from __future__ import annotations

import threading
import time


class BandwidthLimit:
    """``take(n)`` waits until n bytes fit in the budget; a rate of 0 means no cap.

    Waiting is on ``stop`` (an Event) so that shutdown interrupts it. One second of
    budget may be spent at once (the bucket's capacity), so short bursts are smooth.
    """

    def __init__(self, bytes_per_s: int, stop: threading.Event) -> None:
        self.rate = bytes_per_s
        self._stop = stop
        self._lock = threading.Lock()
        self._tokens = float(bytes_per_s)
        self._updated = time.monotonic()

    def take(self, size: int) -> bool:
        """Spend ``size`` bytes; False when interrupted by stop."""
        if self.rate <= 0:
            return True
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.rate, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                # A batch larger than the bucket goes out once the bucket is full.
                needed = min(size, self.rate)
                if self._tokens >= needed:
                    self._tokens -= size
                    return True
                wait = (needed - self._tokens) / self.rate
            if self._stop.wait(wait):
                return False
