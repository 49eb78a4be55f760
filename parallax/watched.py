"""A configuration file that may be edited while a server runs (fleet policy, policies).

Loaded once at start-up, where an error stops the caller; re-loaded by :meth:`refresh`
when its modification time changes, where an error is logged and the last good value
stays in force (an edit is tried once; the next change is tried again).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from parallax.errors import ConfigError

log = logging.getLogger("parallax.config")
T = TypeVar("T")


class WatchedFile(Generic[T]):
    """``value`` is the file as ``load`` read it last; :meth:`refresh` re-reads a change."""

    def __init__(self, path: Path, load: Callable[[Path], T], what: str) -> None:
        self.path = path
        self._load = load
        self._what = what
        self.value = load(path)
        self._mtime = os.stat(path).st_mtime_ns

    def refresh(self) -> bool:
        """Re-read the file if it changed; True when ``value`` was replaced."""
        try:
            mtime = os.stat(self.path).st_mtime_ns
            if mtime == self._mtime:
                return False
            self._mtime = mtime
            self.value = self._load(self.path)
        except (OSError, ConfigError) as err:
            log.error("%s unusable, keeping the previous one: %s", self._what, err)
            return False
        log.info("%s reloaded from %s", self._what, self.path)
        return True
