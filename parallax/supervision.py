"""Serving until told to stop, or until the service cannot go on.

A process whose stage has died but whose listener still accepts looks healthy to a load
balancer while every client waits for its deadline. So the main thread of
``parallax server`` and ``parallax collector`` checks the service's own health every
``HEALTH_CHECK_INTERVAL_S``; on a problem it stops the service within
``STOP_AFTER_FAILURE_S`` (a stuck stage may never let the stop finish) and the process
exits 1 for its supervisor (systemd, Kubernetes) to restart it. Nothing acknowledged is
lost by exiting: both acknowledge only what is durable.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator

log = logging.getLogger("parallax.supervision")

HEALTH_CHECK_INTERVAL_S = 1.0
STOP_AFTER_FAILURE_S = 15.0


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT while the block runs (on the main thread); the
    handlers before it are back afterwards."""
    stop = threading.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in signals}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def serve_until_stopped(
    service: str,
    problem: Callable[[], str | None],
    stop_service: Callable[[], None],
    stop_requested: threading.Event,
) -> int:
    """Wait for ``stop_requested`` and return 0 (the caller then stops the service
    cleanly), or, once ``problem()`` names one, stop the service and return 1."""
    while not stop_requested.wait(HEALTH_CHECK_INTERVAL_S):
        found = problem()
        if found:
            log.critical(
                "%s cannot go on (%s): exiting for a supervisor to restart", service, found
            )
            stopper = threading.Thread(target=stop_service, name="stop-after-failure", daemon=True)
            stopper.start()
            stopper.join(STOP_AFTER_FAILURE_S)
            return 1
    return 0
