"""Dashboard users under AppTest: who has not signed in sees the sign-in and nothing else.

Proxy mode reads the user from the session's request headers (``st.context.headers``);
AppTest has no request, so :func:`sent_headers` stands in for the one the browser's
WebSocket upgrade would carry. OIDC mode reads ``st.user``, which AppTest seeds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import SimpleNamespace

import pytest
import streamlit.runtime.context
from streamlit.testing.v1 import AppTest

from dashboard import auth
from dashboard.data import LakeReader
from parallax.config import StoreSettings
from tests.dashboard.conftest import APP
from tests.dashboard.fixture_lake import UNTIL

PROXY = {"PARALLAX_DASHBOARD_AUTH": "proxy"}
OIDC = {"PARALLAX_DASHBOARD_AUTH": "oidc"}
SIGNED_IN = {"is_logged_in": True, "email": "ana@example.com", "name": "Ana"}


@pytest.fixture
def queries_run(monkeypatch) -> list[str]:
    """Names of the lake queries the app asked for, in order."""
    asked: list[str] = []
    real_frame = LakeReader.frame

    def frame(self, query, *args, **kwargs):
        asked.append(query.__name__)
        return real_frame(self, query, *args, **kwargs)

    monkeypatch.setattr(LakeReader, "frame", frame)
    return asked


@pytest.fixture
def sent_headers(monkeypatch) -> Callable[[Iterable[tuple[str, str]]], None]:
    """``sent_headers([("X-Forwarded-Email", "ana@example.com")])``: the session's request."""

    def send(headers: Iterable[tuple[str, str]]) -> None:
        client = SimpleNamespace(headers=list(headers), cookies={})
        monkeypatch.setattr(streamlit.runtime.context, "_get_client_context", lambda: client)

    send([])
    return send


@pytest.fixture
def open_as(monkeypatch) -> Callable[..., AppTest]:
    """``open_as(lake, env, user=..., page=...)``: run the app with these settings."""
    for name in ("PARALLAX_CONFIG", "PARALLAX_STORE_CATALOG", "PARALLAX_STORE_DATA_PATH"):
        monkeypatch.delenv(name, raising=False)

    def open_(lake: StoreSettings, env: dict[str, str], user=None, page="overview") -> AppTest:
        monkeypatch.setenv("PARALLAX_STORE_PATH", lake.path)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        app = AppTest.from_file(str(APP), default_timeout=60)
        app.query_params.update({"until": UNTIL, "range": "1h", "refresh": "false"})
        if user is not None:
            app.user = user
        if page != "overview":
            app.switch_page(f"views/{page}.py")
        app.run()
        assert not app.exception, [e.message for e in app.exception]
        return app

    return open_


def everything_shown(app: AppTest) -> list[str]:
    texts = [e.value for kind in ("warning", "info", "error", "title", "markdown", "text")
             for e in app.get(kind)]  # fmt: skip
    return texts + [m.label for m in app.metric] + [b.label for b in app.button]


@pytest.mark.parametrize("page", ["overview", "fleet", "sql"])
def test_behind_a_proxy_a_request_without_the_user_header_shows_only_not_signed_in(
    fleet_lake, open_as, sent_headers, queries_run, page
):
    app = open_as(fleet_lake, PROXY, page=page)
    assert everything_shown(app) == [auth.NOT_SIGNED_IN]
    assert not app.selectbox and not app.toggle  # no filters, no refresh switch either
    assert queries_run == []


def test_behind_a_proxy_the_user_header_shows_the_page_and_who_is_signed_in(
    fleet_lake, open_as, sent_headers, queries_run
):
    sent_headers([("x-forwarded-email", "ana@example.com")])  # header names ignore case
    app = open_as(fleet_lake, PROXY, page="fleet")
    assert app.title[0].value == "Fleet" and app.dataframe
    assert "Signed in as ana@example.com" in [t.value for t in app.sidebar.get("text")]
    assert auth.NOT_SIGNED_IN not in everything_shown(app)
    assert queries_run


def test_behind_a_proxy_another_header_name_is_configurable(fleet_lake, open_as, sent_headers):
    nginx = {**PROXY, "PARALLAX_DASHBOARD_PROXY_USER_HEADER": "X-Auth-Request-Email"}
    sent_headers([("X-Forwarded-Email", "ana@example.com")])
    assert everything_shown(open_as(fleet_lake, nginx)) == [auth.NOT_SIGNED_IN]
    sent_headers([("X-Auth-Request-Email", "ana@example.com")])
    assert open_as(fleet_lake, nginx).metric


def test_behind_a_proxy_a_user_header_sent_twice_is_not_believed(
    fleet_lake, open_as, sent_headers, queries_run
):
    sent_headers([("X-Forwarded-Email", "mallory@example.com"), ("X-Forwarded-Email", "ana@x")])
    app = open_as(fleet_lake, PROXY)
    assert everything_shown(app) == [auth.NOT_SIGNED_IN]
    assert queries_run == []


def test_the_proxy_sign_out_link_is_in_the_sidebar(fleet_lake, open_as, sent_headers):
    sent_headers([("X-Forwarded-Email", "ana@example.com")])
    sign_out = {"PARALLAX_DASHBOARD_PROXY_SIGN_OUT_URL": "/oauth2/sign_out"}
    app = open_as(fleet_lake, {**PROXY, **sign_out})
    [link] = app.sidebar.get("link_button")
    assert link.proto.url == "/oauth2/sign_out"


@pytest.mark.parametrize("page", ["overview", "divergence"])
def test_with_oidc_someone_not_signed_in_sees_only_the_sign_in(
    fleet_lake, open_as, queries_run, page
):
    app = open_as(fleet_lake, OIDC, user={"is_logged_in": False}, page=page)
    assert everything_shown(app) == [
        auth.SIGN_IN_TITLE, "The fleet dashboard is for signed-in users.", "Sign in",
    ]  # fmt: skip
    assert queries_run == []


def test_with_oidc_the_signed_in_user_sees_the_page_their_name_and_sign_out(
    fleet_lake, open_as, queries_run
):
    app = open_as(fleet_lake, OIDC, user=SIGNED_IN)
    assert app.metric and queries_run
    assert "Signed in as ana@example.com" in [t.value for t in app.sidebar.get("text")]
    assert app.sidebar.button(key="sign_out").label == "Sign out"


def test_with_oidc_sign_out_signs_the_user_out(fleet_lake, open_as):
    app = open_as(fleet_lake, OIDC, user=SIGNED_IN)
    app.sidebar.button(key="sign_out").click().run()
    assert app.button(key="sign_in").label == "Sign in"
    assert not app.metric


def test_without_authentication_nobody_signs_in_and_no_user_is_shown(fleet_lake, open_as):
    app = open_as(fleet_lake, {})
    assert app.metric and not app.get("warning")
    assert not [t for t in app.sidebar.get("text") if "Signed in" in t.value]


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"PARALLAX_SERVER_INSECURE": "true"}, ["server.insecure = true"]),
        ({"PARALLAX_DASHBOARD_INSECURE": "true"}, ["dashboard.insecure = true"]),
        (
            {"PARALLAX_SERVER_INSECURE": "true", "PARALLAX_DASHBOARD_INSECURE": "true"},
            ["server.insecure = true", "dashboard.insecure = true"],
        ),
    ],
)
@pytest.mark.parametrize("page", ["overview", "skew", "sql"])
def test_an_insecure_deployment_shows_a_banner_on_every_page(fleet_lake, open_as, env, says, page):
    [banner] = open_as(fleet_lake, env, page=page).warning
    assert banner.value.startswith("Insecure deployment")
    assert all(flag in banner.value for flag in says)


def test_the_banner_shows_also_to_someone_not_signed_in(fleet_lake, open_as, sent_headers):
    app = open_as(fleet_lake, {**PROXY, "PARALLAX_SERVER_INSECURE": "true"})
    banner, not_signed_in = app.warning
    assert banner.value.startswith("Insecure deployment")
    assert not_signed_in.value == auth.NOT_SIGNED_IN
