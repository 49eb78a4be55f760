"""The import contracts of pyproject.toml ([tool.importlinter]) hold, and they bite.

Imports run down the layers (launch > components > the kernel), the dashboard and the
reconciler read the lake only through ``store``, the collector and the SDK import no
backend, and components import each other only through what their ``__init__`` exports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGES = ("parallax", "parallax_sdk", "collector", "store", "reconciler", "dashboard", "launch")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "200"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True
    )


def test_every_import_contract_is_kept(repo_root):
    result = lint_imports(repo_root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 broken" in result.stdout


@pytest.fixture
def checkout_copy(repo_root, tmp_path) -> Path:
    """The packages and pyproject.toml copied, for breaking a contract on purpose."""
    for package in PACKAGES:
        shutil.copytree(
            repo_root / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    shutil.copy(repo_root / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("parallax/errors.py", "import store", "Layers: launch > components > kernel"),
        ("store/schema.py", "import reconciler", "through store, never each other"),
        ("collector/agent.py", "import store", "import no backend component"),
        ("dashboard/charts.py", "import store.lake", "only through what their __init__ exports"),
    ],
)
def test_an_import_against_a_contract_fails_the_check(checkout_copy, module, line, contract):
    path = checkout_copy / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    result = lint_imports(checkout_copy)
    assert result.returncode != 0
    broken = [row for row in result.stdout.splitlines() if row.endswith("BROKEN")]
    assert any(contract in row for row in broken), result.stdout
