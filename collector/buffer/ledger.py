"""The ledger: the buffer's small, atomically replaced state file (``ledger.json``).

It holds what the segment files cannot: which sequences are resolved (acknowledged,
dropped or lost), the highest sequence reserved for use, the lifetime counters, and
which corrupt records were already counted. It is JSON so that an operator can read it.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

from collector.buffer.files import atomic_write, move_to_quarantine
from parallax.sequences import SequenceSet

LEDGER_FILE = "ledger.json"
LEDGER_VERSION = 1

logger = logging.getLogger(__name__)
_Result = TypeVar("_Result")


@dataclass
class LifetimeCounters:
    """Events counted over the buffer's whole life, restarts included."""

    dropped_batches: int = 0
    dropped_spans: int = 0
    corrupt_records: int = 0
    torn_tails_truncated: int = 0
    quarantined_segments: int = 0


@dataclass
class Ledger:
    buffer_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # Sequences up to this one may have been handed out; a restart continues above it.
    reserved_through: int = 0
    resolved: SequenceSet = field(default_factory=SequenceSet)
    counters: LifetimeCounters = field(default_factory=LifetimeCounters)
    # Segment file name -> offsets of corrupt records already counted, so that a
    # restart does not count the same damage twice.
    counted_corruption: dict[str, list[int]] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        document = {
            "version": LEDGER_VERSION,
            "buffer_id": self.buffer_id,
            "reserved_through": self.reserved_through,
            "resolved": self.resolved.to_json(),
            "counters": asdict(self.counters),
            "counted_corruption": self.counted_corruption,
        }
        return json.dumps(document, sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Ledger:
        document = json.loads(data)
        if document.get("version") != LEDGER_VERSION:
            raise ValueError(f"unsupported ledger version {document.get('version')!r}")
        counted = document.get("counted_corruption", {})
        return cls(
            buffer_id=str(document["buffer_id"]),
            reserved_through=int(document["reserved_through"]),
            resolved=SequenceSet.from_json(document["resolved"]),
            counters=LifetimeCounters(**document.get("counters", {})),
            counted_corruption={
                str(name): [int(o) for o in offsets] for name, offsets in counted.items()
            },
        )


def load_ledger(directory: Path, quarantine_directory: Path) -> Ledger:
    """The ledger in ``directory``; a fresh one if there is none or it cannot be read.

    A damaged ledger is moved to quarantine rather than deleted. Atomic replacement
    makes damage unlikely; when it happens the buffer cannot know what was acknowledged
    or which sequences were used, so every record on disk becomes pending again and
    the fresh ledger has a new buffer id (no sequence can collide with one sent
    before): duplicates of batches acknowledged earlier are possible, a loss is not.
    """
    path = directory / LEDGER_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Ledger()
    try:
        return Ledger.from_bytes(data)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        moved = move_to_quarantine(path, quarantine_directory)
        logger.error(
            "buffer ledger %s is unreadable (%s); moved to %s, every stored batch is pending again",
            path,
            err,
            moved,
        )
        return Ledger()


class LedgerFile:
    """Writes the ledger, atomically and in order, and knows whether memory is ahead of disk.

    ``state_lock`` guards the ledger's contents (it is the buffer's state lock); set
    ``dirty`` under it after changing the ledger without writing it.
    """

    def __init__(self, directory: Path, ledger: Ledger, state_lock: threading.Lock) -> None:
        self.path = directory / LEDGER_FILE
        self.ledger = ledger
        self.dirty = False
        self._state_lock = state_lock
        # Held from taking the snapshot to renaming the file, so a newer state is
        # never overwritten by an older one.
        self._write_lock = threading.Lock()

    def update(self, change: Callable[[], _Result]) -> _Result:
        """Apply ``change`` under the state lock, then write the resulting ledger.

        Raises OSError if the write fails; the ledger stays dirty, so the next flush retries.
        """
        with self._write_lock:
            with self._state_lock:
                result = change()
                snapshot = self.ledger.to_bytes()
                self.dirty = False
            try:
                atomic_write(self.path, snapshot)
            except OSError:
                with self._state_lock:
                    self.dirty = True
                raise
            return result

    def save(self, *, only_if_dirty: bool = True) -> None:
        with self._state_lock:
            if only_if_dirty and not self.dirty:
                return
        self.update(lambda: None)
