"""Settings: one frozen dataclass per component, resolved once and passed down.

Precedence, lowest to highest: built-in defaults < fallbacks a command brings (the
collector's ``OTEL_*`` variables) < TOML file < ``PARALLAX_*`` environment variables <
command-line flags. The file is named by ``--config`` or
``PARALLAX_CONFIG``. Sections are the dataclasses of parallax.sections (``[store]``, ``[server]``);
an environment variable is ``PARALLAX_<SECTION>_<KEY>`` in upper case, e.g.
``PARALLAX_SERVER_LISTEN``. An unknown key or a bad value fails at start-up with an
error naming the key and where it came from. Every key is documented in
docs/configuration.md (a test enforces it).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from parallax.checks import problem_with
from parallax.errors import ConfigError, ConfigFileError
from parallax.sections import (
    SECTION_TYPES,
    CollectorSettings,
    DashboardSettings,
    ReconcilerSettings,
    ServerSettings,
    Settings,
    StoreSettings,
)

__all__ = [
    "CollectorSettings",
    "DashboardSettings",
    "ReconcilerSettings",
    "ServerSettings",
    "Settings",
    "StoreSettings",
    "documented_keys",
    "env_name",
    "load_settings",
    "read_toml",
    "without_settings_env",
]

ENV_PREFIX = "PARALLAX_"
CONFIG_FILE_ENV = "PARALLAX_CONFIG"


def env_name(section: str, key: str) -> str:
    """The environment variable that sets ``section.key``: ``PARALLAX_<SECTION>_<KEY>``."""
    return f"{ENV_PREFIX}{section.upper()}_{key.upper()}"


def without_settings_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without the variables Parallax reads settings from (``PARALLAX_*``,
    ``PARALLAX_CONFIG`` included): for a child process given its settings another way."""
    return {name: value for name, value in env.items() if not name.startswith(ENV_PREFIX)}


def load_settings(
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    fallbacks: Mapping[str, tuple[Any, str]] | None = None,
) -> Settings:
    """Resolve settings from defaults, the TOML file, the environment and flag overrides.

    ``overrides`` maps ``"section.key"`` to a value (flags the user actually gave).
    ``fallbacks`` maps ``"section.key"`` to (value, where it came from): values that win
    over the built-in defaults only, such as the collector's ``OTEL_*`` variables.
    """
    env = os.environ if env is None else env
    config_file = config_file or env.get(CONFIG_FILE_ENV) or None
    values: dict[str, dict[str, Any]] = {name: {} for name in SECTION_TYPES}
    for dotted, supplied in (fallbacks or {}).items():
        section, _, key = dotted.partition(".")
        values[section][key] = supplied
    if config_file:
        _merge_file(values, Path(config_file))
    _merge_env(values, env)
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        values[section][key] = (value, "command line")
    return Settings(**{name: _build(cls, values[name]) for name, cls in SECTION_TYPES.items()})


def documented_keys() -> dict[str, str]:
    """Every setting as ``section.key`` with its one-line documentation."""
    return {
        f"{section}.{f.name}": f.metadata["doc"]
        for section, cls in SECTION_TYPES.items()
        for f in dataclasses.fields(cls)
    }


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """The tables of the TOML file at ``path``, for every file Parallax reads settings from.

    Raises ConfigFileError naming the file and why it cannot be used: ``what`` (e.g.
    "fleet policy file") not found or unreadable, not UTF-8 (with the byte offset), or not
    valid TOML (tomllib's reason, with line and column).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigFileError(str(path), f"{what} not found") from err
    except OSError as err:
        raise ConfigFileError(str(path), f"{what} cannot be read: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise ConfigFileError(str(path), f"not UTF-8 text (byte {err.start})") from err
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigFileError(str(path), f"not valid TOML: {err}") from err


def _merge_file(values: dict[str, dict[str, Any]], path: Path) -> None:
    data = read_toml(path, "configuration file")
    for section, table in data.items():
        if section not in SECTION_TYPES:
            raise ConfigError(f"{path}: unknown section [{section}]")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
        for key, value in table.items():
            _require_known(section, key, str(path))
            values[section][key] = (value, str(path))


def _merge_env(values: dict[str, dict[str, Any]], env: Mapping[str, str]) -> None:
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_FILE_ENV:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("_")
        source = f"environment variable {name}"
        if section not in SECTION_TYPES:
            raise ConfigError(f"{source}: unknown section {section!r}")
        _require_known(section, key, source)
        values[section][key] = (_from_text(_field(section, key).type, raw), source)


def _require_known(section: str, key: str, source: str) -> None:
    known = {f.name for f in dataclasses.fields(SECTION_TYPES[section])}
    if key not in known:
        raise ConfigError(
            f"{source}: unknown key {section}.{key} (known: {', '.join(sorted(known))})"
        )


def _field(section: str, key: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(SECTION_TYPES[section]) if f.name == key)


def _from_text(type_name: Any, raw: str) -> Any:
    """Environment values are text; turn them into the field's type where they parse."""
    kind = type_name if isinstance(type_name, str) else type_name.__name__
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        return raw  # left as text: _build reports it with the key and source
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
    return raw


def _build(cls: type, supplied: dict[str, tuple[Any, str]]) -> Any:
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in supplied:
            continue
        value, source = supplied[f.name]
        section = next(name for name, c in SECTION_TYPES.items() if c is cls)
        kwargs[f.name] = _validated(f, value, f"{source}: {section}.{f.name}")
    return cls(**kwargs)


def _validated(f: dataclasses.Field, value: Any, where: str) -> Any:
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    expected = {"int": int, "float": float, "str": str, "bool": bool}[kind]
    value, problem = problem_with(value, expected, f.metadata.get("check"))
    if problem:
        raise ConfigError(f"{where}: {problem}")
    return value
