"""One settings key: a dataclass field carrying its default, its one-line documentation
(docs/configuration.md repeats it; a test ties the two) and its value check
(parallax.checks), read by the loader (parallax.config)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import Any


def setting(default: Any, doc: str, check: Callable[[Any], str | None] | None = None) -> Any:
    return field(default=default, metadata={"doc": doc, "check": check})
