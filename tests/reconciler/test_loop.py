"""The reconciler inside the server: its runs hand the interpreter lock on quickly, since
they run beside the busy ingest threads (parallax.interpreter)."""

from __future__ import annotations

import sys
import threading

import pytest

from parallax.config import ReconcilerSettings
from parallax.interpreter import QUICK_SWITCH_INTERVAL_S
from reconciler import loop
from reconciler.loop import ReconcilerLoop
from store import open_writer


def test_a_run_in_the_server_hands_the_interpreter_lock_on_quickly(store_settings, monkeypatch):
    seen, ran = [], threading.Event()

    def recording_run(*args, **kwargs):
        seen.append(sys.getswitchinterval())
        ran.set()
        raise RuntimeError("recorded; the loop logs it and waits for the next run")

    monkeypatch.setattr(loop, "reconcile", recording_run)
    usual = sys.getswitchinterval()
    with open_writer(store_settings) as lake:
        reconciler = ReconcilerLoop(lake, ReconcilerSettings(interval_s=0.01))
        reconciler.start()
        try:
            assert ran.wait(30)
        finally:
            reconciler.stop()
    assert seen[0] == pytest.approx(QUICK_SWITCH_INTERVAL_S)
    assert sys.getswitchinterval() == pytest.approx(usual)
