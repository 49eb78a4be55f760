"""zstd compression of batches, with dictionaries trained from the node's own traffic.

Small OTLP batches repeat the same attribute keys, resource and scope in every request,
but each one alone is too short for zstd to learn that. A dictionary trained from early
traffic supplies the context. Dictionaries live in ``<buffer>/dictionaries/`` as
``00001.zdict`` ...; each carries a checksum, an id (1..65535, also written into the
zstd frame) and never changes once written. Every record names the dictionary that
compressed it (0 = none), so records stay readable after a newer dictionary is trained.
A dictionary is deleted only when no remaining segment uses it and it is not the latest.
"""

from __future__ import annotations

import collections
import logging
import struct
import threading
import zlib
from pathlib import Path

import zstandard

from collector.buffer.errors import CorruptRecordError
from collector.buffer.files import atomic_write, move_to_quarantine, remove_temporary_files
from collector.buffer.record import CODEC_STORED, CODEC_ZSTD, MAX_DICTIONARY_ID

DICTIONARY_DIRECTORY = "dictionaries"
DICTIONARY_SUFFIX = ".zdict"
_DICTIONARY_MAGIC = b"PXDC"
_DICTIONARY_VERSION = 1
# magic, version, dictionary id, dictionary length, CRC-32 of the dictionary
_DICTIONARY_HEADER = struct.Struct("<4sHHII")
# Dictionaries pay off on small batches; large ones carry enough context themselves,
# so only small payloads are kept as training samples.
SAMPLE_MAX_BYTES = 64 * 1024
# zstd's guidance: train on roughly a hundred times the dictionary size.
SAMPLE_BYTES_PER_DICTIONARY_BYTE = 100

logger = logging.getLogger(__name__)


class DictionaryStore:
    """The dictionaries on disk, loaded in memory; shared by the writer and the reader."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._dictionaries: dict[int, bytes] = {}
        self._file_bytes: dict[int, int] = {}

    def load(self, quarantine_directory: Path) -> list[Path]:
        """Read every dictionary file; returns the files moved to quarantine."""
        self.directory.mkdir(exist_ok=True)
        remove_temporary_files(self.directory, "*" + DICTIONARY_SUFFIX)
        quarantined = []
        for path in sorted(self.directory.glob("*" + DICTIONARY_SUFFIX)):
            try:
                dictionary_id, data = _decode_dictionary_file(path)
            except (OSError, ValueError) as err:
                quarantined.append(move_to_quarantine(path, quarantine_directory))
                logger.error(
                    "buffer dictionary %s is unreadable (%s); moved to quarantine, "
                    "records compressed with it will be counted as corrupt",
                    path,
                    err,
                )
                continue
            with self._lock:
                self._dictionaries[dictionary_id] = data
                self._file_bytes[dictionary_id] = path.stat().st_size
        return quarantined

    @property
    def latest_id(self) -> int:
        with self._lock:
            return max(self._dictionaries, default=0)

    def get(self, dictionary_id: int) -> bytes | None:
        with self._lock:
            return self._dictionaries.get(dictionary_id)

    def ids(self) -> list[int]:
        with self._lock:
            return sorted(self._dictionaries)

    def disk_bytes(self) -> int:
        with self._lock:
            return sum(self._file_bytes.values())

    def next_id(self) -> int:
        next_id = self.latest_id + 1
        if next_id > MAX_DICTIONARY_ID:
            raise ValueError("dictionary ids exhausted")
        return next_id

    def add(self, dictionary_id: int, data: bytes) -> None:
        """Store a new dictionary durably before any record may name it."""
        encoded = (
            _DICTIONARY_HEADER.pack(
                _DICTIONARY_MAGIC, _DICTIONARY_VERSION, dictionary_id, len(data), zlib.crc32(data)
            )
            + data
        )
        atomic_write(self._path(dictionary_id), encoded)
        with self._lock:
            self._dictionaries[dictionary_id] = data
            self._file_bytes[dictionary_id] = len(encoded)

    def remove(self, dictionary_id: int) -> None:
        with self._lock:
            self._dictionaries.pop(dictionary_id, None)
            self._file_bytes.pop(dictionary_id, None)
        self._path(dictionary_id).unlink(missing_ok=True)

    def _path(self, dictionary_id: int) -> Path:
        return self.directory / f"{dictionary_id:05d}{DICTIONARY_SUFFIX}"


def _decode_dictionary_file(path: Path) -> tuple[int, bytes]:
    raw = path.read_bytes()
    if len(raw) < _DICTIONARY_HEADER.size:
        raise ValueError("shorter than its header")
    magic, version, dictionary_id, length, crc = _DICTIONARY_HEADER.unpack_from(raw)
    data = raw[_DICTIONARY_HEADER.size :]
    if magic != _DICTIONARY_MAGIC or version != _DICTIONARY_VERSION:
        raise ValueError("not a buffer dictionary file")
    if length != len(data) or zlib.crc32(data) != crc:
        raise ValueError("checksum mismatch")
    if path.name != f"{dictionary_id:05d}{DICTIONARY_SUFFIX}":
        raise ValueError(f"file name does not match dictionary id {dictionary_id}")
    return dictionary_id, data


class Compressor:
    """The writer's side: compresses payloads, collects samples, trains dictionaries.

    Not thread-safe: owned by the single writer.
    """

    def __init__(
        self,
        store: DictionaryStore,
        *,
        level: int,
        use_dictionary: bool,
        dictionary_size: int,
        train_after_samples: int,
    ) -> None:
        self._store = store
        self._level = level
        self._use_dictionary = use_dictionary
        self._dictionary_size = dictionary_size
        self._train_after_samples = train_after_samples
        self._sample_budget = SAMPLE_BYTES_PER_DICTIONARY_BYTE * dictionary_size
        self._samples: collections.deque[bytes] = collections.deque()
        self._sample_bytes = 0
        self._samples_since_training = 0
        self._sample_bytes_since_training = 0
        self._plain = zstandard.ZstdCompressor(level=level)
        self._dictionary_id = 0
        self._with_dictionary: zstandard.ZstdCompressor | None = None
        if use_dictionary and store.latest_id:
            self._switch_to(store.latest_id)

    @property
    def dictionary_id(self) -> int:
        """The dictionary new records are compressed with, 0 for none."""
        return self._dictionary_id

    def compress(self, payload: bytes) -> tuple[int, int, bytes]:
        """Returns (codec, dictionary id, stored bytes) for one payload."""
        if self._use_dictionary:
            self._keep_sample(payload)
            if self._dictionary_id == 0 and self._enough_samples():
                self.train()
        if self._with_dictionary is not None:
            codec, dictionary_id = CODEC_ZSTD, self._dictionary_id
            compressed = self._with_dictionary.compress(payload)
        else:
            codec, dictionary_id = CODEC_ZSTD, 0
            compressed = self._plain.compress(payload)
        if len(compressed) >= len(payload):
            # Incompressible (already compressed, random): store it as it is.
            return CODEC_STORED, 0, payload
        return codec, dictionary_id, compressed

    def train(self) -> int | None:
        """Train a new dictionary from recent small payloads; returns its id, or None.

        Failure (too few or too uniform samples) is logged, not raised: the buffer works
        without a dictionary and tries again after as many samples again.
        """
        self._samples_since_training = 0
        self._sample_bytes_since_training = 0
        samples = list(self._samples)
        try:
            dictionary_id = self._store.next_id()
            trained = zstandard.train_dictionary(
                self._dictionary_size, samples, dict_id=dictionary_id, level=self._level
            )
        except (zstandard.ZstdError, ValueError) as err:
            logger.warning("buffer dictionary training on %d samples failed: %s", len(samples), err)
            return None
        self._store.add(dictionary_id, trained.as_bytes())
        self._switch_to(dictionary_id)
        logger.info(
            "buffer trained zstd dictionary %d (%d bytes) from %d samples",
            dictionary_id,
            len(trained.as_bytes()),
            len(samples),
        )
        return dictionary_id

    def _switch_to(self, dictionary_id: int) -> None:
        data = self._store.get(dictionary_id)
        if data is None:
            return
        dictionary = zstandard.ZstdCompressionDict(data, dict_type=zstandard.DICT_TYPE_FULLDICT)
        self._with_dictionary = zstandard.ZstdCompressor(level=self._level, dict_data=dictionary)
        self._dictionary_id = dictionary_id

    def _keep_sample(self, payload: bytes) -> None:
        if len(payload) > SAMPLE_MAX_BYTES:
            return
        self._samples.append(payload)
        self._sample_bytes += len(payload)
        self._samples_since_training += 1
        self._sample_bytes_since_training += len(payload)
        while self._sample_bytes > self._sample_budget:
            self._sample_bytes -= len(self._samples.popleft())

    def _enough_samples(self) -> bool:
        return (
            self._samples_since_training >= self._train_after_samples
            or self._sample_bytes_since_training >= self._sample_budget
        )


class Decompressor:
    """The reader's side: turns stored bytes back into the payload.

    Not thread-safe: owned by one reader. Raises :class:`CorruptRecordError` when the
    data cannot be decompressed or its dictionary is missing.
    """

    def __init__(self, store: DictionaryStore) -> None:
        self._store = store
        self._decompressors: dict[int, zstandard.ZstdDecompressor] = {}

    def decompress(self, codec: int, dictionary_id: int, data: bytes) -> bytes:
        if codec == CODEC_STORED:
            return data
        if codec != CODEC_ZSTD:
            raise CorruptRecordError(f"unknown codec {codec}")
        try:
            return self._decompressor(dictionary_id).decompress(data)
        except zstandard.ZstdError as err:
            raise CorruptRecordError(f"zstd: {err}") from err

    def _decompressor(self, dictionary_id: int) -> zstandard.ZstdDecompressor:
        decompressor = self._decompressors.get(dictionary_id)
        if decompressor is None:
            if dictionary_id == 0:
                decompressor = zstandard.ZstdDecompressor()
            else:
                data = self._store.get(dictionary_id)
                if data is None:
                    raise CorruptRecordError(f"zstd dictionary {dictionary_id} is missing")
                dictionary = zstandard.ZstdCompressionDict(
                    data, dict_type=zstandard.DICT_TYPE_FULLDICT
                )
                decompressor = zstandard.ZstdDecompressor(dict_data=dictionary)
            self._decompressors[dictionary_id] = decompressor
        return decompressor
