"""Settings resolution: defaults < file < environment < flags, and errors that name the key."""

from __future__ import annotations

import pytest

from parallax.config import documented_keys, load_settings
from parallax.errors import ConfigError


def write(tmp_path, text: str):
    path = tmp_path / "parallax.toml"
    path.write_text(text)
    return path


def test_defaults_apply_without_a_file():
    settings = load_settings(env={})
    assert settings.server.listen == "127.0.0.1:4317"
    assert settings.store.path == "./parallax-data"
    assert settings.server.max_message_bytes == 4 * 1024 * 1024


def test_file_then_environment_then_flags_each_win_over_the_previous(tmp_path):
    config = write(
        tmp_path, '[server]\nlisten = "0.0.0.0:1"\nflush_rows = 10\nmax_concurrent_requests = 3\n'
    )
    env = {"PARALLAX_SERVER_FLUSH_ROWS": "20", "PARALLAX_SERVER_MAX_CONCURRENT_REQUESTS": "4"}
    settings = load_settings(config, env=env, overrides={"server.max_concurrent_requests": 5})
    assert settings.server.listen == "0.0.0.0:1"
    assert settings.server.flush_rows == 20
    assert settings.server.max_concurrent_requests == 5


def test_the_config_file_can_come_from_the_environment(tmp_path):
    config = write(tmp_path, '[store]\npath = "/srv/lake"\n')
    assert load_settings(env={"PARALLAX_CONFIG": str(config)}).store.path == "/srv/lake"


def test_an_unknown_key_in_the_file_names_the_key_and_the_file(tmp_path):
    config = write(tmp_path, "[server]\nflush_rowz = 10\n")
    with pytest.raises(ConfigError) as error:
        load_settings(config, env={})
    assert str(config) in str(error.value)
    assert "server.flush_rowz" in str(error.value)


def test_an_unknown_section_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown section \[servr\]"):
        load_settings(write(tmp_path, "[servr]\nlisten = 'x:1'\n"), env={})


def test_a_bad_value_names_the_key_the_file_and_the_problem(tmp_path):
    config = write(tmp_path, '[server]\nflush_rows = "many"\n')
    with pytest.raises(ConfigError) as error:
        load_settings(config, env={})
    message = str(error.value)
    assert str(config) in message and "server.flush_rows" in message and "expected int" in message


def test_a_value_out_of_range_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="greater than 0"):
        load_settings(write(tmp_path, "[server]\nmax_concurrent_requests = 0\n"), env={})
    with pytest.raises(ConfigError, match="HOST:PORT"):
        load_settings(write(tmp_path, '[server]\nlisten = "localhost"\n'), env={})


def test_a_bad_environment_variable_is_named():
    with pytest.raises(ConfigError, match=r"PARALLAX_SERVER_MAX_CONCURRENT_REQUESTS.*expected int"):
        load_settings(env={"PARALLAX_SERVER_MAX_CONCURRENT_REQUESTS": "lots"})
    with pytest.raises(ConfigError, match="PARALLAX_SERVER_MAX_CONCURENT_REQUESTS"):
        load_settings(env={"PARALLAX_SERVER_MAX_CONCURENT_REQUESTS": "2"})


def test_invalid_toml_names_the_file(tmp_path):
    config = write(tmp_path, "[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config, env={})


def test_a_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", env={})


def test_integers_are_accepted_for_float_settings(tmp_path):
    settings = load_settings(write(tmp_path, "[server]\nstats_interval_s = 5\n"), env={})
    assert settings.server.stats_interval_s == 5.0


def test_every_setting_is_documented_in_the_configuration_reference(repo_root):
    reference = (repo_root / "docs" / "configuration.md").read_text()
    missing = [key for key in documented_keys() if f"`{key}`" not in reference]
    assert not missing, f"undocumented settings: {missing}"
