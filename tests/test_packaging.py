"""Install footprints and the built wheel: an edge node gets no lake or dashboard libraries,
and a wheel installed away from the checkout runs server, reconciler and SQL on its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from parallax import conventions as conv
from tests.otlp import export_request, inference_span
from tests.servers import OtlpClient, ParallaxProcess

HEAVY = ("duckdb", "pyarrow", "streamlit", "numpy")
REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("parallax", "parallax_sdk", "collector", "store", "reconciler", "dashboard", "launch")


def test_the_collector_extra_brings_no_lake_or_dashboard_libraries(repo_root):
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    collector = project["optional-dependencies"]["collector"]
    assert not [dep for dep in collector if dep.split("=")[0].split("[")[0] in HEAVY]
    assert project["dependencies"] == []


def test_the_command_line_starts_without_importing_the_store():
    code = (
        "import sys, launch.cli; launch.cli.build_parser(); "
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


def test_duckdb_and_its_extension_packages_are_pinned_to_one_version(repo_root):
    server = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["server"]
    duckdb_pins = [dep for dep in server if dep.startswith("duckdb")]
    assert {pin.split("==")[1] for pin in duckdb_pins} == {"1.5.5"}
    assert len(duckdb_pins) == 5


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel `pip wheel` builds from a copy of the checkout (setuptools writes build/
    next to its source, which must not be the repository)."""
    where = tmp_path_factory.mktemp("wheel")
    checkout = where / "checkout"
    shutil.copytree(
        REPO_ROOT,
        checkout,
        symlinks=True,
        ignore=shutil.ignore_patterns(".*", "__pycache__", "*.egg-info", "build", "parallax-data"),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         str(checkout), "-w", str(where)],
        check=True, capture_output=True,
    )  # fmt: skip
    (built,) = where.glob("parallax-*.whl")
    return built


def test_the_wheel_carries_every_file_the_packages_read_and_no_checkout_tools(wheel):
    """SQL, protos and the demo's policies are read from the package at run time."""
    names = set(zipfile.ZipFile(wheel).namelist())
    data_files = {
        path.relative_to(REPO_ROOT).as_posix()
        for package in PACKAGES
        for path in (REPO_ROOT / package).rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc")
    }
    assert {"reconciler/sql/answers.sql", "launch/demo/policies.toml"} <= data_files
    assert data_files - names == set()
    assert "parallax_sdk/__init__.py" in names
    assert not [name for name in names if name.startswith(("tools/", "tests/", "bench/"))]


@dataclass(frozen=True)
class Installed:
    """The wheel installed in a fresh venv, run from a directory outside the checkout."""

    venv: Path
    cwd: Path
    env: dict[str, str]

    def parallax(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.venv / "bin" / "parallax"), *args],
            cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def python(self, code: str) -> str:
        result = subprocess.run(
            [str(self.venv / "bin" / "python"), "-c", code],
            cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return result.stdout.strip()


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Installed:
    """A new venv holding only the wheel (``--no-deps``); its dependencies come from the
    project venv's site-packages through a .pth line. A directory named in a .pth file is
    added to sys.path without running the .pth files inside it, so the project venv's
    editable-install hook (which would put the checkout on the path) stays off."""
    where = tmp_path_factory.mktemp("installed")
    target = where / "venv"
    venv.create(target, with_pip=False)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(target / "bin" / "python"), "install",
         "--no-deps", "--no-index", "-q", str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    dependencies = sysconfig.get_paths()["purelib"]
    assert sys.prefix != sys.base_prefix, "the suite runs in the project venv"
    site_packages = sysconfig.get_paths(vars={"base": str(target), "platbase": str(target)})[
        "purelib"
    ]
    Path(site_packages, "project-dependencies.pth").write_text(dependencies + "\n")
    cwd = where / "elsewhere"
    cwd.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "PYTHONPATH" and not key.startswith("PARALLAX_")
    }
    return Installed(target, cwd, env)


def test_the_installed_wheel_imports_its_own_code_not_the_checkout(installed):
    shown = installed.python(
        "import sys, reconciler, store, launch.cli; "
        "print(reconciler.__file__); print(store.__file__); print(*sys.path, sep='\\n')"
    ).splitlines()
    reconciler_file, store_file, *path = shown
    assert Path(reconciler_file).is_relative_to(installed.venv)
    assert Path(store_file).is_relative_to(installed.venv)
    assert not [entry for entry in path if entry and Path(entry).resolve() == REPO_ROOT]


def test_the_installed_demo_reads_its_policies_from_the_package(installed):
    """`parallax demo` needs no checkout: its policies file ships in the wheel."""
    shown = installed.python(
        "from launch.demo.orchestrator import POLICIES_FILE; "
        "from reconciler import configured_policies; "
        "print(POLICIES_FILE); print(sorted(configured_policies(str(POLICIES_FILE)).features))"
    ).splitlines()
    assert Path(shown[0]).is_relative_to(installed.venv)
    assert "fraud-scoring" in shown[1]


def _spans_of_two_variants(inputs: int) -> list:
    """Two nodes answer the same inputs with different model versions: ``2 * inputs`` spans."""
    requests = []
    for node, version in (("node-a", "2.3"), ("node-b", "2.2")):
        spans = [
            inference_span(attrs={conv.INPUT_FINGERPRINT: f"in-{i}", conv.MODEL_VERSION: version})
            for i in range(inputs)
        ]
        requests.append(export_request(spans, resource={conv.HOST_ID: node}))
    return requests


def test_the_installed_wheel_ingests_reconciles_and_answers_sql(installed):
    lake = installed.cwd / "lake"
    server = ParallaxProcess(
        "server", "--lake", str(lake), "--listen", "127.0.0.1:0",
        env={"PARALLAX_SERVER_FLUSH_INTERVAL_MS": "20", "PYTHONPATH": ""},
        program=[str(installed.venv / "bin" / "parallax")], cwd=installed.cwd,
    )  # fmt: skip
    client = OtlpClient(server.address)
    try:
        for request in _spans_of_two_variants(inputs=40):
            client.export(request)  # acknowledged after the lake commit
    finally:
        client.close()
    assert server.stop() == 0

    reconciled = installed.parallax("reconcile", "--lake", str(lake))
    assert reconciled.returncode == 0, reconciled.stderr
    assert "80 new spans" in reconciled.stdout

    counted = installed.parallax(
        "sql", "--lake", str(lake), "--format", "csv",
        "select (select count(*) from spans), (select count(*) from reconciled)",
    )  # fmt: skip
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.splitlines()[-1] == "80,40"
