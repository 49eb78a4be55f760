"""The SQL page's engine: the store's confined read-only runner with the dashboard's limits.

Every query runs in a worker process of its own that the kernel confines before it runs
(``store.readonly_query``): it can read the lake's tables and write nothing. The
dashboard's settings give its limits: ``query_row_limit`` rows and
``sql_max_result_bytes`` bytes of result, ``sql_memory_limit`` of memory and
``query_timeout_s`` seconds. A refusal names the setting that caused it.
"""

from __future__ import annotations

from parallax.config import DashboardSettings, StoreSettings
from store import QueryLimits, QueryRefused, QueryResult, run_readonly_query

__all__ = ["QueryRefused", "QueryResult", "limits_of", "run_query"]

SETTING_OF_KIND = {
    "timeout": "dashboard.query_timeout_s",
    "memory": "dashboard.sql_memory_limit",
}
DEFAULTS = DashboardSettings()


def limits_of(settings: DashboardSettings) -> QueryLimits:
    """The SQL page's limits from the dashboard's settings."""
    return QueryLimits(
        memory_limit=settings.sql_memory_limit,
        row_limit=settings.query_row_limit,
        max_result_bytes=settings.sql_max_result_bytes,
        timeout_s=settings.query_timeout_s,
    )


def run_query(
    store: StoreSettings,
    text: str,
    row_limit: int = DEFAULTS.query_row_limit,
    timeout_s: float = DEFAULTS.query_timeout_s,
    memory_limit: str = DEFAULTS.sql_memory_limit,
    max_result_bytes: int = DEFAULTS.sql_max_result_bytes,
) -> QueryResult:
    """Run ``text`` confined and read-only within the given limits."""
    limits = QueryLimits(memory_limit, row_limit, max_result_bytes, timeout_s)
    try:
        return run_readonly_query(store, text, limits)
    except QueryRefused as refused:
        setting = SETTING_OF_KIND.get(refused.kind)
        if setting is None:
            raise
        raise QueryRefused(refused.kind, f"{refused} ({setting})") from refused
