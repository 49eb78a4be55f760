"""`parallax dashboard` as a real process, every page loaded in headless Chromium.

The Makefile installs Debian's ``chromium`` and ``chromium-driver``; nothing here is
skipped when they are missing: the test fails and says so. Screenshots land in the
test's temporary directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.dashboard.fixture_lake import UNTIL
from tests.servers import free_port
from tests.waiting import wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
    "--window-size=1400,1800",
]
# Text on each page that only the fixture's data can put there.
PAGES = {
    "": ["Nodes online", "16.3", "5.50%", "Skew violations"],
    "fleet": ["Nodes stale", "heartbeat tolerance (90 s)"],
    "skew": ["Nodes behind tolerance", "fraud-scoring", "share of nodes"],
    "divergence": ["Variant pairs", "Diverging inputs"],  # the latter only with disagreements
    "latency": ["Variants with p95 over budget", "Budget (edge class): 30 ms"],
    "sql": ["6 rows in"],
}
SQL = "SELECT node_id FROM nodes"


@pytest.fixture
def dashboard(fleet_lake, tmp_path) -> Iterator[str]:
    """`parallax dashboard` on a free port; yields its base URL once it answers."""
    port = free_port()
    log = (tmp_path / "dashboard.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "parallax.cli", "dashboard", "--lake", fleet_lake.path,
         "--listen", f"127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if not k.startswith("PARALLAX_")},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(url) or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, (tmp_path / "dashboard.log").read_text()
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read() == b"ok"
    except OSError:
        return False


@pytest.fixture
def browser(tmp_path):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Debian's chromium and chromium-driver are missing: run `make test`")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    yield driver
    driver.quit()


@pytest.mark.slow
def test_every_page_renders_its_data_in_a_real_browser(dashboard, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    for page, proofs in PAGES.items():
        params = {"until": UNTIL, "range": "1h", "refresh": "false"}
        if page == "sql":
            params["q"] = SQL
        browser.get(f"{dashboard}/{page}?{urlencode(params)}")
        body = browser.find_element(By.TAG_NAME, "body")

        def shows(_: object, body=body, proofs=proofs) -> bool:
            return all(proof in body.text for proof in proofs)

        try:
            WebDriverWait(browser, 60).until(shows, message=f"{page or 'overview'}: {proofs}")
        finally:
            browser.save_screenshot(str(tmp_path / f"{page or 'overview'}.png"))
        assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid='stException']"), page
        assert "Traceback" not in body.text, page
