"""Record decoding tells a torn record from a corrupt one."""

from __future__ import annotations

from collector.buffer.record import (
    HEADER_SIZE,
    Status,
    decode_at,
    encode_record,
    find_next_valid,
)


def record(seq: int, payload: bytes = b"payload bytes") -> bytes:
    return encode_record(
        seq=seq, written_at_ns=1, span_count=3, dictionary_id=0, codec=1, payload=payload
    )


def test_a_record_decodes_to_what_was_encoded():
    decoded = decode_at(record(7), 0)

    assert decoded.status is Status.VALID
    assert decoded.header is not None
    assert (decoded.header.seq, decoded.header.span_count, decoded.payload) == (
        7,
        3,
        b"payload bytes",
    )


def test_data_ending_inside_a_record_is_torn():
    data = record(1)

    assert decode_at(data[: HEADER_SIZE - 1], 0).status is Status.TORN
    assert decode_at(data[:-1], 0).status is Status.TORN


def test_a_flipped_payload_byte_is_a_checksum_failure_with_a_usable_header():
    data = bytearray(record(1))
    data[-1] ^= 1

    decoded = decode_at(bytes(data), 0)

    assert decoded.status is Status.CORRUPT_PAYLOAD
    assert decoded.header is not None and decoded.header.record_size == len(data)


def test_a_flipped_header_byte_makes_the_length_untrusted_and_resync_finds_the_next():
    data = bytearray(record(1) + record(2))
    data[10] ^= 1  # inside the length field

    assert decode_at(bytes(data), 0).status is Status.CORRUPT_HEADER
    assert find_next_valid(bytes(data), 1) == len(record(1))
