"""The balance plan of SMOGN (steps 2 and 3 of :mod:`galhalo.augment.smogn`): the bins
of consecutive rare or common rows, and how many rows each bin should end with."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["MODES", "bin_targets", "rarity_bins"]

#: Sampling strategies of the reference package.
MODES = ("balance", "extreme")


def rarity_bins(rare: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows by increasing y, and the start of each run of equal rarity in that order.

    Returns ``order`` (n,) and ``starts`` (bins,); bin i is ``order[starts[i]:starts[i+1]]``.
    """
    order = np.argsort(y, kind="stable")
    flags = rare[order]
    starts = np.flatnonzero(np.r_[True, flags[1:] != flags[:-1]])
    return order, starts


def bin_targets(sizes: np.ndarray, mode: str) -> np.ndarray:
    """Rows each bin should end with (before the ``undersample=False`` exception)."""
    n, count = int(sizes.sum()), len(sizes)
    share = round(n / count)
    if mode == "balance":
        return np.full(count, share, dtype=np.int64)
    # "extreme", the package's (and UBL's) rounding: objective to 2 decimals, ratio to 1.
    weights = [share * share / size for size in sizes.tolist()]
    scale = count * share / sum(weights)
    ratios = [round(round(w * scale, 2) / size, 1) for w, size in zip(weights, sizes.tolist(),
                                                                       strict=True)]
    return np.array([math.floor(r * size + 1e-9) for r, size in zip(ratios, sizes.tolist(),
                                                                       strict=True)],
                    dtype=np.int64)
