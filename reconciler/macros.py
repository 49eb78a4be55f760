"""SQL macros the reconciler's queries share: comparators, intervals, resolution keys.

Created as temporary macros on the reconciler's connection at the start of every run.
The variant (``px_variant``) and the canonical spellings are the lake's own macros
(store.canonical), which the dashboard and analysts use as well.
The comparator macros are the one definition of "two answers agree" (docs/reconciler.md);
every table that compares answers goes through them.
"""

from __future__ import annotations

import duckdb

WILSON_Z = 1.959963984540054
"""z of a two-sided 95% interval."""

LATENCY_BUCKETS_PER_DOUBLING = 16
"""Latency histogram resolution: bucket i holds (2^(i/16), 2^((i+1)/16)] ms, so a bucket's
upper end is at most 4.4% above any duration in it (docs/reconciler.md, "Latency budgets")."""

LATENCY_FLOOR_MS = 0.001
"""Durations at or below one microsecond (and negative ones, from skewed clocks) share the
lowest bucket."""


def _macros() -> list[str]:
    z = WILSON_Z
    return [
        # Shared items over the longer list (top-k lists hold distinct items).
        """px_topk_overlap(a, b) AS CASE WHEN len(a) > 0 AND len(b) > 0
            THEN len(list_filter(a, x -> list_contains(b, x))) / greatest(len(a), len(b))
            END""",
        # Whether both answers carry the output the comparator looks at.
        """px_comparable(comparator, la, lb, sa, sb, ka, kb, da, db) AS CASE comparator
            WHEN 'label' THEN la IS NOT NULL AND lb IS NOT NULL
            WHEN 'score' THEN sa IS NOT NULL AND sb IS NOT NULL
            WHEN 'topk' THEN len(ka) > 0 AND len(kb) > 0
            WHEN 'digest' THEN da IS NOT NULL AND db IS NOT NULL END""",
        # `overlap` is px_topk_overlap of the two lists, computed once by the caller.
        """px_disagrees(comparator, tol, min_overlap, la, lb, sa, sb, overlap, da, db) AS
            CASE comparator
            WHEN 'label' THEN la <> lb
            WHEN 'score' THEN abs(sa - sb) > tol
            WHEN 'topk' THEN overlap < min_overlap
            WHEN 'digest' THEN da <> db END""",
        """px_delta(comparator, sa, sb, overlap) AS CASE comparator
            WHEN 'topk' THEN 1 - overlap
            ELSE abs(sa - sb) END""",
        """px_output(comparator, l, s, k, d) AS CASE comparator
            WHEN 'label' THEN l
            WHEN 'score' THEN CAST(s AS VARCHAR)
            WHEN 'topk' THEN array_to_string(k, ',')
            WHEN 'digest' THEN d END""",
        f"""px_wilson_low(d, n) AS CASE WHEN n > 0 THEN greatest(0.0,
            (d / n + {z}^2 / (2 * n) - {z} * sqrt(d / n * (1 - d / n) / n + {z}^2 / (4 * n^2)))
            / (1 + {z}^2 / n)) END""",
        f"""px_wilson_high(d, n) AS CASE WHEN n > 0 THEN least(1.0,
            (d / n + {z}^2 / (2 * n) + {z} * sqrt(d / n * (1 - d / n) / n + {z}^2 / (4 * n^2)))
            / (1 + {z}^2 / n)) END""",
        # The sort key of a variant under a resolution rule: smaller is preferred.
        """px_resolution_key(rule, is_reference, agreeing, version_order, precision_rank,
                             variant) AS
            {'not_reference': rule = 'reference' AND NOT is_reference,
             'fewer_votes': CASE WHEN rule = 'majority' THEN -agreeing ELSE 0 END,
             'older': CASE WHEN rule = 'newest' THEN -version_order ELSE 0 END,
             'precision': precision_rank,
             'version': -version_order,
             'variant': variant}""",
        # The sort key of a variant in one group: its votes under `majority`, then its
        # place in the rule's fixed order (rc_variant_order; below 2^32 per feature).
        """px_vote_key(rule, agreeing, rank) AS
            CASE WHEN rule = 'majority' THEN -agreeing ELSE 0 END * 4294967296 + rank""",
        # Latency histogram bucket of a duration in ms, and a bucket's upper end in ms.
        f"""px_latency_bucket(ms) AS CAST(ceil(log2(greatest(ms, {LATENCY_FLOOR_MS}))
            * {LATENCY_BUCKETS_PER_DOUBLING}) AS INTEGER) - 1""",
        f"px_latency_bucket_end(bucket) AS 2 ^ ((bucket + 1) / {LATENCY_BUCKETS_PER_DOUBLING})",
        # Score histogram bucket of [0, 1] in 20 steps; out-of-range scores go to the ends.
        """px_score_bucket(s) AS lpad(CAST(CAST(least(greatest(floor(s * 20), 0), 19)
            AS INTEGER) AS VARCHAR), 2, '0')""",
    ]


def create_macros(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the macros as temporary macros of this connection."""
    for macro in _macros():
        con.execute(f"CREATE OR REPLACE TEMP MACRO {macro}")
