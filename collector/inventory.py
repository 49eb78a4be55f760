"""The node's model inventory, as its traffic shows it.

Every (model, version, quantization) that served an inference, whether its latest
inference was warm, and when it last served one. The collector cannot see what an app
has loaded, only what served: a model idle for ``INVENTORY_TTL_S`` (an old version after
an upgrade) drops out of the inventory the heartbeat reports. The quantization is its
canonical word (``parallax.conventions.canonical_quantization``, as the lake stores it),
so one model spelled ``FP16`` by one app and ``fp16`` by another is one entry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from parallax.conventions import canonical_quantization

INVENTORY_TTL_S = 600.0
"""A model that served no inference for this long is no longer in the node's inventory."""

ModelKey = tuple[str, str, str]  # (model, version, canonical quantization or "")


@dataclass
class ModelInventory:
    """Written from the receiver's thread (:meth:`served`), read from any (:meth:`models`)."""

    clock: Callable[[], float] = time.monotonic
    _warm: dict[ModelKey, bool] = field(default_factory=dict, repr=False)
    _last_served: dict[ModelKey, float] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def served(self, model: str, version: str, quantization: str, cold_start: bool) -> None:
        """One inference of ``model`` (not empty) answered, cold or warm."""
        key = (model, version, canonical_quantization(quantization) if quantization else "")
        warm = not cold_start
        if self._warm.get(key) is not warm:
            with self._lock:  # a new key or a changed value: readers copy under the lock
                self._warm[key] = warm
                self._last_served[key] = self.clock()
        else:
            self._last_served[key] = self.clock()  # an existing key: no resize, no lock

    def models(self) -> list[tuple[str, str, str, bool]]:
        """(model, version, quantization, warm) that served within INVENTORY_TTL_S, sorted."""
        now = self.clock()
        with self._lock:
            last_served = dict(self._last_served)
            return sorted(
                (*key, warm)
                for key, warm in self._warm.items()
                if now - last_served[key] <= INVENTORY_TTL_S
            )
