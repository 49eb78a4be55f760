"""The description callers keep (GeneratedFleet, its segments) and one call's context."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.fleet.catalog import FEATURES, US, FleetVariant, variants
from bench.fleet.hashing import _Hasher
from bench.fleet.nodes import _build_nodes, _Nodes

# --- The description callers keep -------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A run of consecutive input numbers and the times they fall in.

    ``late``: inputs ingested at the segment's end but dated 1-72 h before it.
    """

    first_input: int
    inputs: int
    start_us: int
    end_us: int
    late: bool = False


@dataclass(frozen=True)
class GeneratedFleet:
    """What is in the lake: enough to append more and to sanity-check results.

    Counts are cumulative over :func:`generate` and every :func:`append`; ``last_*`` are
    of the latest call. ``start``/``end`` bound the inputs' times (the other answers of a
    replicated input start up to 5 minutes after its first).
    """

    seed: int
    nodes: int
    replicated_fraction: float
    start: datetime
    end: datetime
    spans: int
    inputs: int
    late_spans: int  # arrived hours or days after their start_time
    reanswers: int  # appended answers to inputs answered before
    commits: int
    segments: tuple[Segment, ...] = ()
    last_spans: int = 0
    last_seconds: float = 0.0
    last_commits: int = 0

    @property
    def features(self) -> list[str]:
        return [f.name for f in FEATURES]

    def variants(self, feature: str | None = None) -> list[FleetVariant]:
        """The variants of the fleet (of one feature); all have nodes."""
        return variants(feature)

    def nodes_per_slot(self) -> dict[int, int]:
        """How many nodes run each variant slot (0-7), e.g. slot 7: the stragglers."""
        counts = _build_nodes(_Hasher(self.seed), self.nodes).slot_count
        return {slot: int(count) for slot, count in enumerate(counts)}

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for benchmark reports."""
        data = dataclasses.asdict(self)
        data["segments"] = len(self.segments)
        data["start"], data["end"] = self.start.isoformat(), self.end.isoformat()
        data["days"] = round((self.end - self.start).total_seconds() / 86400, 3)
        return data

    def save(self, path: str | Path) -> None:
        data = dataclasses.asdict(self)
        data["start"], data["end"] = self.start.isoformat(), self.end.isoformat()
        Path(path).write_text(json.dumps(data, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> GeneratedFleet:
        data = json.loads(Path(path).read_text())
        data["start"] = datetime.fromisoformat(data["start"])
        data["end"] = datetime.fromisoformat(data["end"])
        data["segments"] = tuple(Segment(**s) for s in data["segments"])
        return cls(**data)


@dataclass
class _Context:
    """One call's fixed inputs: the hasher, the nodes, the fleet so far."""

    h: _Hasher
    nodes: _Nodes
    replicated_fraction: float
    segments: list[Segment]
    lake_start_us: int


def _context(fleet: GeneratedFleet) -> _Context:
    h = _Hasher(fleet.seed)
    return _Context(
        h, _build_nodes(h, fleet.nodes), fleet.replicated_fraction, list(fleet.segments),
        _us(fleet.start),
    )  # fmt: skip


def _us(moment: datetime) -> int:
    return round(moment.timestamp() * US)


def _datetime(us: int) -> datetime:
    return datetime.fromtimestamp(us / US, UTC)
