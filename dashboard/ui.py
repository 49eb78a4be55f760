"""What every page starts from: the settings, the filters' scope, and a few shared widgets."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from dashboard import data, filters
from dashboard.queries import Scope
from dashboard.settings import current
from parallax.config import DashboardSettings, Settings


@dataclass(frozen=True)
class PageContext:
    settings: DashboardSettings
    filters: filters.Filters
    scope: Scope


def page(title: str) -> PageContext:
    """Draw the page title and the window it shows; return what the page needs."""
    chosen = filters.current()
    scope = chosen.scope(data.clock())
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
    return PageContext(current().dashboard, chosen, scope)


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
