"""Settings of the durable buffer, resolved once by the caller and passed in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import zstandard

from parallax.errors import ConfigError

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

FsyncPolicy = Literal["always", "interval"]

# Below this a segment holds only a handful of records and the per-file cost dominates;
# tests use small segments, so the floor is low.
MIN_SEGMENT_BYTES = 4 * KiB
# zstd's trainer refuses dictionaries much smaller than this.
MIN_DICTIONARY_BYTES = 1 * KiB


@dataclass(frozen=True)
class BufferSettings:
    """How the buffer stores batches; see the contract in :mod:`collector.buffer`."""

    directory: Path
    # A segment is sealed and a new one started once it would grow past this size.
    max_segment_bytes: int = 8 * MiB
    # Segments plus dictionaries never exceed this; the oldest segments are dropped whole.
    max_total_bytes: int = 1 * GiB
    # "always": fsync before append() returns (nothing acknowledged can be lost).
    # "interval": fsync every fsync_interval_ms; that interval is the window of possible loss.
    fsync_policy: FsyncPolicy = "always"
    fsync_interval_ms: int = 1000
    zstd_level: int = 3
    # Train a zstd dictionary from the node's own early traffic and use it from then on.
    dictionary: bool = True
    dictionary_size: int = 16 * KiB
    # Train once this many small batches were seen (or 100x dictionary_size bytes of them).
    dictionary_train_samples: int = 256

    def __post_init__(self) -> None:
        # Accept a str for convenience, but keep the field a Path for everything downstream.
        object.__setattr__(self, "directory", Path(self.directory))
        problems = []
        if self.max_segment_bytes < MIN_SEGMENT_BYTES:
            problems.append(f"max_segment_bytes must be at least {MIN_SEGMENT_BYTES}")
        if self.max_segment_bytes >= 4 * GiB:
            problems.append("max_segment_bytes must be below 4 GiB")  # offsets are 32-bit
        if self.max_total_bytes < 2 * self.max_segment_bytes:
            # Room for the active segment plus one sealed segment to drop when full.
            problems.append("max_total_bytes must be at least twice max_segment_bytes")
        if self.fsync_policy not in ("always", "interval"):
            problems.append("fsync_policy must be 'always' or 'interval'")
        if self.fsync_interval_ms <= 0:
            problems.append("fsync_interval_ms must be greater than 0")
        if not -7 <= self.zstd_level <= zstandard.MAX_COMPRESSION_LEVEL:
            problems.append(f"zstd_level must be between -7 and {zstandard.MAX_COMPRESSION_LEVEL}")
        if self.dictionary_size < MIN_DICTIONARY_BYTES:
            problems.append(f"dictionary_size must be at least {MIN_DICTIONARY_BYTES}")
        if self.dictionary_train_samples < 8:
            problems.append("dictionary_train_samples must be at least 8")
        if problems:
            raise ConfigError("buffer settings: " + "; ".join(problems))

    @property
    def fsync_interval_s(self) -> float:
        return self.fsync_interval_ms / 1000
