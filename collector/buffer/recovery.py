"""Recovery on open: make the segment files trustworthy again, and count every loss.

Rules, applied to each segment file in sequence order; none of them guesses:

- A file that cannot be read, or whose header is not a valid segment header, is moved
  to ``quarantine/`` whole and counted. The rest of the buffer opens normally.
- A file shorter than a segment header is an interrupted creation: it cannot hold a
  record, so it is removed (counted as a torn tail).
- A record whose payload fails its checksum is counted and skipped; its header (which
  has its own checksum) gives its length, so the records after it are still read.
- A record whose header fails its checksum has an untrustworthy length: the scan
  resynchronises on the next record that passes every check, and counts the sequences
  in between as lost.
- A damaged tail (an incomplete record, or damage with no valid record after it) is
  what an interrupted write leaves: the file is truncated at the last valid record and
  the truncation counted.

Damage found once is remembered in the ledger (segment name and offset), so a restart
does not count it twice. Sequences lost inside a segment become resolved: nothing
waits for them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from collector.buffer.files import move_to_quarantine
from collector.buffer.ledger import Ledger
from collector.buffer.record import (
    HEADER_SIZE,
    Status,
    decode_at,
    decode_header,
    find_next_valid,
)
from collector.buffer.segment import (
    SEGMENT_HEADER_SIZE,
    SEGMENT_SUFFIX,
    Segment,
    decode_segment_header,
    segment_file_name,
)

logger = logging.getLogger(__name__)


@dataclass
class Recovered:
    """What recovery found: the usable segments, oldest first, and the highest sequence."""

    segments: list[Segment] = field(default_factory=list)
    max_seq: int = 0


def recover_segments(directory: Path, quarantine_directory: Path, ledger: Ledger) -> Recovered:
    """Scan, repair and index every segment; updates the ledger's counters and resolved set."""
    recovered = Recovered()
    for path in sorted(directory.glob("*" + SEGMENT_SUFFIX)):
        segment = _recover_segment(path, quarantine_directory, ledger)
        if segment is None:
            continue
        if segment.base_seq <= recovered.max_seq:
            # Overlaps an older segment: not written by this buffer in this order.
            _quarantine(path, quarantine_directory, ledger, "sequences overlap an older segment")
            continue
        if segment.slot_count == 0:
            path.unlink()  # a header and nothing else: holds no data
            continue
        recovered.segments.append(segment)
        recovered.max_seq = segment.last_seq
    _forget_damage_of_missing_segments(ledger, recovered.segments)
    return recovered


def _recover_segment(path: Path, quarantine_directory: Path, ledger: Ledger) -> Segment | None:
    try:
        data = path.read_bytes()
    except OSError as err:
        _quarantine(path, quarantine_directory, ledger, f"cannot be read: {err}")
        return None
    if len(data) < SEGMENT_HEADER_SIZE:
        logger.warning("buffer segment %s is shorter than its header; removed", path)
        path.unlink()
        ledger.counters.torn_tails_truncated += 1
        return None
    try:
        base_seq = decode_segment_header(data)
    except ValueError as err:
        _quarantine(path, quarantine_directory, ledger, str(err))
        return None
    if path.name != segment_file_name(base_seq):
        _quarantine(path, quarantine_directory, ledger, f"header says base sequence {base_seq}")
        return None
    segment = Segment(path=path, base_seq=base_seq, sealed=True)
    damage = _DamageCounter(ledger, path.name)
    offset = valid_end = SEGMENT_HEADER_SIZE
    while offset < len(data):
        decoded = decode_at(data, offset)
        header = decoded.header
        if decoded.status is Status.VALID and header is not None:
            if _follows(segment, header.seq, offset - valid_end):
                _fill_holes_before(segment, header.seq, ledger)
                segment.index_record(
                    offset,
                    header.record_size,
                    header.span_count,
                    header.written_at_ns / 1e9,
                    header.dictionary_id,
                )
            else:
                damage.count(offset, 1, f"sequence {header.seq} does not follow {segment.last_seq}")
            offset = valid_end = offset + header.record_size
        elif decoded.status is Status.CORRUPT_PAYLOAD and header is not None:
            damage.count(offset, 1, "payload fails its checksum")
            if _follows(segment, header.seq, offset - valid_end):
                _fill_holes_before(segment, header.seq + 1, ledger)
            offset = valid_end = offset + header.record_size
        elif decoded.status is Status.CORRUPT_HEADER:
            resume = find_next_valid(data, offset + 1)
            if resume is None:
                _truncate_tail(segment, offset, len(data), ledger)
                break
            next_header = decode_header(memoryview(data)[resume:])
            assert next_header is not None  # find_next_valid checked it
            lost = next_header.seq - segment.last_seq - 1
            if not _follows(segment, next_header.seq, resume - valid_end):
                lost = 1  # the sequences do not tell; at least the damaged record is lost
            damage.count(offset, max(1, lost), "header damaged")
            offset = resume
        else:  # torn: the data ends inside this record
            _truncate_tail(segment, offset, len(data), ledger)
            break
    return segment


def _follows(segment: Segment, seq: int, skipped_bytes: int) -> bool:
    """Whether a record with ``seq`` can come next, after ``skipped_bytes`` of damage.

    Every lost record took at least a header's worth of the skipped bytes, which bounds
    how far the sequence may jump (and keeps a bogus jump from filling memory with holes).
    """
    lost = seq - segment.last_seq - 1
    return 0 <= lost <= skipped_bytes // HEADER_SIZE


def _fill_holes_before(segment: Segment, seq: int, ledger: Ledger) -> None:
    """Give every sequence between the last slot and ``seq`` an empty slot, resolved."""
    first_missing = segment.last_seq + 1
    if first_missing < seq:
        for _ in range(seq - first_missing):
            segment.index_hole()
        ledger.resolved.add_range(first_missing, seq - 1)


def _truncate_tail(segment: Segment, offset: int, file_size: int, ledger: Ledger) -> None:
    logger.warning(
        "buffer segment %s has a torn tail: %d bytes after offset %d removed",
        segment.path,
        file_size - offset,
        offset,
    )
    ledger.counters.torn_tails_truncated += 1
    try:
        descriptor = os.open(segment.path, os.O_WRONLY)
        try:
            os.ftruncate(descriptor, offset)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except OSError as err:
        # Still usable: the index ends at the last valid record either way.
        logger.error("could not truncate %s: %s", segment.path, err)
    segment.size = offset


def _quarantine(path: Path, quarantine_directory: Path, ledger: Ledger, reason: str) -> None:
    try:
        moved = move_to_quarantine(path, quarantine_directory)
    except OSError as err:
        # Cannot even move it: leave it, it will be looked at again on the next start.
        logger.error(
            "buffer segment %s is unusable (%s) and cannot be moved: %s", path, reason, err
        )
        return
    ledger.counters.quarantined_segments += 1
    logger.error("buffer segment %s is unusable (%s); moved to %s", path, reason, moved)


class _DamageCounter:
    """Counts corrupt records of one segment once, across restarts."""

    def __init__(self, ledger: Ledger, segment_name: str) -> None:
        self._ledger = ledger
        self._segment_name = segment_name

    def count(self, offset: int, lost_records: int, reason: str) -> None:
        already = self._ledger.counted_corruption.setdefault(self._segment_name, [])
        if offset in already:
            return
        already.append(offset)
        self._ledger.counters.corrupt_records += lost_records
        logger.error(
            "buffer segment %s: %d record(s) at offset %d lost (%s)",
            self._segment_name,
            lost_records,
            offset,
            reason,
        )


def _forget_damage_of_missing_segments(ledger: Ledger, segments: list[Segment]) -> None:
    present = {segment.path.name for segment in segments}
    for name in list(ledger.counted_corruption):
        if name not in present:
            del ledger.counted_corruption[name]


def resolve_missing_sequences(ledger: Ledger, recovered: Recovered) -> int:
    """Resolve every sequence that no record holds; returns the next sequence to assign.

    Sequences below the oldest segment, between segments (a restart skips the rest of
    its reservation) and reserved but never written are gaps nothing should wait for.
    """
    covered_through = 0
    for segment in recovered.segments:
        ledger.resolved.add_range(covered_through + 1, segment.base_seq - 1)
        covered_through = segment.last_seq
    next_seq = max(ledger.reserved_through, recovered.max_seq) + 1
    ledger.resolved.add_range(covered_through + 1, next_seq - 1)
    return next_seq
