"""Record encoding: one stored batch, self-describing and checksummed.

Layout (little-endian, 40-byte header, then the payload)::

    offset size field
         0    4 magic           b"PXR1" (format version 1)
         4    4 header_crc      CRC-32 of bytes 8..40
         8    4 payload_length  bytes of payload that follow the header
        12    4 payload_crc     CRC-32 of the payload
        16    8 batch_seq       the batch sequence number
        24    8 written_at_ns   wall clock when appended, Unix nanoseconds
        32    4 span_count      spans in the batch, as the caller declared
        36    2 dictionary_id   zstd dictionary that compressed the payload, 0 for none
        38    1 codec           0 = stored as given, 1 = zstd
        39    1 reserved        zero
        40    n payload

The header has its own checksum so that a damaged length is never trusted: decoding
tells a *torn* record (the file ends before the record does: an interrupted write)
from a *corrupt* one (the bytes are all there but fail their checksum).
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass

RECORD_MAGIC = b"PXR1"
_HEADER = struct.Struct("<4sIIIQqIHBx")
HEADER_SIZE = _HEADER.size
_CHECKED_FROM = 8  # the header checksum covers everything after itself

CODEC_STORED = 0
CODEC_ZSTD = 1
MAX_DICTIONARY_ID = 0xFFFF


@dataclass(frozen=True, slots=True)
class RecordHeader:
    """The decoded fixed part of a record."""

    seq: int
    written_at_ns: int
    span_count: int
    dictionary_id: int
    codec: int
    payload_length: int
    payload_crc: int

    @property
    def record_size(self) -> int:
        return HEADER_SIZE + self.payload_length


class Status(enum.Enum):
    VALID = "valid"
    # The data ends inside this record: a write that never completed.
    TORN = "torn"
    # The header is intact but the payload fails its checksum: skip exactly this record.
    CORRUPT_PAYLOAD = "corrupt payload"
    # Magic or header checksum wrong: the length cannot be trusted, resynchronise.
    CORRUPT_HEADER = "corrupt header"


@dataclass(frozen=True, slots=True)
class Decoded:
    """The outcome of decoding at one offset; header is set unless the header is unusable."""

    status: Status
    header: RecordHeader | None = None
    payload: bytes = b""


def encode_record(
    *,
    seq: int,
    written_at_ns: int,
    span_count: int,
    dictionary_id: int,
    codec: int,
    payload: bytes,
) -> bytes:
    """The bytes of one record, header and payload."""
    payload_crc = zlib.crc32(payload)
    header = bytearray(
        _HEADER.pack(
            RECORD_MAGIC,
            0,
            len(payload),
            payload_crc,
            seq,
            written_at_ns,
            span_count,
            dictionary_id,
            codec,
        )
    )
    header_crc = zlib.crc32(memoryview(header)[_CHECKED_FROM:])
    struct.pack_into("<I", header, 4, header_crc)
    return bytes(header) + payload


def decode_header(data: bytes | memoryview) -> RecordHeader | None:
    """The header in the first HEADER_SIZE bytes of ``data``, or None if it fails its checks."""
    if len(data) < HEADER_SIZE:
        return None
    (
        magic,
        header_crc,
        payload_length,
        payload_crc,
        seq,
        written_at_ns,
        span_count,
        dictionary_id,
        codec,
    ) = _HEADER.unpack_from(data)
    if magic != RECORD_MAGIC:
        return None
    if zlib.crc32(memoryview(data)[_CHECKED_FROM:HEADER_SIZE]) != header_crc:
        return None
    return RecordHeader(
        seq=seq,
        written_at_ns=written_at_ns,
        span_count=span_count,
        dictionary_id=dictionary_id,
        codec=codec,
        payload_length=payload_length,
        payload_crc=payload_crc,
    )


def decode_at(data: bytes | memoryview, offset: int) -> Decoded:
    """Decode the record starting at ``offset``; ``len(data)`` is where the data ends."""
    view = memoryview(data)
    if len(view) - offset < HEADER_SIZE:
        # An incomplete header can only be the start of a write that never finished.
        return Decoded(Status.TORN)
    header = decode_header(view[offset : offset + HEADER_SIZE])
    if header is None:
        return Decoded(Status.CORRUPT_HEADER)
    payload_start = offset + HEADER_SIZE
    payload_end = payload_start + header.payload_length
    if payload_end > len(view):
        return Decoded(Status.TORN, header)
    payload = bytes(view[payload_start:payload_end])
    if zlib.crc32(payload) != header.payload_crc:
        return Decoded(Status.CORRUPT_PAYLOAD, header)
    return Decoded(Status.VALID, header, payload)


def find_next_valid(data: bytes, start: int) -> int | None:
    """The offset of the first fully valid record at or after ``start``, or None.

    Used after a corrupt header, whose length cannot be trusted. A candidate must carry
    the magic and pass both checksums, so garbage is not mistaken for a record (two
    independent CRC-32 matches by chance: about one in 2**64).
    """
    position = data.find(RECORD_MAGIC, start)
    while position != -1:
        if decode_at(data, position).status is Status.VALID:
            return position
        position = data.find(RECORD_MAGIC, position + 1)
    return None
