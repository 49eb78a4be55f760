"""Every query the dashboard runs: plain functions ``(connection, scope, ...) -> DataFrame``.

They know nothing of Streamlit, so tests and ``bench/dashboard.py`` call them directly;
``dashboard.data`` wraps them in Streamlit's cache. Values always travel as ``$name``
parameters: the only SQL text put together here is fixed fragments, chosen by which
filters are set. The connection is a read-only lake connection (``store.connect``).

What they read: the reconciler's tables (``variants``, ``variant_pairs``,
``comparisons``, ``findings``, ``traffic_hourly``, ``version_share``, ``skew``,
``latency_budgets``), the
fleet's (``nodes``, ``node_heartbeats``), and spans through the lake's own definitions:
``inferences_between(start, end)`` (the ``inferences`` view of one window) and
``px_variant`` (store.canonical), so that an inference and a variant mean here what they
mean to the reconciler and to analysts.

Speed on a large lake: span queries read one window of ``start_time`` (DuckLake skips
Parquet files by their min/max statistics); skew reads the reconciler's small tables
rather than raw spans.
"""

from dashboard.queries.divergence import divergent_inputs, variant_pairs
from dashboard.queries.findings import findings_summary, open_findings
from dashboard.queries.nodes import OFFLINE_FACTOR, STATUSES, fleet, node_counts
from dashboard.queries.options import filter_options, lake_is_empty
from dashboard.queries.scope import BUCKETS, MAX_BUCKETS, Scope
from dashboard.queries.timings import (
    cold_start_latency,
    latency,
    latency_budgets,
    latency_over_time,
)
from dashboard.queries.traffic import divergence_rate, span_rate
from dashboard.queries.versions import (
    inventory_versions,
    skew_nodes,
    traffic_versions,
    version_share,
)

__all__ = [
    "BUCKETS",
    "MAX_BUCKETS",
    "OFFLINE_FACTOR",
    "STATUSES",
    "Scope",
    "cold_start_latency",
    "divergence_rate",
    "divergent_inputs",
    "filter_options",
    "findings_summary",
    "fleet",
    "inventory_versions",
    "lake_is_empty",
    "latency",
    "latency_budgets",
    "latency_over_time",
    "node_counts",
    "open_findings",
    "skew_nodes",
    "span_rate",
    "traffic_versions",
    "variant_pairs",
    "version_share",
]
