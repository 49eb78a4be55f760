"""Errors raised by the durable buffer.

Permanent and retryable failures are different types so that the caller (the local
OTLP receiver) never has to guess: a :class:`BatchTooLargeError` will fail again, a
:class:`BufferWriteError` may succeed once the disk has room.
"""

from __future__ import annotations

from parallax.errors import ParallaxError


class DurableBufferError(ParallaxError):
    """Base class of the buffer's errors."""


class BufferUnusableError(DurableBufferError):
    """The buffer directory cannot be used (missing permission, not a directory, read-only).

    The message names the path. This is the only condition that stops the buffer from
    opening: damaged files inside a usable directory are repaired or quarantined.
    """


class BufferLockedError(BufferUnusableError):
    """Another process already has this buffer directory open."""


class BufferClosedError(DurableBufferError):
    """The buffer was used after :meth:`SegmentLog.close`."""


class BatchTooLargeError(DurableBufferError):
    """A batch does not fit in one segment even after compression; retrying cannot help."""


class BufferWriteError(DurableBufferError):
    """Writing or syncing a batch failed (disk full, I/O error); the batch was not stored.

    Retryable: the buffer stays consistent and later appends may succeed.
    """


class UnknownSequenceError(DurableBufferError, ValueError):
    """An acknowledgement names a batch sequence this buffer never assigned."""


class CorruptRecordError(DurableBufferError):
    """A stored record failed its checksum or could not be decompressed (internal)."""
