"""The dashboard's entry point: ``streamlit run dashboard/app.py`` (``parallax dashboard`` does).

Each run first shows the insecure-deployment banner when the settings call for it, then
asks who is looking (``dashboard.auth``, ``dashboard/auth.py``): someone not signed in
sees the sign-in (or "not signed in") and nothing else, and nothing reads the lake.
Then it draws the global filters in the sidebar, the auto-refresh switch, and the page
the URL names (``st.navigation``; one module per page under ``dashboard/views/``, named
so rather than ``pages/``, which would switch Streamlit to its older multipage mode).
A lake that is missing, empty or busy shows a message instead of the page's data."""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from dashboard import auth, filters, queries, ui
from dashboard.data import LakeReader, LakeUnavailable
from parallax.config import load_settings
from parallax.errors import ConfigError

VIEWS = Path(__file__).resolve().parent / "views"
EMPTY_LAKE = (
    "The lake is empty: no inference span and no node heartbeat yet. Point collectors "
    "(or any OpenTelemetry exporter) at `parallax server`; this page fills in as they report."
)


def _pages() -> list[st.Page]:
    def page(name: str, title: str, icon: str, default: bool = False) -> st.Page:
        return st.Page(VIEWS / f"{name}.py", title=title, icon=icon, default=default)

    return [
        page("overview", "Overview", ":material/monitoring:", default=True),
        page("fleet", "Fleet", ":material/router:"),
        page("skew", "Skew", ":material/stacked_line_chart:"),
        page("divergence", "Divergence", ":material/compare_arrows:"),
        page("latency", "Latency", ":material/timer:"),
        page("sql", "SQL", ":material/terminal:"),
    ]


def _auto_refresh(period_s: float) -> None:
    """Rerun the whole app every period while the switch is on (bound to ``?refresh=``)."""
    on = st.sidebar.toggle(
        f"Auto-refresh every {period_s:g} s", value=True, key="refresh", bind="query-params"
    )
    if not on:
        return
    st.session_state["_full_run_at"] = time.monotonic()

    @st.fragment(run_every=period_s)
    def tick() -> None:
        # The first call happens inside the full run; later ones come from the timer.
        if time.monotonic() - st.session_state["_full_run_at"] >= period_s / 2:
            st.rerun(scope="app")

    with st.sidebar:
        tick()


def main() -> None:
    st.set_page_config(page_title="Parallax", page_icon=":material/hub:", layout="wide")
    try:
        # The only place settings are resolved: the environment ``parallax dashboard``
        # hands over (or PARALLAX_CONFIG's file), once per script run.
        settings = load_settings()
    except ConfigError as err:
        st.error(f"The dashboard's settings are not valid: {err}")
        st.stop()
    ui.insecure_banner(settings)
    user = auth.viewer(settings.dashboard)
    page = st.navigation(_pages(), position="sidebar" if user else "hidden")
    if user is None:
        auth.sign_in_page(settings.dashboard)
        return
    auth.sidebar_user(settings.dashboard, user)
    lake = LakeReader(settings.store, settings.dashboard.refresh_s)
    try:
        options = lake.frame(queries.filter_options)
        by_kind = options.groupby("kind")["value"].apply(list)
        chosen = filters.sidebar(by_kind.get("feature", []), by_kind.get("region", []))
        ui.start_run(ui.Run(settings, chosen, lake))
        _auto_refresh(settings.dashboard.refresh_s)
        if lake.is_empty():
            st.info(EMPTY_LAKE)
            if page.url_path != "sql":
                return
        page.run()
    except LakeUnavailable as err:
        st.info(str(err))


main()
