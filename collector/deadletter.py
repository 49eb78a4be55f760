"""Batches the backend refused for good, kept with the reason instead of silently lost.

One JSON object per line: when, node, batch sequence, span count, gRPC status, message,
and the OTLP payload (base64) so that an operator can inspect or replay it.

Bounded: ``dead-letter.jsonl`` and its predecessor ``dead-letter.1.jsonl`` together stay
within ``max_bytes``. An entry that would take the current file past half the bound
rotates it: the current file becomes the predecessor, whose entries are dropped. An
entry larger than half the bound is dropped unwritten, and so is one the disk refuses.
Every dropped entry and its spans are counted and logged (rate-limited); ``add`` never
raises, so a full disk cannot stop the shipper.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from parallax.ratelimit import RateLimitedLog

log = logging.getLogger("parallax.collector")


@dataclass
class FileContents:
    """What one dead-letter file holds, as counted from its lines."""

    bytes: int = 0
    batches: int = 0
    spans: int = 0

    @classmethod
    def read(cls, path: Path) -> FileContents:
        contents = cls()
        try:
            with open(path, "rb") as file:
                for line in file:
                    contents.add(len(line), _span_count(line))
        except OSError:
            pass  # missing or unreadable: nothing to count; a failing write is counted
        return contents

    def add(self, size: int, spans: int) -> None:
        self.bytes += size
        self.batches += 1
        self.spans += spans


class DeadLetterFile:
    """Append-only JSON-lines file of permanently rejected batches, rotated at a bound."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.rotated_path = path.with_name(f"{path.stem}.1{path.suffix}")
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._errors = RateLimitedLog(log)
        self.batches = 0  # written since the collector started
        self.spans = 0
        self.dropped_batches = 0  # dropped since the collector started
        self.dropped_spans = 0
        self._current = FileContents.read(path)
        self._rotated = FileContents.read(self.rotated_path)

    def add(
        self, node_id: str, seq: int, span_count: int, code: str, message: str, payload: bytes
    ) -> None:
        entry = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "node_id": node_id,
            "batch_seq": seq,
            "span_count": span_count,
            "status": code,
            "message": message,
            "payload_base64": base64.b64encode(payload).decode("ascii"),
        }
        line = (json.dumps(entry) + "\n").encode("utf-8")
        with self._lock:
            if len(line) > self.max_bytes // 2:
                self._drop(1, span_count, f"batch {seq} is larger than half the bound")
                return
            try:
                if self._current.bytes + len(line) > self.max_bytes // 2:
                    self._rotate()
                self._append(line)
            except OSError as err:
                self._drop(1, span_count, f"batch {seq} could not be written: {err}")
                return
            self._current.add(len(line), span_count)
            self.batches += 1
            self.spans += span_count

    def _append(self, line: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as file:
            end = file.seek(0, os.SEEK_END)
            try:
                file.write(line)
                file.flush()
                os.fsync(file.fileno())
            except OSError:
                file.truncate(end)  # no partial line stays behind
                raise

    def _rotate(self) -> None:
        try:
            os.replace(self.path, self.rotated_path)
        except FileNotFoundError:  # an operator removed it: start afresh, nothing dropped
            self._current = FileContents()
            return
        dropped, self._rotated, self._current = self._rotated, self._current, FileContents()
        if dropped.batches:
            self._drop(dropped.batches, dropped.spans, f"{self.rotated_path.name} was replaced")

    def _drop(self, batches: int, spans: int, reason: str) -> None:
        self.dropped_batches += batches
        self.dropped_spans += spans
        self._errors.log(
            logging.WARNING,
            "dead-letter drop",
            "dead-letter entries dropped (%s): %d batches (%d spans); %d batches (%d spans) "
            "dropped since start",
            reason,
            batches,
            spans,
            self.dropped_batches,
            self.dropped_spans,
        )


def _span_count(line: bytes) -> int:
    try:
        return int(json.loads(line).get("span_count", 0))
    except (ValueError, AttributeError, TypeError):
        return 0  # a damaged line still counts as a batch
