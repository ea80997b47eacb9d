"""Test helper: the two-point correlation in one shell, with jackknife errors.

Deliberately simple (scipy KD-tree, analytic randoms in a periodic box); the package's
clustering module is the place for anything fancier.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def shell_counts(positions: np.ndarray, box: float, r_min: float, r_max: float) -> np.ndarray:
    """Per point, the number of other points at r_min <= r < r_max (periodic), shape (n,)."""
    tree = cKDTree(positions, boxsize=box)
    outer = tree.query_ball_point(positions, np.nextafter(r_max, 0), return_length=True)
    inner = tree.query_ball_point(positions, np.nextafter(r_min, 0), return_length=True)
    return outer - inner


def xi_jackknife(
    positions: np.ndarray, box: float, r_min: float, r_max: float, regions: int = 3
) -> np.ndarray:
    """xi in the shell for the whole sample and each delete-one-region jackknife copy.

    Returns shape (1 + regions^3,): entry 0 is the full-sample xi, the rest are the
    jackknife resamplings (pairs whose first point lies outside the deleted cube).
    """
    counts = shell_counts(positions, box, r_min, r_max)
    n = len(positions)
    shell = 4.0 / 3.0 * np.pi * (r_max**3 - r_min**3) / box**3
    cube = np.minimum((positions // (box / regions)).astype(int), regions - 1)
    region = np.ravel_multi_index(cube.T, (regions,) * 3)
    values = [counts.sum() / (n * (n - 1) * shell) - 1.0]
    for deleted in range(regions**3):
        keep = region != deleted
        values.append(counts[keep].sum() / (keep.sum() * (n - 1) * shell) - 1.0)
    return np.array(values)


def difference_significance(first: np.ndarray, second: np.ndarray) -> float:
    """(xi_1 - xi_2) / its jackknife standard error, from two :func:`xi_jackknife` outputs."""
    difference = first - second
    copies = difference[1:]
    k = len(copies)
    error = np.sqrt((k - 1) / k * np.sum((copies - copies.mean()) ** 2))
    return float(difference[0] / error)
