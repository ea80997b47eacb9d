"""The synthetic cases of SMOGN (step 4 of :mod:`galhalo.augment.smogn`): SMOTER
interpolation towards a near neighbour, or Gaussian noise around the seed when the
neighbour is too far, within one bin."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

__all__ = ["EXACT_MEDIAN_MAX_ROWS", "MEDIAN_SAMPLE", "Synthetic", "half_median_distance",
           "synthesize"]

#: Bins up to this many rows get the exact median distance of each seed to its bin.
EXACT_MEDIAN_MAX_ROWS = 2048
#: Larger bins estimate it from this many random rows of the bin (odd: one middle
#: value). The sample median's standard error is about 1.25 / sqrt(MEDIAN_SAMPLE) = 5.5 %
#: of the spread (sd) of the seed's distances to its bin.
MEDIAN_SAMPLE = 511
#: Distances evaluated per chunk when computing median distances (memory bound).
CHUNK_DISTANCES = 1 << 22


def half_median_distance(points: np.ndarray, seeds: np.ndarray,
                          rng: np.random.Generator) -> np.ndarray:
    """Half the median Euclidean distance from each seed row to the rows of its bin.

    Exact (the seed itself included, as in the package) up to
    :data:`EXACT_MEDIAN_MAX_ROWS` rows; beyond, against :data:`MEDIAN_SAMPLE` rows drawn
    without replacement. Computed in chunks; returns shape (len(seeds),).
    """
    rows = len(points)
    others = (points if rows <= EXACT_MEDIAN_MAX_ROWS
              else points[np.sort(rng.choice(rows, min(MEDIAN_SAMPLE, rows), replace=False))])
    # The median of squared distances, then the root (monotone): no square root per pair.
    low, high = (len(others) - 1) // 2, len(others) // 2
    kth = low if low == high else [low, high]
    chunk = max(1, CHUNK_DISTANCES // len(others))
    half = np.empty(len(seeds))
    for start in range(0, len(seeds), chunk):
        squared = cdist(points[seeds[start:start + chunk]], others, "sqeuclidean")
        middle = np.partition(squared, kth, axis=1)
        half[start:start + chunk] = 0.25 * (np.sqrt(middle[:, low]) + np.sqrt(middle[:, high]))
    return half


@dataclass(frozen=True)
class Synthetic:
    """Synthetic rows of one bin and where each came from."""

    rows: np.ndarray        # (count, d)
    seed: np.ndarray        # (count,) bin-local row of the seed
    neighbour: np.ndarray   # (count,) bin-local row of the partner, -1 for a noise case


def synthesize(points: np.ndarray, count: int, k: int, pert: float,
                rng: np.random.Generator) -> Synthetic:
    """``count`` synthetic rows from the rows ``points`` (m, d) of one bin.

    Every row seeds ``count // m`` cases and a random subset one more; ``k``: nearest
    neighbours (within the bin) a case may interpolate towards; ``pert``: noise scale,
    a fraction of each column's sd in the bin. Not clipped to the observed range.
    """
    m, d = points.shape
    per_row, extra = divmod(count, m)
    seeds = np.concatenate([np.repeat(np.arange(m), per_row),
                            np.sort(rng.choice(m, extra, replace=False))])
    used, position = np.unique(seeds, return_inverse=True)
    half = half_median_distance(points, used, rng)
    neighbours = min(k, m - 1)
    slot = rng.integers(max(neighbours, 1), size=count)
    u = rng.random(count)
    noise = rng.standard_normal((count, d))
    partner = np.full(count, -1, dtype=np.int64)
    if neighbours > 0:
        distance, index = cKDTree(points).query(points[used], k=neighbours + 1, workers=-1)
        # Drop the seed itself from its neighbour list (or the farthest if duplicates hid it).
        self_hit = index == used[:, None]
        self_hit[~self_hit.any(axis=1), -1] = True
        keep = np.argsort(self_hit, axis=1, kind="stable")[:, :neighbours]
        distance = np.take_along_axis(distance, keep, axis=1)
        index = np.take_along_axis(index, keep, axis=1)
        chosen = index[position, slot]
        safe = distance[position, slot] < half[position]
        partner[safe] = chosen[safe]
    safe = partner >= 0
    origin = points[seeds]
    rows = origin + noise * (points.std(axis=0) * np.minimum(pert, half[position])[:, None])
    rows[safe] = origin[safe] + u[safe, None] * (points[partner[safe]] - origin[safe])
    return Synthetic(rows, seeds, partner)
