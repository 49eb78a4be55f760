"""The deploy/ examples for dashboard users load, start, and agree with each other."""

from __future__ import annotations

import re
import tomllib

from dashboard.access import check_exposure
from parallax.config import load_settings


def test_the_oidc_example_is_valid_and_may_listen_beyond_loopback(repo_root):
    dashboard = load_settings(repo_root / "deploy" / "dashboard-oidc.toml", env={}).dashboard
    assert dashboard.auth == "oidc" and not dashboard.listen.startswith("127.")
    check_exposure(dashboard)


def test_the_proxy_example_is_valid_and_listens_on_loopback(repo_root):
    dashboard = load_settings(
        repo_root / "deploy" / "dashboard-proxy" / "parallax.toml", env={}
    ).dashboard
    assert dashboard.auth == "proxy" and dashboard.listen == "127.0.0.1:8501"
    check_exposure(dashboard)


def test_oauth2_proxy_forwards_to_the_dashboard_with_the_user_header(repo_root):
    folder = repo_root / "deploy" / "dashboard-proxy"
    dashboard = load_settings(folder / "parallax.toml", env={}).dashboard
    proxy = tomllib.loads((folder / "oauth2-proxy.cfg").read_text())
    assert proxy["upstreams"] == [f"http://{dashboard.listen}/"]
    assert proxy["pass_user_headers"] is True  # sends X-Forwarded-Email
    assert dashboard.proxy_user_header == "X-Forwarded-Email"
    assert dashboard.proxy_sign_out_url.startswith("/oauth2/")


def test_nginx_forwards_to_the_dashboard_setting_the_user_header(repo_root):
    folder = repo_root / "deploy" / "dashboard-proxy"
    dashboard = load_settings(folder / "parallax.toml", env={}).dashboard
    nginx = (folder / "nginx.conf").read_text()
    assert f"proxy_pass http://{dashboard.listen};" in nginx
    assert re.search(rf"proxy_set_header {dashboard.proxy_user_header} \$email;", nginx)
    assert "auth_request /oauth2/auth;" in nginx and "Upgrade $http_upgrade" in nginx
