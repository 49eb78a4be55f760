"""deploy/systemd/: the units as systemd reads them (`systemd-analyze verify`), rated by
`systemd-analyze security --offline`, and consistent with the example configuration.
Starting them needs systemd as PID 1, which this container does not run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from parallax.config import load_settings
from tests.deploy.manifests import DEPLOY

UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
INSTALLED_PROGRAM = "/opt/parallax/.venv/bin/parallax"
# systemd's exposure scale runs from 0 (locked down) to 10 (unprotected), "OK" below 4.4;
# --threshold takes it in tenths and fails above.
EXPOSURE_TENTHS_AT_MOST = 20

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def directives(unit: Path) -> dict[str, list[str]]:
    """``Key=value`` lines of a unit; a key may repeat (SystemCallFilter)."""
    found: dict[str, list[str]] = defaultdict(list)
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found[key.strip()].append(value.strip())
    return found


def runnable_copy(unit: Path, directory: Path) -> Path:
    """The unit with ExecStart's program pointing at this checkout's `parallax`, since
    verify checks that the program exists."""
    program = Path(sys.executable).parent / "parallax"
    copy = directory / unit.name
    copy.write_text(unit.read_text().replace(INSTALLED_PROGRAM, str(program)))
    return copy


def test_every_unit_runs_the_installed_program_as_the_parallax_user():
    assert [unit.name for unit in UNITS] == [
        "parallax-collector.service",
        "parallax-dashboard.service",
        "parallax-server.service",
    ]
    for unit in UNITS:
        found = directives(unit)
        assert found["ExecStart"][0].startswith(INSTALLED_PROGRAM + " "), unit.name
        assert found["User"] == ["parallax"] and found["Group"] == ["parallax"], unit.name


@needs_systemd_analyze
def test_systemd_reads_every_unit_without_a_complaint(tmp_path):
    copies = [str(runnable_copy(unit, tmp_path)) for unit in UNITS]
    result = subprocess.run(
        ["systemd-analyze", "verify", *copies], capture_output=True, text=True, timeout=60
    )
    # An unknown or misspelled directive is only a warning: any output fails.
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@needs_systemd_analyze
@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.stem)
def test_every_unit_is_rated_well_protected_by_systemd(unit, tmp_path):
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true",
         f"--threshold={EXPOSURE_TENTHS_AT_MOST}", str(runnable_copy(unit, tmp_path))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-600:] + result.stderr


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.stem)
def test_every_unit_writes_only_its_state_directory(unit):
    found = directives(unit)
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert found[key] == [value], (unit.name, key)
    assert found["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    (state,) = found["StateDirectory"]
    assert found["WorkingDirectory"] == [f"/var/lib/{state}"]
    assert "ReadWritePaths" not in found  # StateDirectory is the only writable place


def test_the_server_and_dashboard_share_the_lake_the_example_configuration_names():
    server = directives(DEPLOY / "systemd" / "parallax-server.service")
    dashboard = directives(DEPLOY / "systemd" / "parallax-dashboard.service")
    assert server["StateDirectory"] == dashboard["StateDirectory"] == ["parallax"]
    lake = Path(load_settings(DEPLOY / "parallax.toml", env={}).store.path)
    # A relative store.path resolves against WorkingDirectory, inside the state directory.
    working = Path(server["WorkingDirectory"][0])
    assert (working / lake).resolve().is_relative_to("/var/lib/parallax")
    assert int(server["LimitNOFILE"][0]) >= 4096  # server.max_connections' default


def test_the_collector_buffers_in_its_state_directory():
    collector = directives(DEPLOY / "systemd" / "parallax-collector.service")
    buffer_dir = load_settings(DEPLOY / "collector.toml", env={}).collector.buffer_dir
    assert buffer_dir == f"/var/lib/{collector['StateDirectory'][0]}"


def test_the_dashboard_may_use_landlock_for_the_sql_page():
    filters = directives(DEPLOY / "systemd" / "parallax-dashboard.service")["SystemCallFilter"]
    allowed = " ".join(f for f in filters if not f.startswith("~"))
    for call in ("landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"):
        assert call in allowed
