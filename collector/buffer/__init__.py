"""The collector's durable buffer: batches survive backend outages, crashes and reboots.

Durability contract
===================

**What is stored.** Every batch the collector accepts is appended as one record:
length, CRC-32 checksums (of the header and of the payload), the batch sequence, the
time it was written, its span count, the id of the zstd dictionary that compressed it,
and the compressed OTLP payload (byte layout in :mod:`collector.buffer.record`).

**Sequences.** The buffer numbers batches 1, 2, 3, ... and never hands out a number
twice, restarts included: numbers are reserved in the ledger 4,096 at a time, before
use, so no crash can make a number reappear (a restart after a crash skips the unused
rest of its reservation; a clean close gives it back). The buffer also has a random
``buffer_id``, kept in the ledger: with the node id, (buffer id, sequence) identifies a
batch to the backend, which therefore recognises a batch sent twice. A buffer whose
ledger is lost or wiped takes a new id, so its new numbers cannot collide with old ones.

**Files.** In the buffer directory: segment files ``<first sequence>.seg``; the
ledger ``ledger.json`` (acknowledgements, sequence reservation, lifetime counters);
``dictionaries/``; ``quarantine/`` for files that could not be used; ``lock``, which
keeps a second process out. Segments are append-only. A segment is sealed (synced and
closed) when the next record would take it past ``max_segment_bytes`` (8 MiB by
default); a batch too large for an empty segment is refused. After a restart, writing
starts in a new segment: files of an earlier run are never appended to.

**When a batch is safe.** With ``fsync_policy="always"`` (the default), ``append``
returns only after the record is fsynced: a batch the application was told is
accepted is on disk, and the window of possible loss is zero. With ``"interval"``,
``append`` returns once the record is written to the operating system and a
background thread fsyncs every ``fsync_interval_ms``: that interval is the window of
possible loss on power failure or kernel crash (a killed process loses nothing, the
data is in the page cache). Readers see a record only once it is durable under
``"always"``, as soon as it is written under ``"interval"``.

**Acknowledgements.** The shipper calls ``ack(seq)`` once the backend has committed
a batch. Acknowledged sequences are kept in the ledger, which is only ever replaced
atomically (temporary file, fsync, rename, fsync of the directory). Under ``"always"``
the ledger is written before ``ack`` returns, so an acknowledged batch is never sent
again. Under ``"interval"`` acknowledgements reach disk with the next flush: after a
crash, batches acknowledged within the last interval may be sent again, and the
backend drops them as duplicates.

**Deletion.** Segment files are deleted only whole, and only once every record in them
is acknowledged (or dropped, below). No record is ever removed from a segment alone.

**Bound.** Segments and dictionaries together never exceed ``max_total_bytes`` (1 GiB
by default). When an append would exceed it, the oldest segments are dropped whole,
acknowledged or not, until the new record fits: in a long outage the oldest telemetry
goes, the newest stays. Every dropped batch and the spans in it (as declared by the
caller of ``append``) are counted in the ledger before the file is deleted, reported
by ``stats()`` and logged (a rate-limited warning).

**A full disk.** An append whose write or fsync fails (disk full, I/O error) raises
:class:`BufferWriteError` and its batch is never shipped; the segment it was going to
is sealed then and there: it takes no more records and is deleted
whole, like any sealed segment, once its batches are acknowledged. So when the
backend takes the backlog, the space comes back and appends succeed again, with no
restart. A full disk drops nothing: new batches are refused until there is room.

**Recovery.** On open (:mod:`collector.buffer.recovery`): a torn tail is truncated and
counted; a record failing its checksum is counted and skipped, and the records after
it stay readable; a segment that cannot be read at all is moved to ``quarantine/`` and
counted; a damaged ledger or dictionary is quarantined too. The buffer refuses to open
only when its directory is unusable (:class:`BufferUnusableError`, naming the path)
or held by another process (:class:`BufferLockedError`); nothing found inside the
directory stops it, so damage can never cause a crash loop.

**Compression.** zstd at ``zstd_level``. With ``dictionary=True`` the buffer trains a
``dictionary_size`` dictionary from the first ``dictionary_train_samples`` small
batches and compresses with it from then on; ``train_dictionary()`` trains a newer one.
Dictionaries are never changed once written and each record names its own, so every
stored record stays readable (:mod:`collector.buffer.compression`).

**Threads and memory.** One thread may append while another reads and acknowledges.
The in-memory index costs 20 bytes per stored record (about 20 MB for a full 1 GiB of
1 KiB records); dictionary training keeps up to 100 times ``dictionary_size`` of recent
small batches.
"""

from collector.buffer.errors import (
    BatchTooLargeError,
    BufferClosedError,
    BufferLockedError,
    BufferUnusableError,
    BufferWriteError,
    DurableBufferError,
    UnknownSequenceError,
)
from collector.buffer.log import SegmentLog
from collector.buffer.settings import BufferSettings
from collector.buffer.stats import BufferedBatch, BufferReport

__all__ = [
    "BatchTooLargeError",
    "BufferClosedError",
    "BufferLockedError",
    "BufferReport",
    "BufferSettings",
    "BufferUnusableError",
    "BufferWriteError",
    "BufferedBatch",
    "DurableBufferError",
    "SegmentLog",
    "UnknownSequenceError",
]
