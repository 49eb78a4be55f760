"""`parallax` processes log as JSON, one object a stderr line, when log.format = "json"."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime

from tests.servers import ParallaxProcess

JSON_LOGS = {"PARALLAX_LOG_FORMAT": "json"}


def test_a_server_and_a_collector_write_only_json_lines_even_for_a_hostile_node_id(tmp_path):
    server = ParallaxProcess(
        "server", "--lake", str(tmp_path / "lake"), "--listen", "127.0.0.1:0", env=JSON_LOGS
    )
    # Undecodable bytes in the environment arrive as lone surrogates; a newline too.
    hostile_node = "edge-\udcff\nforged-line"
    collector = ParallaxProcess(
        "collector",
        "--backend",
        server.address,
        "--buffer-dir",
        str(tmp_path / "buffer"),
        "--listen",
        "127.0.0.1:0",
        env={**JSON_LOGS, "PARALLAX_COLLECTOR_NODE_ID": hostile_node},
    )
    assert collector.stop(signal.SIGTERM) == 0
    assert server.stop(signal.SIGTERM) == 0

    collector_lines = parse_json_lines(collector.proc.stderr.read())
    server_lines = parse_json_lines(server.proc.stderr.read())
    for line in collector_lines + server_lines:
        assert {"time", "level", "logger", "message"} <= line.keys()
        assert datetime.fromisoformat(line["time"]).utcoffset().total_seconds() == 0
    started = [line for line in collector_lines if "listening on" in line["message"]]
    assert started and "edge-\ufffd\nforged-line" in started[0]["message"]
    assert any(line["logger"] == "parallax.server" for line in server_lines)


def test_a_start_up_error_is_a_json_line_too(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "launch.cli", "collector", "--buffer-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, **JSON_LOGS},
        timeout=60,
    )
    assert result.returncode == 2
    (line,) = parse_json_lines(result.stderr)
    assert line["level"] == "ERROR" and "collector.backend is not set" in line["message"]


def parse_json_lines(text: str) -> list[dict]:
    """Every line of ``text`` as a JSON object; fails on any line that is not one."""
    assert text.endswith("\n"), text
    lines = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(line, dict) for line in lines)
    return lines
