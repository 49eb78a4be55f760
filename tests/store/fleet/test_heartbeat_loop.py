"""The collector's heartbeat loop against a real server: directives applied, outages survived."""

from __future__ import annotations

import socket
import threading
import time

from collector.heartbeat import Directive, HeartbeatClient, HeartbeatLoop, NodeState
from store.fleet import FleetPolicy
from tests.servers import lake_rows
from tests.waiting import wait_until

FAST = 0.05  # heartbeat interval in these tests, seconds


class Directives:
    """The loop's callback: collects the directives it is given."""

    def __init__(self) -> None:
        self.seen: list[Directive] = []
        self._lock = threading.Lock()

    def __call__(self, directive: Directive) -> None:
        with self._lock:
            self.seen.append(directive)

    def ratios(self) -> list[float]:
        with self._lock:
            return [d.sampling_ratio for d in self.seen]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_loop_calls_back_with_the_first_directive_and_each_change(make_server):
    server = make_server()
    server.fleet.set_policy(FleetPolicy(heartbeat_interval_s=FAST))
    directives = Directives()
    with HeartbeatClient(server.address) as client:
        loop = HeartbeatLoop(client, lambda: NodeState("edge-1"), directives, interval_s=FAST)
        loop.start()
        try:
            wait_until(lambda: loop.beats_ok >= 3, timeout=10)
            server.fleet.set_policy(FleetPolicy(sampling_ratio=0.5, heartbeat_interval_s=FAST))
            wait_until(lambda: directives.ratios() == [1.0, 0.5], timeout=10)
            beats = loop.beats_ok
            wait_until(lambda: loop.beats_ok >= beats + 3, timeout=10)
        finally:
            loop.stop(timeout=10)
    assert directives.ratios() == [1.0, 0.5]  # unchanged directives are not handed on
    assert loop.directive.sampling_ratio == 0.5


def test_the_loop_keeps_beating_while_the_backend_is_down_and_recovers_when_it_is_back(
    make_server, store_settings
):
    address = f"127.0.0.1:{free_port()}"
    first = make_server(listen=address)
    first.fleet.set_policy(FleetPolicy(heartbeat_interval_s=FAST))
    directives = Directives()
    with HeartbeatClient(address, timeout_s=2) as client:
        loop = HeartbeatLoop(client, lambda: NodeState("edge-1"), directives, interval_s=60)
        loop.start()
        try:
            wait_until(lambda: loop.beats_ok >= 2, timeout=10)
            first.stop()
            failed = loop.beats_failed
            wait_until(lambda: loop.beats_failed >= failed + 3, timeout=10)
            beats = loop.beats_ok

            second = make_server(listen=address)  # same port, same lake
            second.fleet.set_policy(FleetPolicy(sampling_ratio=0.2))
            wait_until(lambda: loop.beats_ok > beats, timeout=15)
            assert directives.ratios() == [1.0, 0.2]
            assert loop.interval_s == 15.0  # the new server's default policy
        finally:
            started = time.monotonic()
            loop.stop(timeout=10)
            assert time.monotonic() - started < 2  # stop interrupts the 15 s wait
    second.stop()  # release the lake for reading
    assert lake_rows(store_settings, "SELECT heartbeat_count FROM nodes") == [(loop.beats_ok,)]
