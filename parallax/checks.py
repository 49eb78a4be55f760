"""Checks of setting values: each returns None when a value is good, else why it is not
(the sentence ends up in an error that names the key and where the value came from)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Check = Callable[[Any], str | None]


def problem_with(value: Any, kind: type, check: Check | None) -> tuple[Any, str | None]:
    """``value`` as ``kind`` (an int serves where a float is wanted) and why it cannot be
    used, None when it can: its type first (a bool is no number), then ``check``."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        return value, f"expected {kind.__name__}, got {type(value).__name__} {value!r}"
    problem = check(value) if check else None
    return value, f"{problem} (got {value!r})" if problem else None


def positive(value: Any) -> str | None:
    return None if value > 0 else "must be greater than 0"


def host_port(value: str) -> str | None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        return "must look like HOST:PORT, e.g. 127.0.0.1:4317"
    return None


def ratio(value: float) -> str | None:
    return None if 0 < value <= 1 else "must be greater than 0 and at most 1"


def not_negative(value: Any) -> str | None:
    return None if value >= 0 else "must not be negative"


def at_least(low: float) -> Check:
    def check(value: Any) -> str | None:
        return None if value >= low else f"must be at least {low}"

    return check


def rate(value: float) -> str | None:
    """A share that may be none or all: 0 to 1, both included."""
    return None if 0 <= value <= 1 else "must be between 0 and 1"


def one_of(*choices: str) -> Check:
    def check(value: str) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def listen_address(value: str) -> str | None:
    if value.startswith("unix:"):
        return None if len(value) > len("unix:") else "unix: needs a socket path"
    return host_port(value)


def host_port_or_empty(value: str) -> str | None:
    return host_port(value) if value else None


MEMORY_UNITS = ("KB", "MB", "GB", "TB", "KIB", "MIB", "GIB", "TIB")


def memory_size(value: str) -> str | None:
    text = value.strip().upper()
    unit = text.lstrip("0123456789. ")
    number = text[: len(text) - len(unit)].strip()
    valid = unit in MEMORY_UNITS and number.replace(".", "", 1).isdigit() and float(number) > 0
    return None if valid else "must be a size such as '512MB' or '2GB'"


def empty_or_oauth2callback(value: str) -> str | None:
    if not value or value.endswith("/oauth2callback"):
        return None
    return "must end with /oauth2callback, e.g. https://parallax.example/oauth2callback"


def header_name(value: str) -> str | None:
    token = value and all(c.isalnum() or c in "-_" for c in value)
    return None if token else "must be an HTTP header name, e.g. X-Forwarded-Email"
