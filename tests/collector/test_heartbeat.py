"""The heartbeat client and loop on their own: clock formula, versions, an unreachable backend.

Round trips against a real server: tests/store/fleet/.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from collector.heartbeat import (
    ClockSample,
    Directive,
    HeartbeatClient,
    HeartbeatLoop,
    ModelState,
    NodeState,
    clock_sample,
)
from tests.waiting import wait_until


def unused_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def test_the_clock_estimate_follows_the_ntp_formula():
    # node 2 s behind the server, 10 ms each way, 5 ms spent in the server
    t0 = 1_000_000_000_000
    t1 = t0 + 2_000_000_000 + 10_000_000
    t2 = t1 + 5_000_000
    t3 = t0 + 25_000_000
    assert clock_sample(t0, t1, t2, t3) == ClockSample(
        offset_ns=2_000_000_000, round_trip_ns=20_000_000
    )


def test_models_below_the_minimum_version_need_an_upgrade():
    directive = Directive(1.0, 15.0, {"fraud-scorer": "2.10", "churn": "1.0"})
    models = [
        ModelState("fraud-scorer", "2.9.7"),
        ModelState("fraud-scorer", "2.10"),
        ModelState("fraud-scorer", "2.10.1"),
        ModelState("churn", "0.9"),
        ModelState("unlisted", "0.0.1"),
    ]
    assert directive.upgrades_required(models) == [
        ModelState("fraud-scorer", "2.9.7"),
        ModelState("churn", "0.9"),
    ]


def test_the_loop_keeps_trying_an_unreachable_backend_at_every_interval():
    directives: list[Directive] = []
    with HeartbeatClient(unused_address(), timeout_s=1) as client:
        loop = HeartbeatLoop(client, lambda: NodeState("edge-1"), directives.append, 0.05)
        loop.start()
        wait_until(lambda: loop.beats_failed >= 3, timeout=10)
        loop.stop(timeout=10)
    assert (loop.beats_ok, directives) == (0, [])


def test_stop_interrupts_the_wait_between_heartbeats():
    with HeartbeatClient(unused_address(), timeout_s=1) as client:
        loop = HeartbeatLoop(client, lambda: NodeState("edge-1"), print, interval_s=3600)
        loop.start()
        wait_until(lambda: loop.beats_failed == 1, timeout=10)  # now waiting an hour
        started = time.monotonic()
        loop.stop(timeout=10)
    assert time.monotonic() - started < 1


def test_the_client_reports_no_clock_estimate_before_a_round_trip():
    with HeartbeatClient(unused_address(), timeout_s=1) as client:
        assert client.clock_estimate is None


def test_the_heartbeat_client_imports_no_lake_libraries():
    code = (
        "import sys, collector.heartbeat; "
        "print([m for m in ('duckdb', 'pyarrow', 'store') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
