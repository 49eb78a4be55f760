"""Log output: plain text for people (the default) or one JSON object a line for machines.

``log.format = "json"`` writes every record as a single line holding a JSON object:
``time`` (RFC 3339, UTC), ``level``, ``logger``, ``message``, the record's extra fields
(``log.info("...", extra={"node_id": n})``) and ``exception`` / ``stack`` text when the
record has them. Whatever a message contains (newlines, control characters, lone
surrogates from undecodable bytes) the line stays one valid JSON document: control
characters are escaped by JSON itself, lone surrogates become U+FFFD, and the line is
ASCII so no stream encoding can break an escape.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")
LEVELS = ("debug", "info", "warning", "error")
BASE_KEYS = ("time", "level", "logger", "message", "exception", "stack")
# What every LogRecord carries; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
_SURROGATES = re.compile("[\ud800-\udfff]")
_NESTING_LIMIT = 4


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES:
                # An extra field never hides a base key: it keeps its value under field.NAME.
                entry[f"field.{key}" if key in BASE_KEYS else key] = value
        return json.dumps(_plain(entry, 0), ensure_ascii=True, allow_nan=False)


def configure_logging(log_format: str, level: str, stream: TextIO | None = None) -> None:
    """Send every log record of the process to ``stream`` (stderr) in ``log_format``."""
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Python's warnings become records too, so a JSON stream carries no free-form lines.
    logging.captureWarnings(True)


def _plain(value: Any, depth: int) -> Any:
    """``value`` as JSON-safe data: clean text, finite numbers, bounded nesting."""
    if isinstance(value, str):
        return _SURROGATES.sub("\ufffd", value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth < _NESTING_LIMIT and isinstance(value, dict):
        return {_plain(str(k), depth): _plain(v, depth + 1) for k, v in value.items()}
    if depth < _NESTING_LIMIT and isinstance(value, list | tuple | set | frozenset):
        return [_plain(item, depth + 1) for item in value]
    return _plain(_text(value), depth)


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception as err:  # a bad format string still gives one line, with what it was
        return f"{_text(record.msg)} (arguments did not format: {err})"


def _text(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__} that cannot be shown>"
