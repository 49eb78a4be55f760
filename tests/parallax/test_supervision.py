"""A service runs until it is told to stop, or until it names a problem: then it is
stopped (within a bound) and the process is to exit 1."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from parallax import supervision
from parallax.supervision import serve_until_stopped, stop_on_signals


@pytest.fixture(autouse=True)
def quick_checks(monkeypatch):
    monkeypatch.setattr(supervision, "HEALTH_CHECK_INTERVAL_S", 0.01)
    monkeypatch.setattr(supervision, "STOP_AFTER_FAILURE_S", 0.2)


def test_a_stop_request_returns_0_and_leaves_the_clean_stop_to_the_caller():
    stop, stopped = threading.Event(), []
    threading.Timer(0.05, stop.set).start()
    assert serve_until_stopped("svc", lambda: None, lambda: stopped.append(1), stop) == 0
    assert stopped == []


def test_a_problem_stops_the_service_and_returns_1():
    checks = iter([None, None, "the writer thread died"])
    stopped = []
    code = serve_until_stopped(
        "svc", lambda: next(checks), lambda: stopped.append(1), threading.Event()
    )
    assert (code, stopped) == (1, [1])


def test_a_stop_that_never_finishes_does_not_keep_the_process_up(caplog):
    never = threading.Event()
    code = serve_until_stopped("svc", lambda: "stalled", never.wait, threading.Event())
    assert code == 1
    assert "svc cannot go on (stalled)" in caplog.text


def test_sigterm_sets_the_stop_event_while_serving_and_the_old_handler_is_back_after():
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(10)
    assert signal.getsignal(signal.SIGTERM) is before
