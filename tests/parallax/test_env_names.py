"""The environment's names for settings: ``env_name`` spells them, ``load_settings`` reads
them back, ``without_settings_env`` clears them for a child process."""

from __future__ import annotations

import dataclasses

from parallax.config import Settings, env_name, load_settings, without_settings_env
from parallax.sections import SECTION_TYPES


def test_every_setting_is_read_back_from_the_name_env_name_gives_it():
    defaults = Settings()
    env = {
        env_name(section, f.name): str(getattr(getattr(defaults, section), f.name))
        for section, cls in SECTION_TYPES.items()
        for f in dataclasses.fields(cls)
    }
    assert load_settings(env=env) == defaults


def test_a_name_is_the_prefix_section_and_key_in_upper_case():
    assert env_name("server", "listen") == "PARALLAX_SERVER_LISTEN"
    settings = load_settings(env={env_name("server", "listen"): "127.0.0.1:9"})
    assert settings.server.listen == "127.0.0.1:9"


def test_a_child_environment_keeps_everything_but_the_settings():
    env = {
        "PATH": "/bin",
        "PARALLAX_CONFIG": "a.toml",
        "PARALLAX_SERVER_LISTEN": "x",
        "OTEL_X": "1",
    }
    assert without_settings_env(env) == {"PATH": "/bin", "OTEL_X": "1"}
