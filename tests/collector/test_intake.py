"""The intake never leaves an app waiting: a dead intake thread answers every export it
holds at once, refuses later ones, and takes the collector process down with it."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading

import grpc
import pytest

from collector import intake
from collector.agent import run_collector
from collector.metrics import liveness
from parallax.config import Settings
from tests.otlp import export_request, inference_span
from tests.servers import OtlpClient
from tests.waiting import wait_until


class InjectedDeath(BaseException):
    """Ends a thread the way no handler catches."""


def kill_the_intake_on_its_next_append(monkeypatch) -> None:
    def die(self, group):
        raise InjectedDeath("intake thread killed")

    monkeypatch.setattr(intake.Intake, "_append", die)


def test_an_export_held_by_a_dying_intake_is_answered_at_once_and_later_ones_refused(
    server, make_collector, monkeypatch
):
    kill_the_intake_on_its_next_append(monkeypatch)
    collector = make_collector(server.address)
    client = OtlpClient(collector.address)
    for _ in range(2):  # the export it held, then one sent after it died
        with pytest.raises(grpc.RpcError) as refused:
            client.export(export_request([inference_span()]), timeout=30)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "the intake thread died" in refused.value.details()
    assert liveness(collector) == ["the intake thread is not running"]


def test_the_collector_exits_non_zero_when_its_intake_dies(
    server, make_collector, monkeypatch, tmp_path
):
    kill_the_intake_on_its_next_append(monkeypatch)
    answers: list[grpc.StatusCode] = []

    def send_one(running) -> None:
        def send() -> None:
            try:
                OtlpClient(running.address).export(export_request([inference_span()]), timeout=30)
            except grpc.RpcError as err:
                answers.append(err.code())

        threading.Thread(target=send, daemon=True).start()

    template = make_collector(server.address).settings  # the fixture's test settings
    collector = dataclasses.replace(template, buffer_dir=str(tmp_path / "second-buffer"))
    # were the death unnoticed, SIGTERM after a minute ends the run with 0 (and the test)
    unnoticed = threading.Timer(60, os.kill, (os.getpid(), signal.SIGTERM))
    unnoticed.start()
    try:
        assert run_collector(Settings(collector=collector), on_ready=send_one) == 1
    finally:
        unnoticed.cancel()
    wait_until(lambda: answers == [grpc.StatusCode.UNAVAILABLE])
