"""The fleet policy file: validated at start-up, re-read when it changes."""

from __future__ import annotations

import os
import time

import pytest

from parallax.errors import ConfigError
from store.fleet import policy_file
from store.fleet.policy_file import PolicyFile, load_policy


def write(path, text: str) -> None:
    path.write_text(text)
    stamp = time.time_ns() + 10**9  # a distinct modification time even on coarse clocks
    os.utime(path, ns=(stamp, stamp))


def test_a_policy_file_sets_every_part_of_the_directive(tmp_path):
    path = tmp_path / "policy.toml"
    write(
        path,
        'sampling_ratio = 0.25\nheartbeat_interval_s = 5\nprewarm = ["recs"]\n'
        '[min_versions]\nfraud-gbm = "2.3"\n',
    )
    policy = load_policy(path)
    assert (policy.sampling_ratio, policy.heartbeat_interval_s) == (0.25, 5.0)
    assert dict(policy.min_versions) == {"fraud-gbm": "2.3"}
    assert policy.prewarm == ("recs",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sampling_rate = 0.5\n", "unknown key(s) sampling_rate"),
        ("sampling_ratio = 2.0\n", "sampling_ratio"),
        ('sampling_ratio = "half"\n', "sampling_ratio: wrong type"),
        ("[min_versions]\nfraud = 2\n", "min_versions"),
        ("sampling_ratio = \n", "not valid TOML"),
    ],
)
def test_a_broken_policy_file_is_refused_naming_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "policy.toml"
    write(path, text)
    with pytest.raises(ConfigError) as error:
        load_policy(path)
    assert str(path) in str(error.value) and message in str(error.value)


def test_an_edited_file_is_picked_up_and_a_broken_edit_keeps_the_last_good_policy(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(policy_file, "CHECK_EVERY_S", 0.0)
    path = tmp_path / "policy.toml"
    write(path, "sampling_ratio = 0.5\n")
    watched = PolicyFile(path)
    assert watched.current().sampling_ratio == 0.5
    write(path, "sampling_ratio = 0.1\n")
    assert watched.current().sampling_ratio == 0.1
    write(path, "sampling_ratio = nonsense\n")
    assert watched.current().sampling_ratio == 0.1


def test_heartbeats_carry_the_policy_from_the_file(make_server, tmp_path, monkeypatch):
    from collector.heartbeat import HeartbeatClient, NodeState

    monkeypatch.setattr(policy_file, "CHECK_EVERY_S", 0.0)
    path = tmp_path / "policy.toml"
    write(path, 'sampling_ratio = 0.3\n[min_versions]\nfraud-gbm = "2.3"\n')
    server = make_server(fleet_policy_file=str(path))
    client = HeartbeatClient(server.address)
    directive = client.beat(NodeState(node_id="edge-1"))
    assert directive.sampling_ratio == 0.3
    assert dict(directive.min_versions) == {"fraud-gbm": "2.3"}
    write(path, "sampling_ratio = 0.7\n")
    assert client.beat(NodeState(node_id="edge-1")).sampling_ratio == 0.7
    client.close()


def test_a_server_with_a_broken_policy_file_does_not_start(make_server, tmp_path):
    path = tmp_path / "policy.toml"
    write(path, "sampling_ratio = -1\n")
    with pytest.raises(ConfigError, match="sampling_ratio"):
        make_server(fleet_policy_file=str(path))
