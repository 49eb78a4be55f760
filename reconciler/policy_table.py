"""The policies as the temporary table ``rc_policy`` the reconciler's SQL joins against:
one row per feature found in the lake's traffic, old or new (features without their own table get
the defaults, as :meth:`Policies.for_feature` says), and ``rc_tier_budget``: the latency
budgets a feature sets for particular tiers (``latency_budget_ms_by_tier``; every other tier
has the feature's ``latency_budget_ms``)."""

from __future__ import annotations

import duckdb

from reconciler.policies import Policies

_COLUMNS = """
    feature VARCHAR, comparator VARCHAR, tolerance DOUBLE, topk_min_overlap DOUBLE,
    rate_tolerance DOUBLE, window_s DOUBLE, min_shared_inputs BIGINT, resolution VARCHAR,
    reference_fallback VARCHAR, max_versions_behind INTEGER, max_days_behind DOUBLE,
    latency_budget_ms DOUBLE
"""


def load_policy_table(
    con: duckdb.DuckDBPyConnection, policies: Policies, with_lake_traffic: bool = True
) -> None:
    """Create ``rc_policy`` for every feature in ``rc_new_traffic`` and, unless a full
    rebuild replaces it, ``traffic_hourly``."""
    query = "SELECT DISTINCT feature FROM rc_new_traffic"
    if with_lake_traffic:
        query += " UNION SELECT feature FROM traffic_hourly"
    found = con.execute(query).fetchall()
    features = [row[0] for row in found]
    rows, tier_budgets = [], []
    for feature in features:
        p = policies.for_feature(feature)
        fallback = p.reference_fallback.value if p.reference_fallback else None
        rows.append(
            (
                feature, p.comparator.value, p.tolerance, p.topk_min_overlap,
                p.disagreement_rate_tolerance, p.window_s, p.min_shared_inputs,
                p.resolution.value, fallback, p.max_versions_behind, p.max_days_behind,
                p.latency_budget_ms,
            )
        )  # fmt: skip
        tier_budgets += [(feature, t, ms) for t, ms in p.latency_budget_ms_by_tier.items()]
    con.execute(f"CREATE OR REPLACE TEMP TABLE rc_policy ({_COLUMNS})")
    if rows:
        con.executemany(f"INSERT INTO rc_policy VALUES ({', '.join(['?'] * 12)})", rows)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rc_tier_budget "
        "(feature VARCHAR, hardware_tier VARCHAR, budget_ms DOUBLE)"
    )
    if tier_budgets:
        con.executemany("INSERT INTO rc_tier_budget VALUES (?, ?, ?)", tier_budgets)
