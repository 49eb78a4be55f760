"""Collector tests share an in-process collector factory."""

from __future__ import annotations

import dataclasses

import pytest

from collector.agent import start_collector
from parallax.config import CollectorSettings


@pytest.fixture
def make_collector(tmp_path):
    """Start an in-process collector on a free port; keyword arguments override its settings."""
    started = []

    def start(backend: str, **overrides):
        settings = dataclasses.replace(
            CollectorSettings(
                listen="127.0.0.1:0",
                http_listen="127.0.0.1:0",
                metrics_listen="127.0.0.1:0",
                backend=backend,
                node_id="edge-7",
                hardware_tier="device",
                accelerator="npu",
                region="eu-west",
                buffer_dir=str(tmp_path / "buffer"),
                retry_initial_s=0.05,
                retry_max_s=0.5,
                # Many tests leave the backend down on purpose: stopping then gives up
                # flushing after a second (tests that need the flush set their own).
                shutdown_flush_s=1.0,
            ),
            **overrides,
        )
        collector = start_collector(settings)
        started.append(collector)
        return collector

    yield start
    for collector in started:
        collector.stop()
