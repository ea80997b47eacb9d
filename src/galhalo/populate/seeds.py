"""Seeds of a populate run: one independent stream per part and per batch."""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["batch_seed"]


def batch_seed(seed: int, part: str, batch: int | None = None) -> int:
    """The 63-bit seed of batch ``batch`` of part ``part`` (or of the part itself).

    ``numpy.random.SeedSequence(seed, spawn_key=(*w, batch))`` where ``w`` are four
    32-bit words of the SHA-256 of the part's name: independent streams for every part
    and batch, fixed by the run seed and the name alone.
    """
    words = np.frombuffer(hashlib.sha256(part.encode()).digest()[:16], dtype="<u4")
    key = tuple(int(word) for word in words) + (() if batch is None else (int(batch),))
    state = np.random.SeedSequence(int(seed), spawn_key=key).generate_state(2, np.uint32)
    return (int(state[0]) << 31) | (int(state[1]) >> 1)
