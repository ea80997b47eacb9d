"""Delete-one jackknife in a periodic box with analytic randoms.

The box is cut into ``n^3`` cubes of side ``a = L / n``. Copy k removes every pair with
a point in cube k: ``DD_-k = DD - DD(k, all) - DD(all, k) + DD(k, k)``, counted with one
Corrfunc call of cube k against the points within reach of it. The remaining volume C
(the box minus one cube) is not periodic any more, so its random pairs are
``RR_-k = N' (N' - 1) [V V_cell - 2 a^3 V_cell + K(cell)] / |C|^2``, where ``K(cell)``
is the integral over the cell of the overlap volume of the cube with itself shifted by
the separation vector (:meth:`.pairs.Geometry.overlaps`). This needs every separation
component below ``a``: the cubes must be at least as large as the largest scale
measured. Errors and covariance are the usual
``C = (n_copies - 1) / n_copies * sum_k (x_k - mean)(x_k - mean)^T``.

Units: positions in Mpc/h (comoving).
"""

from __future__ import annotations

import numpy as np

from .pairs import Geometry, pair_counts

__all__ = ["canonical_copies", "correlate", "jackknife_covariance", "jackknife_regions"]


def jackknife_covariance(copies: np.ndarray) -> np.ndarray:
    """``(n - 1) / n * sum_k (x_k - mean)(x_k - mean)^T`` of ``copies`` (n, bins):
    shape (bins, bins)."""
    copies = np.asarray(copies, dtype=float)
    n = len(copies)
    deviation = copies - copies.mean(axis=0)
    return (n - 1) / n * deviation.T @ deviation


def jackknife_regions(positions: np.ndarray, box_size: float, n_side: int) -> np.ndarray:
    """Jackknife cube of every point: integer array (n,) in [0, n_side^3), cubes numbered
    in x, y, z order."""
    cube = np.minimum((positions // (box_size / n_side)).astype(np.int64), n_side - 1)
    return np.ravel_multi_index(tuple(cube.T), (n_side,) * 3)


def _near_cube(positions: np.ndarray, cube: tuple[int, int, int], side: float, box: float,
               reach: float) -> np.ndarray:
    """Boolean mask of points within ``reach`` (per axis, periodic) of a jackknife cube."""
    keep = np.ones(len(positions), dtype=bool)
    if side + 2 * reach >= box:
        return keep
    for axis, index in enumerate(cube):
        offset = np.mod(positions[:, axis] - index * side, box)
        keep &= (offset < side + reach) | (offset > box - reach)
    return keep


def correlate(geometry: Geometry, first: np.ndarray, second: np.ndarray | None,
              box: float, n_side: int, nthreads: int) -> tuple[np.ndarray, np.ndarray]:
    """xi per cell on the full sample (cells,) and on each delete-one jackknife copy
    (n_side^3, cells), natural estimator with analytic randoms.

    ``first`` (n, 3) and ``second`` (m, 3, or None for the auto-correlation) are
    checked positions in [0, box) Mpc/h; the cube side ``box / n_side`` must exceed the
    geometry's reach (:func:`~._checks.check_jackknife`).
    """
    side = box / n_side
    volume = box**3
    cell_volume = geometry.volumes()
    overlap = geometry.overlaps(side)
    remaining = volume - side**3
    remaining_pairs = (volume * cell_volume - 2.0 * side**3 * cell_volume + overlap)
    remaining_pairs /= remaining**2  # probability per pair of the cell, in the box minus a cube

    region1 = jackknife_regions(first, box, n_side)
    other = first if second is None else second
    region2 = region1 if second is None else jackknife_regions(second, box, n_side)
    n1, n2 = len(first), len(other)
    total = pair_counts(geometry, first, second, box, nthreads)
    if second is None:
        full = total / (n1 * (n1 - 1) * cell_volume / volume) - 1.0
    else:
        full = total / (n1 * n2 * cell_volume / volume) - 1.0

    copies = np.empty((n_side**3, len(cell_volume)))
    for k, cube in enumerate(np.ndindex(n_side, n_side, n_side)):
        in1, in2 = region1 == k, region2 == k
        inside1, inside2 = first[in1], other[in2]
        near2 = other[_near_cube(other, cube, side, box, geometry.reach)]
        with_cube = pair_counts(geometry, inside1, near2, box, nthreads)
        if second is None:
            within = pair_counts(geometry, inside1, None, box, nthreads)
            pairs = total - 2.0 * with_cube + within
            kept = n1 - len(inside1)
            expected = kept * (kept - 1) * remaining_pairs
        else:
            near1 = first[_near_cube(first, cube, side, box, geometry.reach)]
            cube_second = pair_counts(geometry, near1, inside2, box, nthreads)
            within = pair_counts(geometry, inside1, inside2, box, nthreads)
            pairs = total - with_cube - cube_second + within
            expected = (n1 - len(inside1)) * (n2 - len(inside2)) * remaining_pairs
        with np.errstate(divide="ignore", invalid="ignore"):
            copies[k] = pairs / expected - 1.0
    return full, copies


def canonical_copies(copies: np.ndarray, order: list[int], n_side: int) -> np.ndarray:
    """Reorder jackknife copies (n_side^3, cells) measured on axis-permuted positions
    (columns in ``order``) so that copy k deletes the same cube as on the unpermuted
    positions (cubes numbered in x, y, z order)."""
    cubes = np.array(list(np.ndindex(n_side, n_side, n_side)))
    original = np.empty_like(cubes)
    original[:, order] = cubes
    out = np.empty_like(copies)
    out[np.ravel_multi_index(tuple(original.T), (n_side,) * 3)] = copies
    return out
