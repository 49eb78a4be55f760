"""Model-based test: random append / read / ack / flush / crash against a trivial model.

The model is a list of the batches appended and not acknowledged. Invariants:
every batch whose append returned (and was synced, under fsync "interval") and that was
not acknowledged comes back from ``pending()``, in order, exactly once; sequences only
increase; an acknowledgement that was made durable never comes undone; when the size
bound drops batches, they are the oldest pending ones and the counters say exactly how
many and how many spans.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from collector.buffer import BufferSettings, SegmentLog
from collector.buffer.segment import SEGMENT_HEADER_SIZE

SEGMENT_BYTES = 4096
payloads = st.one_of(
    st.binary(max_size=64),
    # Large and incompressible (stored as given): fills segments, so the bound is reached.
    st.builds(
        lambda rng, size: rng.randbytes(size),
        st.randoms(use_true_random=True),
        st.integers(900, 1800),
    ),
    st.builds(
        lambda chunk, times: chunk * times,
        st.binary(min_size=1, max_size=16),
        st.integers(1, 60),
    ),
)


@dataclass(frozen=True)
class Entry:
    seq: int
    payload: bytes
    span_count: int


class BufferMachine(RuleBasedStateMachine):
    max_total_bytes = 1 << 24  # never reached

    @initialize(policy=st.sampled_from(["always", "interval"]))
    def open_buffer(self, policy: str) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="buffer-machine-"))
        self.settings = BufferSettings(
            directory=self.directory,
            max_segment_bytes=SEGMENT_BYTES,
            max_total_bytes=self.max_total_bytes,
            fsync_policy=policy,  # type: ignore[arg-type]
            fsync_interval_ms=3_600_000,  # no background flush: the test flushes explicitly
            dictionary=False,
        )
        self.interval = policy == "interval"
        self.pending: list[Entry] = []  # appended, not acknowledged, not dropped
        self.unsynced: set[int] = set()  # appended since the last flush (interval only)
        self.acked_unsynced: dict[int, Entry] = {}  # acknowledged since the last flush
        self.acked_for_good: set[int] = set()
        self.last_seq = 0
        self.dropped_batches = 0
        self.dropped_spans = 0
        self.log = SegmentLog(self.settings)
        self._remember_durable_sizes()

    def teardown(self) -> None:
        log = getattr(self, "log", None)
        if log is not None:
            log.close()
            shutil.rmtree(self.directory, ignore_errors=True)

    # --- rules -------------------------------------------------------------------------------

    @rule(payload=payloads, span_count=st.integers(0, 50))
    def append(self, payload: bytes, span_count: int) -> None:
        seq = self.log.append(payload, span_count=span_count)
        assert seq > self.last_seq
        self.last_seq = seq
        self.pending.append(Entry(seq, payload, span_count))
        if self.interval:
            self.unsynced.add(seq)
        self._account_for_drops()

    @rule(batch=st.lists(st.tuples(payloads, st.integers(0, 50)), min_size=2, max_size=8))
    def append_several(self, batch: list[tuple[bytes, int]]) -> None:
        for payload, span_count in batch:
            self.append(payload, span_count)

    @rule()
    def read_everything(self) -> None:
        assert self._read() == self.pending

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def read_after(self, data: st.DataObject) -> None:
        start = data.draw(st.integers(0, len(self.pending) - 1))
        after = self.pending[start].seq
        assert self._read(after) == self.pending[start + 1 :]

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        entry = self.pending[data.draw(st.integers(0, len(self.pending) - 1))]
        self.log.ack(entry.seq)
        self._acknowledged([entry])

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def ack_several(self, data: st.DataObject) -> None:
        chosen = data.draw(st.sets(st.sampled_from([e.seq for e in self.pending]), min_size=1))
        self.log.ack_many(sorted(chosen))
        self._acknowledged([e for e in self.pending if e.seq in chosen])

    @precondition(lambda self: self.acked_for_good)
    @rule(data=st.data())
    def ack_again(self, data: st.DataObject) -> None:
        self.log.ack(data.draw(st.sampled_from(sorted(self.acked_for_good))))

    @rule()
    def flush(self) -> None:
        self.log.flush()
        self._everything_is_durable()

    @rule()
    def close_and_reopen(self) -> None:
        self.log.close()
        self._everything_is_durable()
        self._reopen()
        assert self._read() == self.pending

    @rule(data=st.data())
    def crash_and_reopen(self, data: st.DataObject) -> None:
        before = self.log.stats()
        self.log._simulate_crash()
        if self.interval:
            self._tear_unsynced_tail(data.draw(st.randoms(use_true_random=False)))
        self._reopen()
        after = self.log.stats()
        assert (after.dropped_batches, after.dropped_spans) == (
            before.dropped_batches,
            before.dropped_spans,
        )
        self._check_recovered(self._read())

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def counters_match_the_model(self) -> None:
        stats = self.log.stats()
        assert stats.pending_batches == len(self.pending)
        assert stats.pending_spans == sum(entry.span_count for entry in self.pending)
        assert stats.disk_bytes <= self.settings.max_total_bytes
        assert stats.corrupt_records == 0

    # --- helpers -----------------------------------------------------------------------------

    def _read(self, after: int = 0) -> list[Entry]:
        return [Entry(b.seq, b.payload, b.span_count) for b in self.log.pending(after=after)]

    def _reopen(self) -> None:
        self.log = SegmentLog(self.settings)
        self._remember_durable_sizes()

    def _acknowledged(self, entries: list[Entry]) -> None:
        for entry in entries:
            self.pending.remove(entry)
            if self.interval:
                self.acked_unsynced[entry.seq] = entry  # durable at the next flush
            else:
                self.acked_for_good.add(entry.seq)

    def _everything_is_durable(self) -> None:
        self.unsynced.clear()
        self.acked_for_good.update(self.acked_unsynced)
        self.acked_unsynced.clear()
        self._remember_durable_sizes()

    def _remember_durable_sizes(self) -> None:
        self.durable_sizes = {p.name: p.stat().st_size for p in self.directory.glob("*.seg")}

    def _tear_unsynced_tail(self, rng: random.Random) -> None:
        """Power loss: the newest segment keeps its synced prefix and a random part of the rest.

        Older segments were synced when sealed, and a new segment's header is synced
        when it is created, so only the newest file can lose data.
        """
        segments = sorted(self.directory.glob("*.seg"))
        if not segments:
            return
        newest = segments[-1]
        durable = self.durable_sizes.get(newest.name, SEGMENT_HEADER_SIZE)
        size = newest.stat().st_size
        if size > durable:
            with newest.open("r+b") as handle:
                handle.truncate(rng.randint(durable, size))

    def _check_recovered(self, returned: list[Entry]) -> None:
        seqs = [entry.seq for entry in returned]
        assert seqs == sorted(set(seqs)), "in order, each once"
        by_seq = {entry.seq: entry for entry in self.pending} | self.acked_unsynced
        for entry in returned:
            assert entry.seq not in self.acked_for_good, "a durable acknowledgement came undone"
            assert by_seq.get(entry.seq) == entry, "returned a batch never appended as such"
        present = set(seqs)
        must_survive = [e for e in self.pending if e.seq not in self.unsynced]
        assert all(entry.seq in present for entry in must_survive), "lost a synced batch"
        lost = [e.seq for e in self.pending if e.seq in self.unsynced and e.seq not in present]
        assert all(seq > max(present & self.unsynced, default=0) for seq in lost), (
            "a torn write loses only the newest batches"
        )
        # The model becomes what survived.
        self.pending = returned
        self.acked_for_good.update(set(self.acked_unsynced) - present)
        self.acked_unsynced.clear()
        self.unsynced.clear()

    def _account_for_drops(self) -> None:
        """Drops take whole oldest segments: the model loses its oldest pending entries."""
        stats = self.log.stats()
        newly_dropped = stats.dropped_batches - self.dropped_batches
        if newly_dropped:
            gone, self.pending = self.pending[:newly_dropped], self.pending[newly_dropped:]
            assert stats.dropped_spans - self.dropped_spans == sum(e.span_count for e in gone)
            for entry in gone:
                self.unsynced.discard(entry.seq)
        self.dropped_batches, self.dropped_spans = stats.dropped_batches, stats.dropped_spans


class BoundedBufferMachine(BufferMachine):
    """The same, with room for two segments only: appends keep dropping the oldest."""

    max_total_bytes = 2 * SEGMENT_BYTES

    @initialize(
        policy=st.sampled_from(["always", "interval"]), rng=st.randoms(use_true_random=True)
    )
    def open_buffer(self, policy: str, rng: random.Random) -> None:  # type: ignore[override]
        """Starts full, so drops, crashes and acknowledgements interleave from the first step."""
        super().open_buffer(policy)
        self.fill_past_the_bound(rng)

    @rule(rng=st.randoms(use_true_random=True))
    def fill_past_the_bound(self, rng: random.Random) -> None:
        for _ in range(2 * self.max_total_bytes // 1400):
            self.append(rng.randbytes(1400), rng.randint(0, 50))


FAST = settings(
    max_examples=50,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
BufferMachine.TestCase.settings = FAST
BoundedBufferMachine.TestCase.settings = FAST
test_buffer_agrees_with_a_trivial_model = BufferMachine.TestCase
test_bounded_buffer_drops_exactly_the_oldest_batches = BoundedBufferMachine.TestCase
