"""Hashing: every random value is a pure function of (seed, salt, key); ids as hex."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

# --- Hashing: every random value is a pure function of (seed, salt, key) ---------------

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MASK = (1 << 64) - 1


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a bijection of uint64 (distinct keys, distinct hashes)."""
    z = x + _GOLDEN
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


class _Hasher:
    """Keyed hashes and uniforms for one seed; salts keep the streams independent."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def key(self, salt: int) -> np.uint64:
        scalar = np.array([(self.seed * 0x100000001B3 + salt * 0x9E3779B1) & _MASK], np.uint64)
        return _mix(scalar)[0]

    def hash(self, keys: np.ndarray, salt: int) -> np.ndarray:
        return _mix(keys.astype(np.uint64) ^ self.key(salt))

    def uniform(self, keys: np.ndarray, salt: int) -> np.ndarray:
        """Floats in [0, 1)."""
        return (self.hash(keys, salt) >> np.uint64(11)).astype(np.float64) * 2.0**-53

    def normal(self, keys: np.ndarray, salt: int) -> np.ndarray:
        u1 = 1.0 - self.uniform(keys, salt)
        u2 = self.uniform(keys, salt + 1000)
        return np.sqrt(-2.0 * np.log(u1)) * np.cos(2 * np.pi * u2)


# Salts (any distinct numbers).
(S_FEATURE, S_REPLICATED, S_K, S_REPEAT, S_PERM, S_NODE, S_NODE_REP, S_OFFSET, S_FLIP,
 S_TRUTH, S_SCORE, S_JITTER, S_MINOR, S_SIGN, S_DURATION, S_COLD, S_COLD_MS, S_ERROR,
 S_LAG, S_LATE, S_DELAY, S_TRACE_HI, S_TRACE_LO, S_SPAN, S_FP_HI, S_FP_LO, S_CONF,
 S_TIME, S_REANSWER, S_ARRIVAL, S_TIER, S_SLOT, S_REGION, S_ENV, S_WEIGHT,
 S_BUFFER, S_HEARTBEAT, S_NOISY, S_CLOCK, S_RTT, S_PENDING) = range(1, 42)  # fmt: skip


_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)


def _hex(words: list[np.ndarray]) -> pa.Array:
    """Lowercase hex of 64-bit words side by side (fixed width, no Python loop)."""
    n = len(words[0])
    raw = np.stack([w.astype(">u8") for w in words], axis=1).view(np.uint8).reshape(n, -1)
    chars = np.empty((n, raw.shape[1] * 2), np.uint8)
    chars[:, 0::2] = _HEX[raw >> 4]
    chars[:, 1::2] = _HEX[raw & 15]
    offsets = np.arange(n + 1, dtype=np.int32) * chars.shape[1]
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars))
