"""Dashboard fixtures: the fixture lake (built once), an empty lake, and AppTest on a page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from parallax.config import StoreSettings
from store.lake import open_writer
from tests.dashboard.fixture_lake import UNTIL, build

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


@pytest.fixture(scope="session")
def fleet_lake(tmp_path_factory) -> StoreSettings:
    return build(StoreSettings(path=str(tmp_path_factory.mktemp("fleet") / "lake")))


@pytest.fixture
def empty_lake(tmp_path) -> StoreSettings:
    settings = StoreSettings(path=str(tmp_path / "empty"))
    open_writer(settings).close()  # every table, no row
    return settings


@pytest.fixture
def open_page(monkeypatch) -> Callable[..., AppTest]:
    """``open_page(lake, "fleet", region="eu-west")``: run the app on a page with URL parameters.

    The window ends at the fixture's AS_OF and spans one hour unless the parameters say
    otherwise; auto-refresh is off.
    """
    for name in ("PARALLAX_CONFIG", "PARALLAX_STORE_CATALOG", "PARALLAX_STORE_DATA_PATH"):
        monkeypatch.delenv(name, raising=False)

    def open_(lake: StoreSettings, page: str = "overview", **params: str) -> AppTest:
        monkeypatch.setenv("PARALLAX_STORE_PATH", lake.path)
        app = AppTest.from_file(str(APP), default_timeout=60)
        app.query_params.update({"until": UNTIL, "range": "1h", "refresh": "false", **params})
        if page != "overview":
            app.switch_page(f"views/{page}.py")
        app.run()
        assert not app.exception, [e.message for e in app.exception]
        return app

    return open_
