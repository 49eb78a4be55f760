"""The ingest writer: the only code that writes spans, one ``WriterLake.transaction`` per
group commit.

A group is the converted spans of several requests. Within one transaction the writer
inserts the spans of every request that is not a duplicate and a row per collector
batch into ``ingested_batches``; only after COMMIT returns are the requests
acknowledged. A request whose (node id, buffer id, batch sequence) is already committed, or
appears earlier in the same group, is acknowledged as a duplicate and not written.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from importlib import resources

import duckdb
import numpy as np
import pyarrow as pa

from store.ingest.convert import Converted, Outcome
from store.ingest.ledger import BatchId, BatchLedger
from store.lake import WriterLake

log = logging.getLogger("parallax.ingest")

INSERT_SPANS = (
    resources.files("store").joinpath("ingest", "insert_spans.sql").read_text(encoding="utf-8")
)
MAX_REMEMBERED_RESOURCES = 100_000


@dataclass
class Written:
    """What the writer did with one request of a group."""

    outcome: Outcome
    duplicate: bool = False


class LakeWriter:
    """Commits converted groups through the lake's writer connection (one thread uses it)."""

    def __init__(self, lake: WriterLake) -> None:
        self.lake = lake
        self.con = lake.con
        self.ledger = BatchLedger(self._committed_intervals())
        self._known_resources: set[int] = set()  # ids certainly in the resources table

    def write(self, converted: Converted, batch_ids: list[BatchId | None]) -> list[Written]:
        """Commit the group; raises (after rolling back) when the lake refuses it."""
        results = [Written(outcome) for outcome in converted.outcomes]
        seen: set[BatchId] = set()
        for index, batch_id in enumerate(batch_ids):
            if batch_id is None:
                continue
            if batch_id in seen or self.ledger.is_committed(batch_id):
                results[index] = Written(self._previous_outcome(batch_id), duplicate=True)
            seen.add(batch_id)
        table = self._without_duplicates(converted, results)
        new_batches = [
            (batch_id, result.outcome)
            for batch_id, result in zip(batch_ids, results, strict=True)
            if batch_id is not None and not result.duplicate
        ]
        resources = {
            rid: attrs
            for rid, attrs in converted.resources.items()
            if rid not in self._known_resources
        }
        self._commit(table, new_batches, resources)
        for batch_id, _ in new_batches:
            self.ledger.record(batch_id)
        if len(self._known_resources) > MAX_REMEMBERED_RESOURCES:
            self._known_resources.clear()  # bounded memory: unknown ids are only re-checked
        self._known_resources.update(resources)
        return results

    def _without_duplicates(self, converted: Converted, results: list[Written]) -> pa.Table:
        duplicates = [i for i, result in enumerate(results) if result.duplicate]
        if not duplicates:
            return converted.table
        keep = ~np.isin(converted.request_of_row, duplicates)
        return converted.table.filter(pa.array(keep))

    def _commit(
        self,
        table: pa.Table,
        batches: list[tuple[BatchId, Outcome]],
        resources: dict[int, list[tuple[str, str | None]]],
    ) -> None:
        if table.num_rows == 0 and not batches:
            return
        with self.lake.transaction() as con:
            if table.num_rows:
                con.register("staged_spans", table)
                con.execute(INSERT_SPANS)
                con.unregister("staged_spans")
            if resources:
                self._insert_new_resources(resources)
            if batches:
                self._record_batches(con, batches)

    @staticmethod
    def _record_batches(
        con: duckdb.DuckDBPyConnection, batches: list[tuple[BatchId, Outcome]]
    ) -> None:
        """One INSERT for the group's ledger rows, its columns passed as list parameters:
        a registered Arrow table cost ~2.6 ms more per commit, and under load each of the
        scan's hand-backs of the interpreter lock waits for the other threads (measured:
        a commit's critical path 160 -> 117 ms beside a busy Python thread)."""
        con.execute(
            "INSERT INTO ingested_batches "
            "(node_id, buffer_id, batch_seq, span_count, rejected_count, committed_at) "
            "SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::BIGINT[]), "
            "unnest(?::INTEGER[]), unnest(?::INTEGER[]), now()",
            [
                [batch.node_id for batch, _ in batches],
                [batch.buffer_id or None for batch, _ in batches],
                [batch.seq for batch, _ in batches],
                [outcome.accepted for _, outcome in batches],
                [outcome.rejected for _, outcome in batches],
            ],
        )

    def _insert_new_resources(self, resources: dict[int, list[tuple[str, str | None]]]) -> None:
        staged = pa.table(
            {
                "resource_id": pa.array(list(resources), pa.int64()),
                "attributes": pa.array(list(resources.values()), pa.map_(pa.string(), pa.string())),
            }
        )
        self.con.register("staged_resources", staged)
        self.con.execute(
            "INSERT INTO resources SELECT resource_id, attributes, now() FROM staged_resources "
            "WHERE resource_id NOT IN (SELECT resource_id FROM resources)"
        )
        self.con.unregister("staged_resources")

    def write_stats(self, row: dict) -> None:
        columns = list(row)
        placeholders = ", ".join("?" for _ in columns)
        with self.lake.transaction() as con:
            con.execute(
                f"INSERT INTO ingest_stats ({', '.join(columns)}, recorded_at) "
                f"VALUES ({placeholders}, now())",
                list(row.values()),
            )

    def _committed_intervals(self) -> list[tuple[str, str, int, int]]:
        """Every stream's committed sequences as intervals, computed by DuckDB in one pass
        (gaps and islands: consecutive sequences share seq - row_number())."""
        started = time.monotonic()
        rows = self.con.execute(
            """
            SELECT node_id, buffer_id, min(batch_seq), max(batch_seq)
            FROM (
                SELECT node_id, coalesce(buffer_id, '') AS buffer_id, batch_seq,
                       batch_seq - row_number() OVER (
                           PARTITION BY node_id, coalesce(buffer_id, '') ORDER BY batch_seq
                       ) AS island
                FROM (SELECT DISTINCT node_id, buffer_id, batch_seq FROM ingested_batches)
            )
            GROUP BY node_id, buffer_id, island
            ORDER BY node_id, buffer_id, 3
            """
        ).fetchall()
        log.info(
            "batch ledger: %d intervals loaded in %.2fs", len(rows), time.monotonic() - started
        )
        return rows

    def _previous_outcome(self, batch: BatchId) -> Outcome:
        """The counts recorded when the batch was first committed (for the retried reply)."""
        row = self.con.execute(
            "SELECT span_count, rejected_count FROM ingested_batches "
            "WHERE node_id = ? AND coalesce(buffer_id, '') = ? AND batch_seq = ? LIMIT 1",
            [batch.node_id, batch.buffer_id, batch.seq],
        ).fetchone()
        if row is None:  # the first copy is in this same group
            return Outcome()
        return Outcome(accepted=row[0], rejected=row[1])
