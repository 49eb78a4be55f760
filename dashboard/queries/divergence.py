"""Pairs of variants: their statistics, and the inputs two of them disagreed on."""

from __future__ import annotations

import pandas as pd

from dashboard.queries.scope import Connection, Scope, Where, frame, variant_filter


def variant_pairs(con: Connection, scope: Scope) -> pd.DataFrame:
    """Pair statistics seen in the window; rows with variant_a = variant_b are noise floors."""
    where = variant_filter(scope).add(
        "(last_seen IS NULL OR last_seen >= $start) AND (first_seen IS NULL OR first_seen < $end)",
        start=scope.start,
        end=scope.end,
    )
    sql = f"""
        SELECT feature, variant_a, variant_b, comparator, shared_inputs, disagreements,
               disagreement_rate, rate_low, rate_high, noise_floor, tolerance,
               mean_abs_delta, p95_abs_delta, verdict, first_seen, last_seen
        FROM variant_pairs WHERE {where.sql}
        ORDER BY feature, variant_a = variant_b, disagreement_rate DESC NULLS LAST,
                 variant_a, variant_b"""
    return frame(con, sql, where.params)


def divergent_inputs(
    con: Connection, scope: Scope, variant_a: str, variant_b: str, limit: int = 500
) -> pd.DataFrame:
    """Inputs on which two variants of the scope's feature disagreed in the window."""
    where = Where().add(
        "feature = $feature AND variant_a = $variant_a AND variant_b = $variant_b",
        feature=scope.feature,
        variant_a=variant_a,
        variant_b=variant_b,
    )
    where.add("time_a >= $start AND time_a < $end", start=scope.start, end=scope.end)
    sql = f"""
        SELECT input_fingerprint, output_a, output_b, delta, node_a, node_b, time_a, time_b,
               trace_id_a, trace_id_b
        FROM divergences WHERE {where.sql}
        ORDER BY delta DESC NULLS LAST, time_a DESC, input_fingerprint
        LIMIT $limit"""
    return frame(con, sql, {**where.params, "limit": limit})
