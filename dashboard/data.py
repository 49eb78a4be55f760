"""The dashboard's way to the lake: one cached read-only connection, cached query results.

Every query of ``dashboard.queries`` runs through :meth:`LakeReader.frame`, which caches
its result for ``dashboard.refresh_s`` (Streamlit's ``st.cache_data`` with a TTL). The clock the
pages use is rounded down to the same period, so every session in one period asks the
same questions and shares the answers. The connection is shared by all sessions
(``st.cache_resource``); each query runs on its own cursor, DuckDB's way to use one
database from several threads.

Whatever goes wrong on the way (no lake yet, a lake being created or migrated, a busy
catalog) becomes :class:`LakeUnavailable` with a message for people; the app shows it
instead of a traceback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from dashboard import queries
from parallax.config import StoreSettings
from parallax.errors import ParallaxError
from store import LAKE_ALIAS, LakeMissingError, connect

_cursor_lock = threading.Lock()


class LakeUnavailable(Exception):
    """The lake cannot be read right now; the message says why, for people."""


# Reattached hourly: a long-lived attach would keep a replaced or moved lake's old catalog.
@st.cache_resource(ttl=3600, max_entries=8, show_spinner=False)
def _connection(store: StoreSettings) -> duckdb.DuckDBPyConnection:
    return connect(store, read_only=True)


def _cursor(store: StoreSettings) -> duckdb.DuckDBPyConnection:
    """A cursor of the shared connection with the lake selected (USE is per cursor)."""
    try:
        with _cursor_lock:
            cur = _connection(store).cursor()
        cur.execute(f"USE {LAKE_ALIAS}")
    except LakeMissingError as err:
        raise LakeUnavailable(str(err)) from err
    except (ParallaxError, duckdb.Error) as err:
        _connection.clear()
        raise LakeUnavailable(f"The lake cannot be opened right now: {err}") from err
    return cur


def _run(name: str, store: StoreSettings, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    cur = _cursor(store)
    try:
        return getattr(queries, name)(cur, *args, **kwargs)
    except duckdb.CatalogException as err:
        raise LakeUnavailable(
            "The lake has no dashboard tables yet: it is being created or upgraded. "
            f"This page retries on the next refresh. ({_first_line(err)})"
        ) from err
    except duckdb.Error as err:
        # A dropped reference (e.g. the catalog file replaced) can poison the connection.
        _connection.clear()
        raise LakeUnavailable(
            "The lake could not be read just now (it may be busy with a write or "
            f"maintenance); this page retries on the next refresh. ({_first_line(err)})"
        ) from err
    finally:
        cur.close()


@cache
def _cached(ttl_s: float) -> Callable[..., Any]:
    # The TTL is a setting, so the cached function is made once per TTL (once per process).
    return st.cache_data(ttl=ttl_s, max_entries=512, show_spinner=False)(_run)


@dataclass(frozen=True)
class LakeReader:
    """The lake as one script run reads it, with that run's settings: where the lake is
    (``store``) and how long answers are kept (``refresh_s``)."""

    store: StoreSettings
    refresh_s: float

    def frame(self, query: Callable[..., pd.DataFrame], *args: Any, **kwargs: Any) -> pd.DataFrame:
        """``query(connection, *args, **kwargs)`` of ``dashboard.queries``, cached refresh_s."""
        return _cached(self.refresh_s)(query.__name__, self.store, args, kwargs)

    def clock(self) -> datetime:
        """Now, rounded down to the refresh period (UTC), so cached windows line up."""
        period = self.refresh_s
        return datetime.fromtimestamp(time.time() // period * period, tz=UTC)

    def is_empty(self) -> bool:
        """No span and no node yet: a lake that was just created."""
        return bool(self.frame(queries.lake_is_empty).iloc[0, 0])


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0]
