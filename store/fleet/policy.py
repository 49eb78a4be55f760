"""What the backend asks of every node: the directive in each heartbeat reply."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from parallax.proto.fleet.v1 import fleet_pb2


@dataclass(frozen=True)
class FleetPolicy:
    """The fleet-wide directive; immutable, replaced as a whole (``FleetService.set_policy``).

    ``min_versions`` maps a model name to the lowest version nodes may serve (the
    forced-upgrade signal); ``prewarm`` names models nodes should load and warm up.
    """

    sampling_ratio: float = 1.0
    heartbeat_interval_s: float = 15.0
    min_versions: Mapping[str, str] = field(default_factory=dict)
    prewarm: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.sampling_ratio <= 1.0:
            raise ValueError(f"sampling_ratio must be from 0 to 1, got {self.sampling_ratio!r}")
        if not (math.isfinite(self.heartbeat_interval_s) and self.heartbeat_interval_s > 0):
            raise ValueError(
                f"heartbeat_interval_s must be greater than 0, got {self.heartbeat_interval_s!r}"
            )
        if any(not name or not version for name, version in self.min_versions.items()):
            raise ValueError("min_versions needs a model name and a version in every entry")
        if any(not name for name in self.prewarm):
            raise ValueError("prewarm model names must not be empty")
        # Frozen all the way down: the event loop reads the policy while others replace it.
        object.__setattr__(self, "min_versions", MappingProxyType(dict(self.min_versions)))
        object.__setattr__(self, "prewarm", tuple(self.prewarm))

    def directive(self) -> fleet_pb2.HeartbeatResponse:
        """The reply's directive fields (the server adds its receive and send times)."""
        return fleet_pb2.HeartbeatResponse(
            sampling_ratio=self.sampling_ratio,
            minimum_versions=[
                fleet_pb2.MinimumVersion(model_name=name, min_version=version)
                for name, version in sorted(self.min_versions.items())
            ],
            prewarm_models=self.prewarm,
            heartbeat_interval_seconds=self.heartbeat_interval_s,
        )
