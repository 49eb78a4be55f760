"""What every page starts from: the run's settings, filters and lake, and shared widgets.

``app.py`` resolves the settings and reads the filters once at the start of each script
run and hands them over with :func:`start_run`; the page it then runs gets them from
:func:`page`. Nothing else resolves settings or reads the filters' widgets.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from dashboard.data import LakeReader
from dashboard.filters import Filters
from dashboard.queries import Scope
from parallax.config import DashboardSettings, Settings

# Session state holds the run for the page script app.py runs next (Streamlit runs a
# page as a script of its own, so it cannot be handed over as an argument).
_RUN = "_parallax_run"


@dataclass(frozen=True)
class Run:
    """What one script run works with: the settings resolved at its start, the filters
    the sidebar holds, and the lake read with those settings."""

    settings: Settings
    filters: Filters
    lake: LakeReader


@dataclass(frozen=True)
class PageContext:
    settings: DashboardSettings
    filters: Filters
    scope: Scope
    lake: LakeReader


def start_run(run: Run) -> None:
    """Hand this script run's settings, filters and lake to the page it runs."""
    st.session_state[_RUN] = run


def page(title: str) -> PageContext:
    """Draw the page title and the window it shows; return what the page needs."""
    run: Run = st.session_state[_RUN]
    chosen = run.filters
    scope = chosen.scope(run.lake.clock())
    st.title(title)
    parts = [f"{scope.start:%Y-%m-%d %H:%M} → {scope.end:%Y-%m-%d %H:%M} UTC"]
    parts += [
        f"{name} {value}"
        for name, value in (
            ("feature", scope.feature),
            ("tier", scope.tier),
            ("region", scope.region),
        )
        if value
    ]
    st.caption(" · ".join(parts))
    return PageContext(run.settings.dashboard, chosen, scope, run.lake)


def nothing(what: str) -> None:
    """The empty state of one section: say what is missing and what to try."""
    st.info(f"{what} Widen the time range or clear a filter in the sidebar.")


def insecure_banner(settings: Settings) -> None:
    """On every page while the configuration lets anyone in: say who may do what."""
    risks = []
    if settings.server.insecure:
        risks.append(
            "server.insecure = true lets anyone who can reach the server write spans and "
            "heartbeats as any node"
        )
    if settings.dashboard.insecure:
        risks.append(
            "dashboard.insecure = true lets anyone who can reach the dashboard view it "
            "without signing in"
        )
    if risks:
        st.warning(
            f"Insecure deployment: {'; '.join(risks)}. See docs/security.md.",
            icon=":material/gpp_maybe:",
        )
