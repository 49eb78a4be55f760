"""When accepted requests become a commit group: the classic group commit.

A commit costs about the same for one request as for forty (one Parquet file, one
catalog transaction), and clients that wait for their acknowledgements send nothing
more until they get them. So the converter hands a group to the writer

- as soon as the writer is idle and no request has arrived for ``commit_quiet_ms``
  (whatever is in hand, however small: nothing more is coming);
- when ``flush_rows`` spans are in hand, or ``flush_interval_ms`` has passed since the
  first of them arrived (a steady trickle cannot hold a request back for longer).

Requests are converted as soon as the converter has nothing else to do, whatever is
waiting at that moment together, so the next group's conversion overlaps the current
commit (the commit runs in DuckDB without the GIL) and a group is ready the moment the
writer is. Under load, more requests arrive during each conversion and chunks grow by
themselves. How long a request waits therefore depends on how long one commit takes,
not on how many requests its client keeps in flight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from parallax.config import ServerSettings
from store.ingest.convert import Converted
from store.ingest.requests import PendingRequest


@dataclass
class GroupInHand:
    """Requests gathered for the next commit: some converted, the newest not yet."""

    waiting: list[PendingRequest] = field(default_factory=list)  # not converted yet
    converted: list[tuple[list[PendingRequest], Converted | None]] = field(default_factory=list)
    spans: int = 0
    first_arrival: float = 0.0
    last_arrival: float = 0.0

    def __bool__(self) -> bool:
        return bool(self.waiting or self.converted)

    def add(self, pending: PendingRequest, now: float) -> None:
        if not self:
            self.first_arrival = now
        self.waiting.append(pending)
        self.spans += pending.span_count
        self.last_arrival = now

    def take_waiting(self) -> list[PendingRequest]:
        waiting, self.waiting = self.waiting, []
        return waiting


def should_convert_now(hand: GroupInHand) -> bool:
    """Convert what waits now: a chunk converted while the writer commits is time the
    next group does not wait. Small chunks cost more per span (a 512-span request ~1.5x a
    4096-span chunk, NumPy's fixed costs per call), which the overlap more than repays."""
    return bool(hand.waiting)


def should_hand_over(
    hand: GroupInHand, writer_idle: bool, now: float, settings: ServerSettings
) -> bool:
    if not hand:
        return False
    if hand.spans >= settings.flush_rows:
        return True
    if now - hand.first_arrival >= settings.flush_interval_ms / 1000:
        return True
    return writer_idle and now - hand.last_arrival >= settings.commit_quiet_ms / 1000


def next_wake(
    hand: GroupInHand, writer_idle: bool, now: float, settings: ServerSettings
) -> float | None:
    """Seconds until a decision can change with no new request and no word from the
    writer (which says when it becomes idle); None: nothing to wait for."""
    if not hand:
        return None
    wake = hand.first_arrival + settings.flush_interval_ms / 1000
    if writer_idle:
        wake = min(wake, hand.last_arrival + settings.commit_quiet_ms / 1000)
    return max(0.0, wake - now)
