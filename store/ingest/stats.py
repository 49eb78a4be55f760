"""Self-telemetry of the ingest service: counters, a periodic summary line and its lake row."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, fields

log = logging.getLogger("parallax.ingest")


@dataclass
class Counters:
    """Counts over one interval (or since start, for totals)."""

    spans_accepted: int = 0
    spans_rejected: int = 0
    batches: int = 0
    duplicate_batches: int = 0
    requests_refused: int = 0
    requests_invalid: int = 0
    commits: int = 0
    commit_seconds: float = 0.0
    repeated_keys: int = 0
    attributes_dropped: int = 0
    values_truncated: int = 0
    requests_unauthenticated: int = 0
    requests_denied: int = 0


class IngestStats:
    """Thread-safe counters; ``roll()`` closes an interval and returns it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._interval = Counters()
        self.totals = Counters()
        self._interval_started = time.monotonic()

    def add(self, **increments: float) -> None:
        with self._lock:
            for name, value in increments.items():
                setattr(self._interval, name, getattr(self._interval, name) + value)
                setattr(self.totals, name, getattr(self.totals, name) + value)

    def roll(self) -> tuple[Counters, float]:
        """The counters of the interval that just ended, and its length in seconds."""
        with self._lock:
            now = time.monotonic()
            interval, seconds = self._interval, now - self._interval_started
            self._interval, self._interval_started = Counters(), now
        return interval, seconds


def summary_line(counters: Counters, seconds: float, queue_spans: int) -> str:
    rate = counters.spans_accepted / seconds if seconds > 0 else 0.0
    return (
        f"ingest: {rate:,.0f} spans/s, {counters.spans_accepted:,} spans in "
        f"{counters.commits} commits, {counters.batches} batches "
        f"({counters.duplicate_batches} duplicate), {counters.spans_rejected} rejected, "
        f"{counters.requests_invalid} invalid, {counters.requests_refused} refused, "
        f"{counters.requests_unauthenticated + counters.requests_denied} unauthorized, "
        f"{counters.repeated_keys + counters.attributes_dropped + counters.values_truncated} "
        "attributes cut, "
        f"queue {queue_spans:,} spans"
    )


def stats_row(server_id: str, counters: Counters, seconds: float, queue_spans: int) -> dict:
    """The ingest_stats row for one interval (recorded_at is set by the writer)."""
    row = {"server_id": server_id, "interval_s": seconds, "queue_spans": queue_spans}
    row.update(asdict(counters))
    return row


COUNTER_NAMES = [f.name for f in fields(Counters)]
