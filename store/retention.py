"""Retention: how long the lake keeps each kind of row, and the pass that deletes the rest.

Each kept table has its own horizon in days (``store.*retention_days``; 0 keeps its rows
forever) and its own clock column: spans by ``start_time``, heartbeats by
``received_at``, ledger rows by ``committed_at``, stats rows by ``recorded_at``. A pass
deletes the rows older than the cut-off: the UTC midnight on or before ``now`` minus the
horizon, so every deleted row is older than the horizon and a day goes at once. Spans are
written one file per UTC day of ``start_time`` (migration 0012), so a day of spans goes
as whole files: DuckLake ends them without rewriting anything, and maintenance's snapshot
expiry and file cleanup take them off disk.

Each table is one short ``lake.transaction()``, which also records what it deleted in
``retention_log`` (the reconciler reads it: spans it had seen are gone, see
reconciler.run). Nothing is logged for a table with nothing to delete.

The ledger (``ingested_batches``) is what makes delivery effectively-once across server
restarts: a batch re-sent after its row is gone would be stored again. A collector re-sends
a committed batch only when the acknowledgement was lost, and it retries until
acknowledged, however long the node is offline (its buffer has no age limit), so no horizon
rules a re-send out. What bounds the harm is span retention: a batch committed more than
``ledger_retention_days`` ago holds spans that started before it was committed, so when the
ledger is kept at least as long as spans, a copy stored again is older than the span
horizon and the next pass deletes it. Hence the rule :func:`retention_policy` enforces:
``ledger_retention_days >= retention_days``, and 0 (forever) when spans are kept forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from parallax.config import StoreSettings
from parallax.errors import ConfigError
from store.lake import WriterLake


@dataclass(frozen=True)
class KeptTable:
    """A table retention applies to: its name, the column its rows age by, its horizon."""

    table: str
    clock: str
    days: int

    def cutoff(self, now: datetime) -> datetime | None:
        """Rows older than this go; None when the table keeps its rows forever."""
        if self.days <= 0:
            return None
        day = (now.astimezone(UTC) - timedelta(days=self.days)).date()
        return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True)
class RetentionPolicy:
    """The kept tables with their horizons (from StoreSettings, checked)."""

    tables: tuple[KeptTable, ...]


def retention_policy(store: StoreSettings) -> RetentionPolicy:
    """The policy of ``store``'s settings; ConfigError when the ledger would be kept for
    less time than spans (the module docstring says why that breaks effectively-once)."""
    spans, ledger = store.retention_days, store.ledger_retention_days
    if spans == 0 and ledger != 0:
        raise ConfigError(
            "store.ledger_retention_days must be 0 (keep forever) while store.retention_days "
            f"is 0 (spans kept forever), got {ledger}: a batch re-sent after its ledger row "
            "is gone would be stored twice"
        )
    if ledger != 0 and ledger < spans:
        raise ConfigError(
            f"store.ledger_retention_days ({ledger}) must be at least store.retention_days "
            f"({spans}): a batch re-sent after its ledger row is gone would be stored twice"
        )
    return RetentionPolicy(
        (
            KeptTable("spans", "start_time", spans),
            KeptTable("node_heartbeats", "received_at", store.heartbeat_retention_days),
            KeptTable("ingested_batches", "committed_at", ledger),
            KeptTable("ingest_stats", "recorded_at", store.stats_retention_days),
        )
    )


def apply_retention(
    lake: WriterLake, policy: RetentionPolicy, now: datetime | None = None
) -> dict[str, int]:
    """Delete every kept table's rows older than its cut-off at ``now`` (default: the
    current time), one short transaction per table; return the rows deleted per table."""
    now = now or datetime.now(UTC)
    deleted = {}
    for kept in policy.tables:
        cutoff = kept.cutoff(now)
        if cutoff is None:
            continue
        with lake.transaction() as con:
            # Table and column names come from the policy above, never from user text.
            (rows,) = con.execute(
                f"DELETE FROM {kept.table} WHERE {kept.clock} < ?", [cutoff]
            ).fetchone()
            if rows:
                con.execute(
                    "INSERT INTO retention_log VALUES (?, ?, ?, now())",
                    [kept.table, cutoff, rows],
                )
        deleted[kept.table] = int(rows)
    return deleted
