"""Install footprints: an edge node gets no lake or dashboard libraries."""

import shutil
import subprocess
import sys
import tomllib
import zipfile

HEAVY = ("duckdb", "pyarrow", "streamlit", "numpy")


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


def test_the_wheel_carries_the_demo_policies_and_no_checkout_tools(repo_root, tmp_path):
    """An installed wheel runs `parallax demo`: its policies file is package data."""
    checkout = tmp_path / "checkout"  # setuptools builds in <source>/build: not in the repo
    shutil.copytree(
        repo_root,
        checkout,
        symlinks=True,
        ignore=shutil.ignore_patterns(".*", "__pycache__", "*.egg-info", "build", "parallax-data"),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         str(checkout), "-w", str(tmp_path)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("parallax-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "launch/demo/policies.toml" in names
    assert "parallax_sdk/__init__.py" in names
    assert not [name for name in names if name.startswith(("tools/", "tests/", "bench/"))]
