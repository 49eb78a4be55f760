"""Safe by default: a listener without TLS and authentication stays on loopback.

``require_loopback_unless_secured`` stops a start that would expose a plaintext,
unauthenticated port to the network, with an error that names what to configure, unless
the operator opted in to exactly that (``insecure = true``; then every start warns).
"""

from __future__ import annotations

import ipaddress
import logging

from parallax.errors import ConfigError

log = logging.getLogger("parallax.exposure")


def is_loopback(address: str) -> bool:
    """Whether HOST:PORT (or unix:PATH) can only be reached from this machine."""
    if address.startswith("unix:"):
        return True
    host = address.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name or an unspecified address: reachable from outside


def require_loopback_unless_secured(
    what: str, address: str, secured: bool, insecure: bool, needed: str
) -> None:
    """Raise ConfigError when ``address`` is reachable from the network without
    ``secured``; with ``insecure`` log a warning instead. ``needed`` names the keys."""
    if secured or is_loopback(address):
        return
    if insecure:
        log.warning(
            "%s listens on %s WITHOUT TLS and authentication (insecure = true): anyone who "
            "can reach it can use it as anyone",
            what,
            address,
        )
        return
    raise ConfigError(
        f"{what} would listen on {address} without TLS and authentication. Configure "
        f"{needed}, listen on 127.0.0.1, or set insecure = true to accept the risk."
    )
