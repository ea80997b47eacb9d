"""Build a HiVAl hierarchy: checks of the input, the merge loop over levels, and the
per-level statistics (occupancy, dispersion, oracle PCC)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...errors import HiValError
from .exact import exact_geometry
from .geometry import Geometry, default_directions, default_neighbours, raycast_geometry
from .hierarchy import Hierarchy, _check_matrix
from .merging import merge, pair_cells

MAX_DIMENSIONS = 8
METHODS = ("raycast", "exact")
#: Oracle PCC rules: "paper" (Rodrigues et al. 2023: a random member of the class plus
#: Gaussian noise of the class dispersion) and "member" (a random member alone).
ORACLES = ("paper", "member")


def _distinct_rows(unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows in order of first appearance, label of every row)."""
    _, first, inverse = np.unique(unit, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return unit[first[order]], rank[inverse.ravel()]


def level_statistics(x: np.ndarray, labels: np.ndarray, n_classes: int,
                     rng: np.random.Generator, oracle: str = "paper"
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(occupancy (K,), dispersion (K, D), oracle PCC (D,)) of one level's ``labels``;
    ``x`` (N, D) physical, dispersion in the same units (population standard deviation
    of the members, 0 for a singleton); the oracle PCC by :func:`oracle_pcc`."""
    occupancy = np.bincount(labels, minlength=n_classes)
    mean = np.stack([np.bincount(labels, weights=c, minlength=n_classes) for c in x.T], 1)
    mean /= occupancy[:, None]
    centred = x - mean[labels]
    variance = np.stack([np.bincount(labels, weights=c * c, minlength=n_classes)
                         for c in centred.T], 1) / occupancy[:, None]
    dispersion = np.sqrt(variance)
    return occupancy, dispersion, oracle_pcc(x, labels, occupancy, dispersion, rng, oracle)


def oracle_pcc(x: np.ndarray, labels: np.ndarray, occupancy: np.ndarray,
               dispersion: np.ndarray, rng: np.random.Generator, oracle: str = "paper"
               ) -> np.ndarray:
    """Pearson correlation (D,) between each point of ``x`` (N, D) and an oracle draw.

    The oracle is a perfect classifier followed by in-class sampling: every point is
    replaced by a uniformly drawn member of its own class (itself included), plus, with
    ``oracle="paper"`` (Rodrigues et al. 2023, the default), Gaussian noise of its
    class's ``dispersion`` (K, D) per column. Expectations with B and W the between- and
    within-class variance of a column: "member" B / (B + W); "paper"
    B / sqrt((B + W)(B + 2W)), always lower, so a PCC threshold picks a finer level.
    """
    if oracle not in ORACLES:
        raise HiValError(f"unknown oracle PCC rule {oracle!r}; known: {', '.join(ORACLES)}")
    order = np.argsort(labels, kind="stable")
    start = np.concatenate([[0], np.cumsum(occupancy)[:-1]])
    pick = order[start[labels] + (rng.random(len(labels)) * occupancy[labels]).astype(int)]
    drawn = x[pick]
    if oracle == "paper":
        drawn = drawn + rng.normal(size=x.shape) * dispersion[labels]
    with np.errstate(divide="ignore", invalid="ignore"):
        pcc = np.array([np.corrcoef(a, b)[0, 1] for a, b in zip(x.T, drawn.T, strict=True)])
    return np.nan_to_num(pcc)


def hival(points: Any, names: Sequence[str] | None = None, *, candidates: int = 3,
          neighbours: int | None = None, directions: int | None = None,
          method: str = "raycast",
          oracle: str = "paper", seed: int = 0,
          progress: Callable[[str], None] | None = None) -> Hierarchy:
    """Build the full HiVAl hierarchy of ``points``.

    Args:
        points: (N, D) array in physical units, 1 <= D <= 8, finite; a DataFrame works
            with ``names`` selecting its columns.
        names: the D column names (default ``x0, x1, ...``).
        candidates: a cell chooses its partner among this many nearest generators that
            share a face with it (3 as published).
        neighbours: bisectors tested before the k-d tree certification (speed only);
            None: 16 (D - 1), at least 16 (``default_neighbours``).
        directions: rays per cell and per face (the only approximation of "raycast");
            None: 64 in 1-2 dimensions, 128 from 3-D on (``default_directions``).
        method: "raycast" (fast, any D) or "exact" (Qhull reference, D <= 5, small N).
        oracle: the oracle PCC rule, "paper" (member plus noise of the class dispersion,
            Rodrigues et al. 2023) or "member" (a random member alone; the rule before
            2026-12): :func:`oracle_pcc`.
        seed: seeds the oracle PCC draws (the hierarchy itself is deterministic).
        progress: called with a one-line message after every level.

    Returns:
        The :class:`Hierarchy`. Duplicated points share one class from level 0 on
        (recorded in ``settings["duplicates"]``).

    Raises:
        HiValError: NaN/inf, wrong shape, more than 8 columns, a constant column, fewer
            than D + 1 distinct points, unknown method or oracle rule, a missing
            column of a DataFrame, a non-numeric value.
    """
    if hasattr(points, "columns"):
        names = tuple(points.columns if names is None else names)
        missing = [name for name in names if name not in points.columns]
        if missing:
            raise HiValError(f"columns {missing} are not in the table; it has "
                             f"{list(points.columns)}")
        points = points[list(names)]
    try:
        x = np.asarray(points, dtype=float)
    except (TypeError, ValueError):
        raise HiValError("points must be a numeric (rows, columns) array") from None
    d = x.shape[1] if getattr(x, "ndim", 0) == 2 else 1
    names = tuple(names) if names is not None else tuple(f"x{i}" for i in range(d))
    if not 1 <= len(names) <= MAX_DIMENSIONS:
        raise HiValError(f"HiVAl works in 1 to {MAX_DIMENSIONS} dimensions, got {len(names)} "
                         "columns: reduce the targets (e.g. model them in groups)")
    if method not in METHODS:
        raise HiValError(f"unknown HiVAl method {method!r}; known: {', '.join(METHODS)}")
    if oracle not in ORACLES:
        raise HiValError(f"unknown oracle PCC rule {oracle!r}; known: {', '.join(ORACLES)}")
    if directions is None:
        directions = default_directions(len(names))
    if neighbours is None:
        neighbours = default_neighbours(len(names))
    for option, value in (("candidates", candidates), ("neighbours", neighbours),
                          ("directions", directions)):
        try:
            valid = not isinstance(value, bool) and int(value) == value and value >= 1
        except (TypeError, ValueError):
            valid = False
        if not valid:
            raise HiValError(f"{option} must be a positive integer, got {value!r}")
    x = _check_matrix(x, names, minimum_rows=1)
    lower, upper = x.min(axis=0), x.max(axis=0)
    constant = [name for name, lo, hi in zip(names, lower, upper, strict=True) if lo == hi]
    if constant:
        raise HiValError(f"columns {constant} are constant: no volume to tessellate")
    unit = (x - lower) / (upper - lower)
    g, labels = _distinct_rows(unit)
    if len(g) < len(names) + 1:
        raise HiValError(f"HiVAl needs at least D + 1 = {len(names) + 1} distinct points in "
                         f"{len(names)} dimensions, got {len(g)}")

    def geometry(generators: np.ndarray) -> Geometry:
        if method == "exact":
            return exact_geometry(generators, candidates)
        return raycast_geometry(generators, candidates, neighbours, directions)

    levels, all_labels, volumes = [g], [labels], []
    while True:
        cells = geometry(levels[-1])
        volumes.append(cells.volumes)
        if progress is not None:
            progress(f"level {len(levels) - 1}: {len(levels[-1]):,} classes")
        pairs = pair_cells(cells.volumes, cells.partners)
        if len(pairs) == 0:
            break
        parent, merged = merge(levels[-1], cells.volumes, pairs)
        levels.append(merged)
        all_labels.append(parent[all_labels[-1]])

    rng = np.random.default_rng(seed)
    occupancy, dispersion, pcc = [], [], []
    for level_labels, generators in zip(all_labels, levels, strict=True):
        o, s, p = level_statistics(x, level_labels, len(generators), rng, oracle)
        occupancy.append(o)
        dispersion.append(s)
        pcc.append(p)
    settings = {"method": method, "candidates": int(candidates), "neighbours": int(neighbours),
                "directions": int(directions), "oracle": oracle, "seed": int(seed),
                "points": len(x), "duplicates": int(len(x) - len(g))}
    return Hierarchy(names, lower, upper, np.stack(all_labels).astype(np.int32), levels,
                     volumes, occupancy, dispersion, np.array(pcc), settings)
