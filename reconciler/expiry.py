"""Spans deleted by retention, as the reconciler sees them (docs/retention.md).

Retention (store.retention) deletes the spans that started before a cut-off (a UTC
midnight) and records the cut-off in ``retention_log`` in the same transaction, so the
log row's ``snapshot_id`` is the snapshot of the deletion. A run whose watermark is older
than such a row folds the deletion in, so that its tables stay what a rebuild from the
remaining spans gives:

- every group (feature, input fingerprint) that had a span before the cut-off is
  recomputed: the groups whose ``reconciled.first_seen`` (their earliest span) is before
  it. Their answers as the last run saw them come from the lake as of the watermark
  (DuckLake time travel), so the histograms lose exactly what those spans added; a group
  with no span left leaves every table;
- ``traffic_hourly`` drops the hours before the cut-off (a midnight: whole hours), then
  adds the spans that are new since the watermark, late ones before the cut-off included;
- ``variants`` becomes the variants of the remaining spans (one scan of the spans'
  variant columns, on the runs after a deletion only).

Time travel needs the watermark's snapshot; snapshot expiry (store.maintenance) keeps the
newest watermark in ``reconcile_runs``. When it has expired all the same, the run
rebuilds from scratch instead, which is exact by definition.
"""

from __future__ import annotations

from datetime import datetime

import duckdb


def spans_deleted_since(con: duckdb.DuckDBPyConnection, watermark: int) -> datetime | None:
    """The latest cut-off of a retention pass that deleted spans after snapshot
    ``watermark``; None when none did."""
    (cutoff,) = con.execute(
        "SELECT max(cutoff) FROM retention_log WHERE table_name = 'spans' AND snapshot_id > ?",
        [watermark],
    ).fetchone()
    return cutoff


def can_travel_to(con: duckdb.DuckDBPyConnection, snapshot: int) -> bool:
    """Whether the lake as of ``snapshot`` can still be read (it is not expired)."""
    (found,) = con.execute(
        "SELECT count(*) FROM ducklake_snapshots('lake') WHERE snapshot_id = ?", [snapshot]
    ).fetchone()
    return found > 0


def touch_expired_groups(con: duckdb.DuckDBPyConnection, cutoff: datetime) -> None:
    """Add to rc_touched the groups that had a span before ``cutoff``; read the variants
    of the remaining spans into rc_variants_left."""
    con.execute(
        "INSERT INTO rc_touched SELECT feature, input_fingerprint FROM reconciled "
        "WHERE first_seen < ? EXCEPT SELECT feature, input_fingerprint FROM rc_touched",
        [cutoff],
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE rc_variants_left AS
        SELECT DISTINCT
            feature,
            px_variant(model_name, model_version, quantization, hardware_tier, accelerator)
                AS variant,
            model_name, model_version,
            coalesce(quantization, 'unknown') AS quantization,
            coalesce(hardware_tier, 'unknown') AS hardware_tier,
            coalesce(accelerator, '') AS accelerator
        FROM spans
        WHERE feature IS NOT NULL AND input_fingerprint IS NOT NULL
        """
    )


def forget_expired_traffic(con: duckdb.DuckDBPyConnection, cutoff: datetime) -> None:
    """Drop the traffic hours before ``cutoff`` (before traffic_merge.sql adds the new)."""
    con.execute("DELETE FROM traffic_hourly WHERE hour < ?", [cutoff])


def replace_variants(con: duckdb.DuckDBPyConnection) -> None:
    """``variants`` becomes rc_variants_left: the variants of the spans the run read."""
    con.execute("DELETE FROM variants")
    con.execute("INSERT INTO variants BY NAME SELECT * FROM rc_variants_left")
    con.execute("DROP TABLE rc_variants_left")
