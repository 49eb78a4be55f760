"""Screenshots of every dashboard page from a real demo run, for the README.

    .venv/bin/python docs/screenshots.py [--out docs/images] [--lake /tmp/parallax-screenshots]

Runs ``parallax demo --reset`` (six nodes, the dashboard on), waits for the moments of
the story each page should show, and saves one PNG per page (1280x800) taken by Debian's
headless ``chromium`` through ``chromedriver``, set up as in the dashboard's browser test
(``make test`` installs both). Takes about three minutes; stops the demo with Ctrl-C.
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WINDOW = (1280, 800)
SAME_VERSION_PAIR = "fraud-gbm 2.1 fp32 cloud cpu vs fraud-gbm 2.1 int8 device npu"
SQL = (
    "SELECT severity, kind, subject, detail FROM findings WHERE status = 'open' "
    "ORDER BY severity, kind"
)
PAIR = {"pair_feature": "fraud-scoring", "pair": SAME_VERSION_PAIR}
# (seconds into the demo, page, file, URL parameters, text that shows it has loaded,
#  text to scroll to or None)
SHOTS = [
    (80, "fleet", "fleet.png", {}, "Nodes stale", None),  # eu-device-01's link is down (36-96 s)
    (140, "", "overview.png", {}, "Nodes online", None),  # the 2.3 rollout (108-168 s)
    (140, "skew", "skew.png", {"feature": "fraud-scoring"}, "Nodes behind tolerance", None),
    (145, "divergence", "divergence.png", PAIR, "Variant pairs", None),
    (145, "divergence", "divergence-inputs.png", PAIR, "Diverging inputs", "Diverging inputs"),
    (150, "latency", "latency.png", {}, "Variants over their latency budget", None),
    (150, "sql", "sql.png", {"q": SQL}, "rows in", None),
]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--lake", default="/tmp/parallax-screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    demo = subprocess.Popen(
        [sys.executable, "-m", "launch.cli", "demo", "--reset", "--lake", args.lake],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        url, started = _wait_for_start(demo)
        browser = _browser()
        try:
            for at_s, page, name, params, proof, scroll_to in SHOTS:
                _sleep_until(started + at_s)
                _capture(browser, f"{url}/{page}", params, proof, scroll_to, args.out / name)
                print(f"{time.time() - started:5.0f}s  {name}", flush=True)
        finally:
            browser.quit()
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(180)
    return 0


def _wait_for_start(demo: subprocess.Popen) -> tuple[str, float]:
    url = None
    for line in demo.stdout:  # type: ignore[union-attr]
        sys.stdout.write(line)
        match = re.search(r"dashboard\s+(http://\S+)", line)
        if match:
            url = match[1]
        if "What happens" in line and url:
            threading.Thread(target=_echo, args=(demo,), daemon=True).start()
            return url, time.time()
    raise SystemExit("the demo did not start")


def _echo(demo: subprocess.Popen) -> None:
    for line in demo.stdout:  # type: ignore[union-attr]
        sys.stdout.write(line)


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--hide-scrollbars", f"--window-size={WINDOW[0]},{WINDOW[1]}"):  # fmt: skip
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    browser.execute_cdp_cmd(  # the page's viewport exactly, whatever the window's frame
        "Emulation.setDeviceMetricsOverride",
        {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False},
    )
    return browser


def _capture(
    browser, url: str, params: dict, proof: str, scroll_to: str | None, path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    query = {"range": "15m", "refresh": "false", **params}
    browser.get(f"{url}?{urlencode(query)}")
    body = browser.find_element(By.TAG_NAME, "body")
    WebDriverWait(browser, 90).until(lambda _: proof in body.text, message=proof)
    WebDriverWait(browser, 90).until(
        lambda _: not browser.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidget']")
    )
    if scroll_to:
        heading = browser.find_element(By.XPATH, f"//*[text()={scroll_to!r}]")
        browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", heading)
    time.sleep(3)  # charts draw after the data arrives
    browser.save_screenshot(str(path))


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


if __name__ == "__main__":
    sys.exit(main())
