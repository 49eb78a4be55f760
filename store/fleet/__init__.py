"""The Fleet control-plane service: nodes report their state, the backend answers with a directive.

``launch.server`` creates one FleetService per server (``RunningServer.fleet``) and registers
its handler; its policy (``FleetPolicy``) is changed with ``set_policy``.
Contract: proto/parallax/fleet/v1/fleet.proto and docs/fleet.md.
"""

from store.fleet.policy import FleetPolicy
from store.fleet.service import FleetService

__all__ = ["FleetPolicy", "FleetService"]
