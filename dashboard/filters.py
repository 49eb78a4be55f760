"""The global filters: time range, feature, tier, region, and an optional end time.

They live in the sidebar on every page, each widget bound to a URL query parameter
(``bind="query-params"``), so a link carries them: ``?range=6h&feature=fraud-scoring&
tier=device&region=eu-west&until=2026-01-15T12:00``. A value equal to the default is
left out of the URL; a value the widget does not offer (a feature never seen) is
dropped. ``until`` (UTC) pins the window's end for incident links; without it the
window ends now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboard.queries import Scope
from parallax.conventions import HardwareTier

WINDOWS = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_WINDOW = "24h"
TIERS = [str(tier) for tier in HardwareTier]
# URL parameter names, which are also the widgets' session-state keys.
KEYS = ("range", "feature", "tier", "region", "until")


@dataclass(frozen=True)
class Filters:
    window: str = DEFAULT_WINDOW
    feature: str | None = None
    tier: str | None = None
    region: str | None = None
    until: datetime | None = None  # naive, UTC, as the widget gives it

    def scope(self, now: datetime) -> Scope:
        """The window these filters select, ending at ``until`` or else at ``now``."""
        end = self.until.replace(tzinfo=UTC) if self.until else now
        return Scope(end - WINDOWS[self.window], end, self.feature, self.tier, self.region)

    def url_params(self) -> dict[str, str]:
        """The query parameters that reproduce these filters (defaults left out)."""
        values = {
            "range": None if self.window == DEFAULT_WINDOW else self.window,
            "feature": self.feature,
            "tier": self.tier,
            "region": self.region,
            "until": self.until.strftime("%Y-%m-%dT%H:%M") if self.until else None,
        }
        return {key: value for key, value in values.items() if value}


def sidebar(features: list[str], regions: list[str]) -> Filters:
    """Draw the filter widgets (bound to the URL) and return what they hold."""
    with st.sidebar:
        st.selectbox(
            "Time range",
            list(WINDOWS),
            index=list(WINDOWS).index(DEFAULT_WINDOW),
            key="range",
            bind="query-params",
        )
        for key, label, options in (
            ("feature", "Feature", features),
            ("tier", "Hardware tier", TIERS),
            ("region", "Region", regions),
        ):
            st.selectbox(
                label, options, index=None, placeholder="all", key=key, bind="query-params"
            )
        st.datetime_input(
            "Window ends at (UTC)",
            value=None,
            key="until",
            bind="query-params",
            help="Empty: now. Set it to share a link to a past incident.",
        )
    state = st.session_state
    return Filters(
        window=state.get("range") or DEFAULT_WINDOW,
        feature=state.get("feature"),
        tier=state.get("tier"),
        region=state.get("region"),
        until=state.get("until"),
    )
