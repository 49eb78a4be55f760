"""parallax.config.read_toml: the one reader of TOML files (settings, fleet policy, the
reconciler's policies); what goes wrong is named with the file and where in it."""

from __future__ import annotations

import pytest

from parallax.config import read_toml
from parallax.errors import ConfigError, ConfigFileError
from reconciler.errors import PolicyError
from reconciler.policy_file import load_policies
from store.fleet.policy_file import load_policy


def test_a_file_reads_as_its_tables(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text('[server]\nlisten = "127.0.0.1:4317"\n')
    assert read_toml(path, "settings file") == {"server": {"listen": "127.0.0.1:4317"}}


def test_a_syntax_error_names_the_file_line_and_column(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text('[server]\nlisten = "127.0.0.1:4317"\nworkers = \n')
    with pytest.raises(ConfigFileError) as caught:
        read_toml(path, "settings file")
    assert caught.value.file == str(path)
    assert str(caught.value).startswith(f"{path}: not valid TOML: ")
    assert "line 3, column 11" in str(caught.value)
    assert isinstance(caught.value, ConfigError)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: None, "policy file not found"),
        (lambda p: p.mkdir(), "policy file cannot be read: Is a directory"),
        (lambda p: p.write_bytes(b'key = "caf\xe9"\n'), "not UTF-8 text (byte 10)"),
    ],
)
def test_a_file_that_cannot_be_read_says_why(tmp_path, make, reason):
    path = tmp_path / "a.toml"
    make(path)
    with pytest.raises(ConfigFileError) as caught:
        read_toml(path, "policy file")
    assert (caught.value.file, caught.value.reason) == (str(path), reason)


def test_every_file_parallax_reads_reports_the_same_way(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[features.x\n")
    with pytest.raises(ConfigError) as fleet:
        load_policy(path)
    with pytest.raises(PolicyError) as policies:
        load_policies(path)
    assert str(fleet.value) == str(policies.value) == str(_reason(path))
    assert policies.value.file == str(path) and policies.value.reason.startswith("not valid TOML")


def _reason(path) -> ConfigFileError:
    try:
        read_toml(path, "any file")
    except ConfigFileError as err:
        return err
    raise AssertionError("read_toml read a broken file")
