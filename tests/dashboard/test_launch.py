"""`parallax dashboard`: settings resolved once, handed to the Streamlit process by environment."""

from __future__ import annotations

from dashboard.launch import APP, settings_environment, streamlit_command
from launch.cli import build_parser
from parallax.config import load_settings


def test_the_streamlit_process_resolves_the_same_settings(tmp_path):
    config = tmp_path / "parallax.toml"
    config.write_text('[store]\npath = "/srv/lake"\n[dashboard]\nheartbeat_tolerance_s = 12.5\n')
    resolved = load_settings(
        config, env={"PARALLAX_DASHBOARD_REFRESH_S": "5"},
        overrides={"dashboard.listen": "0.0.0.0:9000"},
    )  # fmt: skip
    inherited = {"PATH": "/usr/bin", "PARALLAX_CONFIG": str(config), "PARALLAX_SERVER_LISTEN": "x"}
    env = settings_environment(resolved, inherited)
    assert "PARALLAX_CONFIG" not in env and "PARALLAX_SERVER_LISTEN" not in env
    assert env["PATH"] == "/usr/bin"
    again = load_settings(env=env)
    assert (again.store, again.dashboard) == (resolved.store, resolved.dashboard)
    assert again.dashboard.heartbeat_tolerance_s == 12.5 and again.dashboard.refresh_s == 5.0


def test_streamlit_runs_the_app_headless_on_the_listen_address():
    settings = load_settings(env={}, overrides={"dashboard.listen": "0.0.0.0:9000"})
    command = streamlit_command(settings)
    assert command[1:5] == ["-m", "streamlit", "run", str(APP)]
    flags = dict(zip(command[5::2], command[6::2], strict=True))
    assert flags["--server.address"] == "0.0.0.0" and flags["--server.port"] == "9000"
    assert flags["--server.headless"] == "true"
    assert flags["--browser.gatherUsageStats"] == "false"


def test_the_dashboard_subcommand_takes_lake_and_listen_flags():
    args = build_parser().parse_args(
        ["dashboard", "--lake", "/srv/lake", "--listen", "127.0.0.1:8600"]
    )
    assert vars(args)["store.path"] == "/srv/lake"
    assert vars(args)["dashboard.listen"] == "127.0.0.1:8600"
