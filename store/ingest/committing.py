"""Committing a group so that no request's content can fail another request.

The rules applied at conversion (docs/wire-contract.md) are meant to leave nothing the
lake can refuse. Should the lake refuse a group for something in its data all the same
(an error of the content kind below), the group is split in halves and each half
committed on its own, down to the one request that is refused: it is answered
INVALID_ARGUMENT and everyone else's spans are committed. Any other error is a fault
of the lake (disk, catalog, memory): nothing of the group is acknowledged and its
requests are answered UNAVAILABLE, so their clients retry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import duckdb
import pyarrow as pa

from parallax.ratelimit import RateLimitedLog
from store.ingest import convert
from store.ingest.convert import Converted, InvalidRequest
from store.ingest.requests import PendingRequest
from store.ingest.stats import IngestStats
from store.ingest.writer import LakeWriter, Written

log = logging.getLogger("parallax.ingest")

CONTENT_FAULTS = (
    duckdb.ConversionException,
    duckdb.InvalidInputException,
    duckdb.ConstraintException,
    duckdb.OutOfRangeException,
    duckdb.TypeMismatchException,
    duckdb.InvalidTypeException,
    pa.ArrowException,
)

Answer = Callable[..., bool]


class GroupCommitter:
    """Commits groups through the lake writer and answers each of their requests."""

    def __init__(
        self,
        writer: LakeWriter,
        stats: IngestStats,
        answer: Answer,
    ) -> None:
        self._writer = writer
        self._stats = stats
        self._answer = answer  # InFlight.answer: resolves a request once
        self._refusals = RateLimitedLog(log)

    def commit(
        self, group: list[PendingRequest], converted: Converted
    ) -> list[tuple[PendingRequest, Written]]:
        """Commit the group, isolating any request whose content the lake refuses.

        Raises the lake's error when the lake itself failed; the requests of the group
        not answered yet are then answered with that error.
        """
        committed: list[tuple[PendingRequest, Written]] = []
        try:
            self._commit_isolating(group, converted, committed)
        except Exception as err:
            for pending in group:
                self._answer(pending, error=err)
            raise
        return committed

    def _commit_isolating(
        self,
        group: list[PendingRequest],
        converted: Converted,
        committed: list[tuple[PendingRequest, Written]],
    ) -> None:
        try:
            results = self._writer.write(converted, [p.batch_id for p in group])
        except CONTENT_FAULTS as err:
            if len(group) == 1:
                self._refuse(group[0], err)
                return
            half = len(group) // 2
            for part in (range(half), range(half, len(group))):
                self._commit_isolating(
                    [group[i] for i in part], convert.subset(converted, list(part)), committed
                )
            return
        for pending, result in zip(group, results, strict=True):
            self._answer(pending, result=result)
            committed.append((pending, result))

    def _refuse(self, pending: PendingRequest, err: Exception) -> None:
        self._stats.add(requests_invalid=1)
        self._refusals.log(
            logging.WARNING, "refused", "the lake refused one request's spans: %s", err
        )
        self._answer(pending, error=InvalidRequest(f"the lake refused this request's spans: {err}"))
