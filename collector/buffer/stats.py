"""What the buffer hands out: stored batches and counters."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BufferedBatch:
    """One stored batch, as the shipper sends it."""

    seq: int
    payload: bytes
    span_count: int
    written_at: float  # Unix seconds when it was appended


@dataclass(frozen=True, slots=True)
class BufferReport:
    """A snapshot of the buffer's state, what the agent logs and the heartbeat reports
    (``collector.heartbeat`` turns it into the wire's ``BufferStats`` message). Counters
    of losses cover the buffer's whole life, restarts included (they are kept in the
    ledger)."""

    pending_batches: int
    pending_spans: int
    pending_bytes: int  # stored (compressed) bytes of unacknowledged batches
    oldest_pending_age_s: float  # 0.0 when nothing is pending
    dropped_batches: int  # unacknowledged batches dropped whole because the buffer was full
    dropped_spans: int
    corrupt_records: int  # batches lost to checksum failures or damaged headers
    torn_tails_truncated: int  # incomplete writes cut off during recovery
    quarantined_segments: int  # unreadable segment files moved to quarantine/
    disk_bytes: int  # segments plus dictionaries
    segment_count: int
    dictionary_id: int  # dictionary new batches are compressed with, 0 for none
    next_seq: int
    disk_free_bytes: int  # free bytes on the buffer directory's file system
