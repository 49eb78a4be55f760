"""While any thread is inside ``quick_lock_handoff`` the interpreter lock changes hands
every 0.5 ms; once the last one leaves, the process's usual interval is back."""

from __future__ import annotations

import sys
import threading

import pytest

from parallax.interpreter import QUICK_SWITCH_INTERVAL_S, quick_lock_handoff


@pytest.fixture
def usual_interval():
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.004)
    yield 0.004
    sys.setswitchinterval(before)


def test_the_interval_is_quick_inside_and_usual_again_after(usual_interval):
    with quick_lock_handoff():
        assert sys.getswitchinterval() == pytest.approx(QUICK_SWITCH_INTERVAL_S)
    assert sys.getswitchinterval() == pytest.approx(usual_interval)


def test_it_stays_quick_until_the_last_thread_inside_leaves(usual_interval):
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with quick_lock_handoff():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(10)
    with quick_lock_handoff():
        pass
    assert sys.getswitchinterval() == pytest.approx(QUICK_SWITCH_INTERVAL_S)  # other is inside
    leave.set()
    thread.join()
    assert sys.getswitchinterval() == pytest.approx(usual_interval)


def test_an_error_inside_still_restores_the_interval(usual_interval):
    with pytest.raises(RuntimeError), quick_lock_handoff():
        raise RuntimeError("a failed run")
    assert sys.getswitchinterval() == pytest.approx(usual_interval)
