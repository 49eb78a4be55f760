"""`parallax dashboard` as a real process, every page loaded in headless Chromium.

The Makefile installs Debian's ``chromium`` and ``chromium-driver``; nothing here is
skipped when they are missing: the test fails and says so. Screenshots land in the
test's temporary directory.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from parallax.config import StoreSettings, without_settings_env
from tests.dashboard.fixture_lake import UNTIL, build
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
    "latency": ["Variants over their latency budget", "Budget check"],
    "sql": ["6 rows in"],  # after pressing Run
}
# Queries a hostile link may carry; {lake}, {catalog}, {lock}, {data_file} are the lake's paths.
HOSTILE = [
    "ATTACH '{catalog}' AS cat (TYPE sqlite); CREATE TABLE cat.pwned (a INTEGER)",
    "COPY (SELECT 1 AS a) TO '{data_file}' (FORMAT parquet)",
    "SELECT content FROM read_blob('{catalog}')",
    "SELECT content FROM read_text('{lock}')",
    "SELECT file FROM glob('{lake}/*')",
    "SELECT * FROM sqlite_scan('{catalog}', 'ducklake_data_file')",
]
SQL = "SELECT node_id FROM nodes"


@pytest.fixture
def dashboard(fleet_lake, tmp_path) -> Iterator[str]:
    """`parallax dashboard` on the fixture lake; yields its base URL once it answers."""
    yield from _run_dashboard(fleet_lake.path, tmp_path)


@pytest.fixture
def lake_copy(tmp_path) -> Path:
    """A fixture lake of this test's own, for attacks on its files."""
    return Path(build(StoreSettings(path=str(tmp_path / "lake"))).path)


@pytest.fixture
def dashboard_on_copy(lake_copy, tmp_path) -> Iterator[str]:
    yield from _run_dashboard(str(lake_copy), tmp_path)


def _run_dashboard(lake: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = without_settings_env(os.environ)
    yield from serve_dashboard(
        ["dashboard", "--lake", lake, "--listen", f"127.0.0.1:{port}"],
        f"http://127.0.0.1:{port}",
        env,
        tmp_path,
    )


def serve_dashboard(
    args: list[str], url: str, env: dict[str, str], tmp_path: Path
) -> Iterator[str]:
    """`parallax ARGS` as a process; yields ``url`` once the dashboard answers there."""
    log = (tmp_path / "dashboard.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "launch.cli", *args], stdout=log, stderr=subprocess.STDOUT, env=env
    )
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
    yield from start_chromium(tmp_path)


def start_chromium(tmp_path: Path) -> Iterator:
    """Headless Chromium driven by chromedriver; quits when the generator is closed."""
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
        if page == "sql":
            _press_run(browser)

        def shows(_: object, body=body, proofs=proofs) -> bool:
            return all(proof in body.text for proof in proofs)

        try:
            WebDriverWait(browser, 60).until(shows, message=f"{page or 'overview'}: {proofs}")
        finally:
            browser.save_screenshot(str(tmp_path / f"{page or 'overview'}.png"))
        assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid='stException']"), page
        assert "Traceback" not in body.text, page


@pytest.mark.slow
def test_hostile_links_to_the_sql_page_run_nothing_until_run_and_then_change_and_leak_nothing(
    dashboard_on_copy, lake_copy, browser, tmp_path
):
    from selenium.webdriver.common.by import By

    before, secrets = _lake_files(lake_copy), _secrets_of(lake_copy)
    for number, template in enumerate(HOSTILE):
        query = _fill(template, lake_copy)
        browser.get(f"{dashboard_on_copy}/sql?{urlencode({'q': query, 'refresh': 'false'})}")
        _wait_for_text(browser, "Nothing has run yet")
        _wait_for(browser, "textarea")  # Streamlit draws the page's elements one by one
        assert browser.find_element(By.TAG_NAME, "textarea").get_attribute("value") == query
        assert _lake_files(lake_copy) == before, f"{query} ran before Run was pressed"
        _press_run(browser)
        _wait_for(browser, "[data-testid='stAlert']")
        browser.save_screenshot(str(tmp_path / f"hostile-{number}.png"))
        page = browser.find_element(By.TAG_NAME, "body").text
        assert "refused" in page or "cannot" in page.lower() or "unable" in page.lower(), query
        assert not any(secret in page for secret in secrets), query
        assert _lake_files(lake_copy) == before, query


def _fill(template: str, lake: Path) -> str:
    data_file = next((lake / "data").rglob("*.parquet"))
    return template.format(
        lake=lake, catalog=lake / "catalog.sqlite", lock=lake / "writer.lock", data_file=data_file
    )


def _lake_files(root: Path) -> dict[str, str]:
    """Every file of the lake with its hash (SQLite's -wal and -shm belong to readers too)."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.endswith(("-wal", "-shm"))
    }


def _secrets_of(root: Path) -> list[str]:
    lock = (root / "writer.lock").read_text().strip()
    return ["SQLite format 3", lock, "ducklake_data_file_id"]


def _press_run(browser) -> None:
    from selenium.webdriver.common.by import By

    _wait_for(browser, "[data-testid='stBaseButton-primary']")
    browser.find_element(By.CSS_SELECTOR, "[data-testid='stBaseButton-primary']").click()


def _wait_for(browser, selector: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 60).until(
        lambda driver: driver.find_elements(By.CSS_SELECTOR, selector), message=selector
    )


def _wait_for_text(browser, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 60).until(
        lambda driver: text in driver.find_element(By.TAG_NAME, "body").text, message=text
    )
