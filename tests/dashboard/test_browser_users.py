"""Dashboard users in headless Chromium against `parallax dashboard` as a real process.

Proxy mode: Chromium sends the user header on every request (DevTools'
``Network.setExtraHTTPHeaders``, the WebSocket upgrade included), as a proxy in front would.
OIDC mode: a stand-in provider serves a discovery document; pressing Sign in must take
the browser to its authorization endpoint with the client id and redirect URI the
launcher handed to Streamlit through its secrets file.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from dashboard.auth import NOT_SIGNED_IN, SIGN_IN_TITLE
from tests.dashboard.fixture_lake import UNTIL
from tests.dashboard.test_browser import _wait_for_text, serve_dashboard, start_chromium
from tests.servers import free_port

PARAMS = urlencode({"until": UNTIL, "range": "1h", "refresh": "false"})
PROVIDER_PAGE = "Stand-in OpenID provider"


class _Provider(BaseHTTPRequestHandler):
    """An OpenID provider that only publishes its discovery document and a sign-in page."""

    def do_GET(self) -> None:
        base = f"http://127.0.0.1:{self.server.server_port}"
        if self.path == "/.well-known/openid-configuration":
            body, kind = json.dumps({
                "issuer": base,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "jwks_uri": f"{base}/jwks",
            }), "application/json"  # fmt: skip
        else:
            body, kind = f"<html><body>{PROVIDER_PAGE}</body></html>", "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def browser(tmp_path):
    yield from start_chromium(tmp_path)


@pytest.fixture
def provider() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _start(config: str, tmp_path: Path) -> Iterator[str]:
    """`parallax --config <config> dashboard`; yields its base URL once it answers."""
    config_file = tmp_path / "parallax.toml"
    config_file.write_text(config)
    url = "http://" + config.split('listen = "')[1].split('"')[0]
    yield from serve_dashboard(
        ["--config", str(config_file), "dashboard"], url, {"PATH": "/usr/bin:/bin"}, tmp_path
    )


@pytest.fixture
def behind_proxy(fleet_lake, tmp_path) -> Iterator[str]:
    yield from _start(
        f'[store]\npath = "{fleet_lake.path}"\n[dashboard]\nauth = "proxy"\n'
        f'listen = "127.0.0.1:{free_port()}"\n',
        tmp_path,
    )


@pytest.fixture
def with_oidc(fleet_lake, provider, tmp_path) -> Iterator[str]:
    port = free_port()
    (tmp_path / "client-secret").write_text("s3cr3t\n")
    yield from _start(
        f'[store]\npath = "{fleet_lake.path}"\n[dashboard]\nauth = "oidc"\n'
        f'listen = "127.0.0.1:{port}"\n'
        f'oidc_server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
        f'oidc_client_id = "parallax-dashboard"\n'
        f'oidc_client_secret_file = "{tmp_path / "client-secret"}"\n'
        f'oidc_redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n',
        tmp_path,
    )


@pytest.mark.slow
def test_behind_a_proxy_chromium_sees_the_fleet_only_with_the_user_header(
    behind_proxy, browser, tmp_path
):
    from selenium.webdriver.common.by import By

    browser.get(f"{behind_proxy}/fleet?{PARAMS}")
    _wait_for_text(browser, NOT_SIGNED_IN)
    browser.save_screenshot(str(tmp_path / "proxy-no-header.png"))
    assert "Nodes stale" not in browser.find_element(By.TAG_NAME, "body").text

    browser.execute_cdp_cmd("Network.enable", {})
    headers = {"X-Forwarded-Email": "ana@example.com"}
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})
    browser.get(f"{behind_proxy}/fleet?{PARAMS}")
    _wait_for_text(browser, "Nodes stale")
    browser.save_screenshot(str(tmp_path / "proxy-signed-in.png"))
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Signed in as ana@example.com" in body and NOT_SIGNED_IN not in body


@pytest.mark.slow
def test_with_oidc_sign_in_takes_chromium_to_the_provider_with_the_configured_client(
    with_oidc, provider, browser, tmp_path
):
    from selenium.webdriver.common.by import By

    browser.get(f"{with_oidc}/fleet?{PARAMS}")
    _wait_for_text(browser, SIGN_IN_TITLE)
    assert "Nodes stale" not in browser.find_element(By.TAG_NAME, "body").text
    browser.find_element(By.CSS_SELECTOR, "[data-testid='stBaseButton-primary']").click()
    _wait_for_text(browser, PROVIDER_PAGE)
    browser.save_screenshot(str(tmp_path / "oidc-provider.png"))
    asked = urlparse(browser.current_url)
    assert f"{asked.scheme}://{asked.netloc}{asked.path}" == f"{provider}/authorize"
    query = parse_qs(asked.query)
    assert query["client_id"] == ["parallax-dashboard"]
    assert query["redirect_uri"] == [f"{with_oidc}/oauth2callback"]
    assert query["response_type"] == ["code"] and "openid" in query["scope"][0]
