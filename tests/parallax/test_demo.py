"""`parallax demo` runs the ingest path end to end on a fresh lake."""

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_the_demo_lands_every_inference_and_shows_the_queries(tmp_path):
    lake = tmp_path / "demo-lake"
    result = subprocess.run(
        [sys.executable, "-m", "parallax.cli", "demo", "--lake", str(lake), "--transactions", "30"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert "60 inferences exported" in result.stdout
    assert "Inputs that quantized models label differently" in result.stdout
    assert "stopped cleanly" in result.stderr
