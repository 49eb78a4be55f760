"""Batches the backend refused for good, kept with the reason instead of silently lost.

One JSON object per line: when, node, batch sequence, span count, gRPC status, message,
and the OTLP payload (base64) so that an operator can inspect or replay it.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from pathlib import Path


class DeadLetterFile:
    """Append-only JSON-lines file of permanently rejected batches."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.batches = 0
        self.spans = 0

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
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab") as file:
                file.write(line)
                file.flush()
                os.fsync(file.fileno())
            self.batches += 1
            self.spans += span_count
