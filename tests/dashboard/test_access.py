"""`parallax dashboard` refuses to let people in unchecked, and hands OIDC secrets to Streamlit."""

from __future__ import annotations

import stat
import tomllib

import pytest

from dashboard.access import check_exposure, write_oidc_secrets
from dashboard.launch import settings_environment, streamlit_command
from parallax.config import DashboardSettings, load_settings
from parallax.errors import ConfigError


def oidc(tmp_path, **keys) -> DashboardSettings:
    client_secret = tmp_path / "client-secret"
    client_secret.write_text("s3cr3t-from-the-provider\n")
    return DashboardSettings(
        listen="0.0.0.0:8501",
        auth="oidc",
        oidc_server_metadata_url="https://id.example/.well-known/openid-configuration",
        oidc_client_id="parallax-dashboard",
        oidc_client_secret_file=str(client_secret),
        oidc_redirect_uri="https://parallax.example/oauth2callback",
        **keys,
    )


def test_without_authentication_the_dashboard_refuses_to_listen_beyond_loopback():
    with pytest.raises(ConfigError) as refused:
        check_exposure(DashboardSettings(listen="0.0.0.0:8501"))
    assert "0.0.0.0:8501" in str(refused.value)
    assert 'dashboard.auth = "oidc"' in str(refused.value) and '"proxy"' in str(refused.value)


@pytest.mark.parametrize("listen", ["127.0.0.1:8501", "localhost:8501", "[::1]:8501"])
@pytest.mark.parametrize("mode", ["none", "proxy"])
def test_on_loopback_the_dashboard_starts_without_its_own_sign_in(listen, mode):
    check_exposure(DashboardSettings(listen=listen, auth=mode))


def test_behind_a_proxy_the_dashboard_refuses_to_listen_beyond_loopback():
    with pytest.raises(ConfigError) as refused:
        check_exposure(DashboardSettings(listen="10.0.0.5:8501", auth="proxy"))
    assert "X-Forwarded-Email" in str(refused.value) and "127.0.0.1" in str(refused.value)


@pytest.mark.parametrize("mode", ["none", "proxy"])
def test_insecure_lets_it_listen_anywhere_with_a_warning(mode, caplog):
    check_exposure(DashboardSettings(listen="0.0.0.0:8501", auth=mode, insecure=True))
    assert "0.0.0.0:8501" in caplog.text


def test_with_oidc_the_dashboard_listens_anywhere_once_the_provider_is_configured(tmp_path):
    check_exposure(oidc(tmp_path))


def test_with_oidc_a_missing_key_is_named():
    with pytest.raises(ConfigError) as refused:
        check_exposure(DashboardSettings(auth="oidc", oidc_client_id="parallax"))
    message = str(refused.value)
    assert "dashboard.oidc_server_metadata_url" in message
    assert "dashboard.oidc_client_secret_file" in message
    assert "dashboard.oidc_redirect_uri" in message and "oidc_client_id" not in message


def test_a_redirect_uri_must_end_in_streamlits_callback_path():
    with pytest.raises(ConfigError, match="oauth2callback"):
        load_settings(env={"PARALLAX_DASHBOARD_OIDC_REDIRECT_URI": "https://parallax.example/"})


def test_the_oidc_secrets_file_is_streamlits_auth_section_readable_only_by_its_owner(tmp_path):
    path = write_oidc_secrets(oidc(tmp_path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    section = tomllib.loads(path.read_text())["auth"]
    assert section["client_secret"] == "s3cr3t-from-the-provider"
    assert section["client_id"] == "parallax-dashboard"
    assert section["redirect_uri"] == "https://parallax.example/oauth2callback"
    assert section["server_metadata_url"].startswith("https://id.example/")
    assert len(section["cookie_secret"]) >= 32


def test_without_a_cookie_secret_file_every_start_makes_a_new_one(tmp_path):
    first = tomllib.loads(write_oidc_secrets(oidc(tmp_path)).read_text())["auth"]
    second = tomllib.loads(write_oidc_secrets(oidc(tmp_path)).read_text())["auth"]
    assert first["cookie_secret"] != second["cookie_secret"]


def test_a_cookie_secret_file_keeps_sign_ins_across_restarts(tmp_path):
    (tmp_path / "cookie-secret").write_text("a-long-random-cookie-secret-of-the-operator\n")
    settings = oidc(tmp_path, oidc_cookie_secret_file=str(tmp_path / "cookie-secret"))
    (tmp_path / "out").mkdir(mode=0o700)
    section = tomllib.loads(write_oidc_secrets(settings, tmp_path / "out").read_text())["auth"]
    assert section["cookie_secret"] == "a-long-random-cookie-secret-of-the-operator"


@pytest.mark.parametrize("content", ["", "\n"])
def test_an_empty_client_secret_file_is_refused_by_name(tmp_path, content):
    settings = oidc(tmp_path)
    (tmp_path / "client-secret").write_text(content)
    with pytest.raises(ConfigError, match=r"dashboard\.oidc_client_secret_file"):
        write_oidc_secrets(settings)


def test_a_missing_cookie_secret_file_is_refused_by_name(tmp_path):
    settings = oidc(tmp_path, oidc_cookie_secret_file=str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match=r"dashboard\.oidc_cookie_secret_file"):
        write_oidc_secrets(settings)


def test_streamlit_reads_its_secrets_from_the_file_the_launcher_wrote(tmp_path):
    command = streamlit_command(load_settings(env={}), tmp_path / "secrets.toml")
    flags = dict(zip(command[5::2], command[6::2], strict=True))
    assert flags["--secrets.files"] == str(tmp_path / "secrets.toml")
    assert "--secrets.files" not in streamlit_command(load_settings(env={}))


def test_the_streamlit_process_knows_whether_the_server_is_insecure():
    settings = load_settings(env={"PARALLAX_SERVER_INSECURE": "true"})
    env = settings_environment(settings, {})
    assert load_settings(env=env).server.insecure is True
    assert "PARALLAX_SERVER_LISTEN" not in env
