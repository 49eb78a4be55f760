"""Admission: how many app exports the receiver works on at once, and how many bytes.

An export takes a slot before its message is read and keeps it until it is answered;
beyond ``max_exports`` slots it is refused at once. Bytes are bounded strictly: before
reading, an export reserves ``max_message_bytes`` (the most it can be), waiting up to
``wait_s`` for room under ``max_bytes``; once read, the reservation shrinks to the
message's size, held until the buffer has it. So received exports never hold more than
``max_bytes``, and a call waiting for room holds only its HTTP/2 flow-control window.
A refused app is told to retry later (RESOURCE_EXHAUSTED with RetryInfo); nothing is
dropped. Every refusal is counted.

Used only on the receiver's event loop, so it needs no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass


@dataclass
class AdmissionCounters:
    exports_refused_busy: int = 0  # every slot taken
    exports_refused_bytes: int = 0  # no room under max_bytes within wait_s


class ExportAdmission:
    """Slots for exports in progress and a budget of bytes held by them."""

    def __init__(
        self, max_exports: int, max_bytes: int, max_message_bytes: int, wait_s: float
    ) -> None:
        if max_bytes < max_message_bytes:
            raise ValueError("max_bytes must be at least max_message_bytes")
        self.max_exports = max_exports
        self.max_bytes = max_bytes
        self.max_message_bytes = max_message_bytes
        self.wait_s = wait_s
        self.exports_in_progress = 0
        self.bytes_held = 0  # reservations of exports being read, sizes of those read
        self.counters = AdmissionCounters()
        self._freed = asyncio.Event()  # set whenever bytes are released

    def take_slot(self) -> bool:
        """Start an export; False (counted) when every slot is taken."""
        if self.exports_in_progress >= self.max_exports:
            self.counters.exports_refused_busy += 1
            return False
        self.exports_in_progress += 1
        return True

    def release_slot(self) -> None:
        self.exports_in_progress -= 1

    async def reserve(self) -> bool:
        """Reserve room for the largest message; False (counted) if none came in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        while not self._has_room():
            remaining = deadline - loop.time()
            if remaining <= 0:
                self.counters.exports_refused_bytes += 1
                return False
            self._freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._freed.wait(), remaining)
        self.bytes_held += self.max_message_bytes
        return True

    def settle(self, size: int) -> None:
        """The message read is ``size`` bytes: hold that instead of the reservation."""
        self.release(self.max_message_bytes - size)

    def release(self, size: int) -> None:
        self.bytes_held -= size
        self._freed.set()

    def _has_room(self) -> bool:
        return self.bytes_held + self.max_message_bytes <= self.max_bytes
