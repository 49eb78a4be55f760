"""Periodic work of the ingest writer thread, run between group commits on the writer's
connection (so it never contends with a commit): snapshot expiry, lake maintenance.

A chore that raises is logged and tried again at its next time; it never stops ingest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("parallax.ingest")


@dataclass
class Chore:
    """``run()`` every ``interval_s`` seconds, the first time one interval after start."""

    name: str
    interval_s: float
    run: Callable[[], object]
    due: float = field(default=0.0, init=False)


class Chores:
    """The writer's chores and when each is due next."""

    def __init__(self, chores: list[Chore]) -> None:
        self._chores = chores
        now = time.monotonic()
        for chore in chores:
            chore.due = now + chore.interval_s

    def next_due(self) -> float:
        """Monotonic time of the next chore (infinity: none)."""
        return min((chore.due for chore in self._chores), default=float("inf"))

    def run_due(self) -> None:
        for chore in self._chores:
            if time.monotonic() < chore.due:
                continue
            try:
                chore.run()
            except Exception as err:
                log.warning("%s failed (will retry next interval): %s", chore.name, err)
            chore.due = time.monotonic() + chore.interval_s
