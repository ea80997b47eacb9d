"""Argument checks shared by every clustering estimator, in one place.

Each estimator (:func:`~.two_point.xi`, :func:`~.two_point.wp`,
:func:`~.two_point.multipoles`) hands all its arguments to :func:`check_arguments`
(the role of halotools' ``_tpcf_process_args``); the single checks are public so that
catalog-level code (``galhalo.evaluate``) can validate settings before any pair count.
Every failure is a :class:`~galhalo.errors.ClusteringError` with a one-line message
naming the argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ClusteringError

#: Axis names and their column index.
AXES = {"x": 0, "y": 1, "z": 2}

__all__ = [
    "AXES",
    "Arguments",
    "check_arguments",
    "check_count",
    "check_edges",
    "check_jackknife",
    "check_positions",
    "line_of_sight_order",
]


def check_positions(positions: Any, box_size: float, name: str = "positions") -> np.ndarray:
    """``positions`` as a C-contiguous float64 array (n, 3), checked to lie in [0, box).

    Raises:
        ClusteringError: wrong shape, no rows, NaN/inf, or points outside the box (how
            many, and the range found), or a box size that is not finite and > 0.
    """
    if box_size is None or not (math.isfinite(box_size) and box_size > 0):
        raise ClusteringError(f"box size must be finite and > 0 (Mpc/h), got {box_size}")
    array = np.ascontiguousarray(np.asarray(positions, dtype=np.float64))
    if array.ndim != 2 or array.shape[1] != 3:
        raise ClusteringError(f"{name} must have shape (n, 3), got {array.shape}")
    if len(array) == 0:
        raise ClusteringError(f"{name}: no points")
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        raise ClusteringError(f"{name}: {int((~finite).sum())} of {len(array)} points have "
                              "NaN or inf coordinates")
    outside = ((array < 0) | (array >= box_size)).any(axis=1)
    if outside.any():
        raise ClusteringError(
            f"{name}: {int(outside.sum())} of {len(array)} points are outside the box "
            f"[0, {box_size:g}) Mpc/h (coordinates from {array.min():.6g} to "
            f"{array.max():.6g}); wrong units (kpc/h?) or wrong box size?")
    return array


def check_edges(edges: Any, name: str = "edges") -> np.ndarray:
    """Separation bin edges as float64 (bins + 1,): finite, strictly increasing, > 0."""
    array = np.asarray(edges, dtype=np.float64)
    if array.ndim != 1 or len(array) < 2:
        raise ClusteringError(f"{name} must be a 1-D array of at least 2 bin edges, "
                              f"got shape {array.shape}")
    if not np.isfinite(array).all() or array[0] <= 0 or np.any(np.diff(array) <= 0):
        raise ClusteringError(f"{name} must be finite, strictly increasing and > 0 (pairs at "
                              f"zero separation are self-pairs), got {array.tolist()}")
    return array


def _is_integer(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | np.integer)


def check_jackknife(box_size: float, reach: float, jackknife: int, nthreads: int) -> float:
    """Validate the jackknife and thread settings for scales up to ``reach`` (Mpc/h);
    return the jackknife cube side ``box_size / jackknife`` (Mpc/h)."""
    if not _is_integer(jackknife) or jackknife < 2:
        raise ClusteringError(f"jackknife must be an integer >= 2 (cubes per box side), "
                              f"got {jackknife!r}")
    if not _is_integer(nthreads) or nthreads < 1:
        raise ClusteringError(f"nthreads must be a positive integer, got {nthreads!r}")
    side = box_size / jackknife
    if reach >= box_size / 2:
        raise ClusteringError(f"largest separation {reach:g} Mpc/h must be below half the box "
                              f"({box_size / 2:g} Mpc/h)")
    if reach > side:
        raise ClusteringError(
            f"jackknife cubes of side {side:g} Mpc/h (box {box_size:g} / {jackknife}) are "
            f"smaller than the largest separation {reach:g} Mpc/h: use fewer cubes per side "
            f"(jackknife <= {int(box_size // reach)}) or smaller scales")
    return side


def check_count(n: int, min_points: int, name: str) -> None:
    """Refuse a population of ``n`` points below ``min_points`` (named ``name``)."""
    if n < min_points:
        raise ClusteringError(f"{name} has {n} points, fewer than the minimum {min_points} "
                              "for a clustering measurement")


def line_of_sight_order(los: str) -> list[int]:
    """Column order putting the ``los`` axis (``"x"``, ``"y"``, ``"z"``) last: Corrfunc's
    line of sight is z."""
    if los not in AXES:
        raise ClusteringError(f"unknown line-of-sight axis {los!r}; use one of x, y, z")
    axis = AXES[los]
    return [i for i in range(3) if i != axis] + [axis]


@dataclass(frozen=True)
class Arguments:
    """An estimator's checked arguments.

    Attributes:
        first: (n, 3) float64 positions, Mpc/h; second: (m, 3) or None (auto-correlation).
        edges: (bins + 1,) separation edges, Mpc/h.
        counts: (n,) or (n, m), the population sizes.
        order: column order with the line of sight last (None without ``los``).
    """

    first: np.ndarray
    second: np.ndarray | None
    edges: np.ndarray
    counts: tuple[int, ...]
    order: list[int] | None


def check_arguments(positions: Any, box_size: float, *, others: Any, edges: Any,
                    jackknife: int, nthreads: int, min_points: int, los: str | None = None,
                    pi_max: float | None = None, ells: Any = None,
                    mu_bins: int | None = None) -> Arguments:
    """Every argument of a two-point estimator, checked once, in one place.

    ``pi_max`` (wp), ``ells`` and ``mu_bins`` (multipoles) and ``los`` are checked when
    given. The largest scale (last edge, or ``pi_max`` if larger) must fit in a
    jackknife cube and below half the box.

    Raises:
        ClusteringError: naming the first bad argument.
    """
    if pi_max is not None and not (math.isfinite(pi_max) and pi_max >= 1
                                   and float(pi_max).is_integer()):
        raise ClusteringError(f"pi_max must be a whole number of Mpc/h >= 1 (Corrfunc bins "
                              f"pi in 1 Mpc/h steps), got {pi_max}")
    if ells is not None and (not ells or any(ell < 0 or ell % 2 for ell in ells)):
        raise ClusteringError(f"ells must be non-negative even integers, got {tuple(ells)}")
    if mu_bins is not None and (not _is_integer(mu_bins) or mu_bins < 1):
        raise ClusteringError(f"mu_bins must be a positive integer, got {mu_bins!r}")
    order = None if los is None else line_of_sight_order(los)
    first = check_positions(positions, box_size)
    second = None if others is None else check_positions(others, box_size, "others")
    edges = check_edges(edges)
    reach = max(float(edges[-1]), float(pi_max or 0.0))
    check_jackknife(box_size, reach, jackknife, nthreads)
    check_count(len(first), min_points, "population")
    if second is not None:
        check_count(len(second), min_points, "second population")
    counts = (len(first),) if second is None else (len(first), len(second))
    return Arguments(first, second, edges, counts, order)
