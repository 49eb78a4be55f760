"""One commit group's requests to Arrow columns, refusing only the requests that are malformed.

The service has already parsed every request with the lean schema, but an attribute
whose own encoding is broken only shows when the group is converted. Then the group is
converted request by request to find the culprits, which are refused
(INVALID_ARGUMENT) while the others are converted together. The same function runs in
the server process (``server.decoders = 0``) and in each decoder process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from store.ingest import convert
from store.ingest.convert import Converted, Incoming, InvalidRequest

# Spans converted together at most. With one Python object per span, chunks of ~4k
# spans were faster than 20k (the working set stayed small); the NumPy walk over raw
# spans has no such knee (bench/ingest.py: 97k against 101k spans/s with 4096 and 20480,
# the latter ~80 MiB more RSS over two decoders), so a default group converts at once.
CONVERT_CHUNK_SPANS = 20480


@dataclass
class Decoded:
    """A group's conversion: the valid requests' spans, and why the others were refused.

    ``converted`` covers the requests not in ``invalid``, in group order (None when no
    request survived); ``invalid`` maps a request's index in the group to the reason.
    """

    converted: Converted | None
    invalid: dict[int, str] = field(default_factory=dict)


def decode_group(incoming: list[Incoming], span_counts: list[int]) -> Decoded:
    """Convert a group; requests whose attributes cannot be decoded are left out."""
    try:
        return Decoded(_convert_in_chunks(incoming, span_counts))
    except InvalidRequest:
        pass
    invalid: dict[int, str] = {}
    for index, item in enumerate(incoming):
        try:
            convert.convert([item])
        except InvalidRequest as err:
            invalid[index] = str(err)
    keep = [i for i in range(len(incoming)) if i not in invalid]
    if not keep:
        return Decoded(None, invalid)
    converted = _convert_in_chunks([incoming[i] for i in keep], [span_counts[i] for i in keep])
    return Decoded(converted, invalid)


def _convert_in_chunks(incoming: list[Incoming], span_counts: list[int]) -> Converted:
    chunks: list[list[Incoming]] = []
    chunk: list[Incoming] = []
    spans = 0
    for item, count in zip(incoming, span_counts, strict=True):
        if chunk and spans + count > CONVERT_CHUNK_SPANS:
            chunks.append(chunk)
            chunk, spans = [], 0
        chunk.append(item)
        spans += count
    chunks.append(chunk)
    return convert.concat([convert.convert(part) for part in chunks])
