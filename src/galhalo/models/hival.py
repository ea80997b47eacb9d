"""HiVAl: hierarchical Voronoi allocation of a target space (Rodrigues et al. 2025).

The targets (1 to 8 columns) are min-max scaled to the unit cube, the data's bounding
box. Every distinct point starts as the generator of its own Voronoi cell. Each
iteration visits the cells from the smallest volume up; an unpaired cell merges with
the unpaired candidate (one of its ``candidates`` nearest generators that shares a face
with it) with which it shares the largest face. Every cell is paired at most once per
iteration; the merged generator is the mean of the two weighted by ``V^(-1/D)``; the
classes keep their members (a class is the union of the merged classes). Levels are
kept until an iteration merges nothing (with every cell bounded, that is one class).

Fixes of the published code: cells are clipped to the bounding box, so hull cells have
finite volumes and faces and merge like any other; a class is paired at most once per
iteration and every point belongs to exactly one class at every level; face measures
are (D-1)-dimensional volumes in every dimension; the whole hierarchy of 1e5 points in
4-D takes seconds instead of hours.

Geometry without a Delaunay triangulation (method ``"raycast"``, the default). A convex
cell is star-shaped from any interior point ``s``, so its volume is
``omega_D * mean_u r(u)^D`` over unit directions ``u`` (``omega_D`` the unit-ball volume),
``r(u)`` being the distance from ``s`` to the cell boundary along ``u``: the nearest
bisector hyperplane of another generator, or the cube. Cells are *local*: each is also
clipped to the ball of radius ``rho = d_K / 2`` around its generator, ``d_K`` the distance
to its K-th nearest generator (K = ``neighbours``). Inside that ball only the K nearest
generators can cut the cell (a farther generator is closer to no point of the ball), so
ray lengths are exact and the one approximation is the quadrature over ``directions``
quasi-uniform rays (16 randomly rotated sets, used by turns, so that errors of
neighbouring cells are independent). The ball matters only for cells that reach far from
their generator (sparse tails, thin ridges of the data), whose exact Voronoi volume is
set by distant, unrelated points: their local volume ranks them among the large cells,
which is all the visiting order needs. A face between cells ``i`` and ``j`` lies in their
bisector hyperplane; its (D-1)-volume is the same mean of ``r^(D-1)`` over rays within
the hyperplane from the pair's midpoint (or, when a third generator is closer to the
midpoint, from an interior point found by projections), clipped to the larger of the
two balls. Method ``"exact"`` computes the clipped Voronoi diagram with Qhull (mirror
images of the generators across the cube's faces) and exact face measures: a slow
reference for small sets. docs/hival.md compares the two hierarchies.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special, stats
from scipy.spatial import ConvexHull, QhullError, Voronoi, cKDTree

from .. import __version__
from ..errors import HiValError
from ..files import atomic_directory, check_writable, dumps_json

MAX_DIMENSIONS = 8
METHODS = ("raycast", "exact")
ARRAYS_FILE = "hival.npz"
META_FILE = "hival.json"
#: Items (cells or faces) ray-cast together: bounds the temporary arrays to ~100 MB.
_CHUNK = 2048
#: Threads ray-casting chunks at once (the cores this process may use).
_THREADS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
#: Randomly rotated copies of the direction set (cells use them in turn).
_DIRECTION_SETS = 16
#: Projection steps when looking for an interior point of a face.
_PROJECTIONS = 64



# ----------------------------------------------------------------------------- geometry
def ball_volume(dimension: int) -> float:
    """Volume of the unit ball in ``dimension`` dimensions (2 for D = 1, pi for D = 2)."""
    return float(np.pi ** (dimension / 2) / special.gamma(dimension / 2 + 1))


def unit_directions(dimension: int, count: int = 64) -> np.ndarray:
    """Deterministic quasi-uniform unit vectors, (count, dimension), in antithetic pairs.

    D = 1: the two directions +1, -1. D = 2: equally spaced angles. D >= 3: a scrambled
    Sobol sequence (fixed seed) mapped to the sphere through the normal quantile function.
    """
    if dimension == 1:
        return np.array([[1.0], [-1.0]])
    half = max(2, int(count) // 2)
    if dimension == 2:
        angle = (np.arange(half) + 0.5) * np.pi / half
        first = np.column_stack([np.cos(angle), np.sin(angle)])
    else:
        sobol = stats.qmc.Sobol(dimension, scramble=True, seed=12345)
        uniform = sobol.random_base2(int(np.ceil(np.log2(half))))[:half]
        first = special.ndtri(np.clip(uniform, 1e-12, 1 - 1e-12))
        first /= np.linalg.norm(first, axis=1, keepdims=True)
    return np.vstack([first, -first])


def direction_sets(dimension: int, count: int = 64, sets: int = _DIRECTION_SETS
                   ) -> np.ndarray:
    """``sets`` randomly rotated copies of :func:`unit_directions`, (sets, count, D), from
    a fixed seed. Cell ``i`` uses set ``i % sets``: quadrature errors of neighbouring
    cells are then independent instead of shared."""
    base = unit_directions(dimension, count)
    if dimension == 1:
        return base[None]
    rotations = stats.special_ortho_group.rvs(dimension, size=sets, random_state=2025)
    return np.einsum("qd,sed->sqe", base, rotations.reshape(sets, dimension, dimension))


@dataclass
class Geometry:
    """Cells of one level: ``volumes`` (K,) in units of the bounding box's volume;
    ``partners`` (K, C) candidate generators in order of preference (largest shared face
    first, then nearest; -1 pads) and ``faces`` (K, C) their face measures (unit-cube
    units, (D-1)-dimensional; 1 in 1-D)."""

    volumes: np.ndarray
    partners: np.ndarray
    faces: np.ndarray


def _neighbour_lists(tree: cKDTree, g: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest other generators of every generator: (distances, indices)."""
    distance, index = tree.query(g, k + 1, workers=-1)
    own = index == np.arange(len(g))[:, None]
    own[~own.any(axis=1), -1] = True  # a tie hid the generator itself: drop the farthest
    keep = ~own
    return distance[keep].reshape(len(g), k), index[keep].reshape(len(g), k)


def _bisectors(g: np.ndarray, base: np.ndarray, cut: np.ndarray, start: np.ndarray | None
               ) -> tuple[np.ndarray, np.ndarray]:
    """For the bisectors between ``g[base]`` and ``g[cut]`` (ignored where ``cut`` is -1),
    with normals ``n = g[cut] - g[base]``: (n / slack (P, K, D), slack (P, K)), where
    ``slack = n . (midpoint - start)`` is positive while ``start`` lies on the base side
    (``start`` None: the generators themselves, slack |n|^2 / 2) and inf where ignored.
    In the weight a slack below 1e-12 |n|^2 is raised to that (a ray that crosses the
    bisector at once has length ~0, not NaN)."""
    gi = g[base]
    valid = cut >= 0
    normal = g[np.where(valid, cut, base[:, None])] - gi[:, None, :]
    square = (normal * normal).sum(axis=2)
    slack = 0.5 * square
    if start is not None:
        slack -= (normal * (start - gi)[:, None, :]).sum(axis=2)
    slack = np.where(valid, slack, np.inf)
    return normal / np.maximum(slack, 1e-12 * square)[:, :, None], slack


def _ray_lengths(start: np.ndarray, weight: np.ndarray, rays: np.ndarray, reach: np.ndarray
                 ) -> np.ndarray:
    """Distance (P, Q) from ``start`` (P, D) along unit ``rays`` (P, Q, D) to the first of:
    a bisector (``weight`` = normal / slack (P, K, D)), a face of the unit cube, or
    ``reach`` (P, Q): 1 / max(u.normal / slack, u_d / (1 - s_d), -u_d / s_d, 1 / reach).
    The bisector products are single precision (relative error ~1e-7 on a length)."""
    crossing = np.matmul(weight.astype(np.float32),
                         rays.astype(np.float32).transpose(0, 2, 1)).max(axis=1)
    upper = rays * (1.0 / np.maximum(1.0 - start, 1e-300))[:, None, :]
    lower = rays * (-1.0 / np.maximum(start, 1e-300))[:, None, :]
    wall = np.maximum(upper, lower).max(axis=2)
    return 1.0 / np.maximum(np.maximum(crossing, wall), 1.0 / reach)


def _interior_points(g: np.ndarray, base: np.ndarray, partner: np.ndarray, cut: np.ndarray,
                     radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A point strictly inside each face (base, partner) within ``radius`` of ``g[base]``,
    and whether one was found: from the midpoint, alternate projections (within the
    pair's bisector hyperplane) onto the most violated bisector or cube constraint and
    onto the ball (Motzkin / POCS)."""
    gi, gj = g[base], g[partner]
    axis = gj - gi
    length = np.linalg.norm(axis, axis=1)
    axis /= length[:, None]
    middle = 0.5 * (gi + gj)
    point = middle.copy()
    valid = cut >= 0
    gk = g[np.where(valid, cut, base[:, None])]
    d = g.shape[1]
    eye = np.broadcast_to(np.eye(d), (len(base), d, d))
    normal = np.concatenate([gk - gi[:, None, :], eye, -eye], axis=1)
    offset = np.concatenate([0.5 * np.einsum("pkd,pkd->pk", gk + gi[:, None, :],
                                             gk - gi[:, None, :]),
                             np.ones((len(base), d)), np.zeros((len(base), d))], axis=1)
    inplane = normal - np.einsum("pkd,pd->pk", normal, axis)[:, :, None] * axis[:, None, :]
    size = np.linalg.norm(inplane, axis=2)
    usable = np.concatenate([valid, np.ones((len(base), 2 * d), dtype=bool)], axis=1)
    usable &= size > 1e-12 * length[:, None]
    margin = 1e-7 * length
    disc = np.sqrt(np.maximum(radius**2 - (0.5 * length) ** 2, 0.0)) - margin
    found = np.zeros(len(base), dtype=bool)
    todo = np.arange(len(base))
    for _ in range(_PROJECTIONS):
        excess = np.einsum("pkd,pd->pk", normal[todo], point[todo]) - offset[todo]
        with np.errstate(divide="ignore", invalid="ignore"):
            violation = np.where(usable[todo], excess / size[todo], -np.inf)
        worst = violation.argmax(axis=1)
        rows = np.arange(len(todo))
        away = np.linalg.norm(point[todo] - middle[todo], axis=1)
        done = (violation[rows, worst] < -margin[todo]) & (away <= disc[todo])
        found[todo[done]] = True
        todo, worst, rows = todo[~done], worst[~done], rows[~done]
        if len(todo) == 0:
            break
        step = (violation[rows, worst] + 2 * margin[todo]) / size[todo, worst]
        point[todo] -= np.maximum(step, 0.0)[:, None] * inplane[todo, worst]
        offcentre = point[todo] - middle[todo]
        away = np.linalg.norm(offcentre, axis=1)
        shrink = np.minimum(1.0, np.maximum(disc[todo], 0.0) / np.maximum(away, 1e-300))
        point[todo] = middle[todo] + shrink[:, None] * offcentre
    return point, found & (disc > 0)


def _cast(g: np.ndarray, base: np.ndarray, cut: np.ndarray, start: np.ndarray,
          radius: np.ndarray, sets: np.ndarray, axis: np.ndarray | None) -> np.ndarray:
    """Mean of r^m over the rays of each item, in chunks: m = D for cells (``axis`` None,
    rays from the generator), m = D - 1 for faces (rays in the hyperplane orthogonal to
    ``axis``, cut off by the ball of ``radius`` around ``g[base]``)."""
    d = g.shape[1]
    power = d if axis is None else d - 1
    out = np.empty(len(base))

    def chunk(lo: int) -> None:
        part = slice(lo, lo + _CHUNK)
        b, s = base[part], start[part]
        rays = sets[b % len(sets)]                                       # (P, Q, D)
        if axis is None:
            reach = np.broadcast_to(radius[part][:, None], rays.shape[:2])
        else:
            a = axis[part]
            along = np.einsum("pqd,pd->pq", rays, a)
            rays = rays - along[:, :, None] * a[:, None, :]
            with np.errstate(divide="ignore", invalid="ignore"):
                rays = np.nan_to_num(rays / np.linalg.norm(rays, axis=2, keepdims=True))
            # distance from s along the ray to the sphere of ``radius`` around g[base]
            offset = s - g[b]
            proj = np.einsum("pqd,pd->pq", rays, offset)
            excess = np.einsum("pd,pd->p", offset, offset) - radius[part] ** 2
            reach = np.maximum(-proj + np.sqrt(np.maximum(proj**2 - excess[:, None], 0.0)),
                               1e-300)
        weight, _ = _bisectors(g, b, cut[part], None if axis is None else s)
        r = _ray_lengths(s, weight, rays, reach)
        out[part] = np.mean(r**power, axis=1)

    # numpy releases the GIL in the array operations: chunks run in parallel threads
    with ThreadPoolExecutor(_THREADS) as pool:
        list(pool.map(chunk, range(0, len(base), _CHUNK)))
    return out


def raycast_geometry(generators: np.ndarray, candidates: int = 3, neighbours: int = 16,
                     directions: int = 64) -> Geometry:
    """Volumes and candidate faces of the local Voronoi cells of ``generators`` (K, D) in
    the unit cube (module docstring): each cell clipped to the cube and to the ball of
    half the distance to its ``neighbours``-th nearest generator, where the bisectors of
    those neighbours are the only ones that can cut it (so ray lengths are exact)."""
    g = np.ascontiguousarray(generators, dtype=float)
    n, d = g.shape
    if n == 1:
        return Geometry(np.ones(1), np.full((1, 0), -1), np.zeros((1, 0)))
    k = min(int(neighbours), n - 1)
    c = min(int(candidates), k)
    distance, index = _neighbour_lists(cKDTree(g), g, k)
    # with every generator inside the cube, n - 1 neighbours leave no cut unseen
    radius = 0.5 * distance[:, -1] if k < n - 1 else np.full(n, np.inf)
    sets = direction_sets(d, directions)
    everyone = np.arange(n)
    volumes = ball_volume(d) * _cast(g, everyone, index, g, radius, sets, None)

    near = index[:, :c]
    first, second = np.repeat(everyone, c), near.ravel()
    larger = radius[second] > radius[first]   # cast from the cell with the larger ball
    base, partner = np.where(larger, second, first), np.where(larger, first, second)
    keys, inverse = np.unique(base * n + partner, return_inverse=True)
    base, partner = keys // n, keys % n
    if d == 1:
        # adjacent in 1-D iff no generator lies between them; the face is a point
        rank = np.empty(n, dtype=int)
        rank[np.argsort(g[:, 0], kind="stable")] = everyone
        face = (np.abs(rank[base] - rank[partner]) == 1).astype(float)
    else:
        cut = np.where(index[base] == partner[:, None], -1, index[base])
        axis = g[partner] - g[base]
        axis /= np.linalg.norm(axis, axis=1)[:, None]
        start = 0.5 * (g[base] + g[partner])
        _, slack = _bisectors(g, base, cut, start)
        hidden = np.flatnonzero((slack < 0).any(axis=1))  # midpoint outside the face
        start[hidden], inside = _interior_points(g, base[hidden], partner[hidden],
                                                 cut[hidden], radius[base[hidden]])
        keep = np.ones(len(keys), dtype=bool)
        keep[hidden[~inside]] = False
        face = np.zeros(len(keys))
        face[keep] = ball_volume(d - 1) * _cast(g, base[keep], cut[keep], start[keep],
                                                radius[base[keep]], sets, axis[keep])
    faces = face[inverse.ravel()].reshape(n, c)
    return Geometry(volumes, *_preference(near, distance[:, :c], faces, d))


def _preference(near: np.ndarray, distance: np.ndarray, faces: np.ndarray, dimension: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Order each cell's candidates by face (largest first), then distance; drop faceless
    ones (a face below 1e-9 distance^(D-1) counts as none: the cells touch at a corner)."""
    faces = np.where(faces > 1e-9 * distance ** (dimension - 1), faces, 0.0)
    order = np.lexsort((distance, -faces), axis=1) if faces.size else np.zeros_like(near)
    partners = np.take_along_axis(near, order, axis=1)
    faces = np.take_along_axis(faces, order, axis=1)
    return np.where(faces > 0, partners, -1), faces


def exact_geometry(generators: np.ndarray, candidates: int = 3) -> Geometry:
    """Reference geometry from Qhull: the Voronoi diagram of the generators and of their
    mirror images across the faces of the unit cube, whose cells are exactly the cells
    clipped to the cube. Volumes and face measures from convex hulls of the vertices.
    Slow (Python loop over cells); for D = 2-4 and up to ~10^4 generators."""
    g = np.ascontiguousarray(generators, dtype=float)
    n, d = g.shape
    if d == 1 or n == 1:
        return raycast_geometry(g, candidates, neighbours=n - 1, directions=2)
    if d > 4:
        raise HiValError(f"the exact reference geometry supports 2-4 dimensions, not {d}")
    pad = 1e-9  # mirror across a box enlarged by this, so no image coincides with a point
    images = [g]
    for axis in range(d):
        for wall in (-pad, 1 + pad):
            mirrored = g.copy()
            mirrored[:, axis] = 2 * wall - g[:, axis]
            images.append(mirrored)
    voronoi = Voronoi(np.vstack(images))
    volumes = np.empty(n)
    for i in range(n):
        region = voronoi.regions[voronoi.point_region[i]]
        volumes[i] = ConvexHull(voronoi.vertices[region]).volume
    measure: dict[tuple[int, int], float] = {}
    for (p, q), vertices in zip(voronoi.ridge_points, voronoi.ridge_vertices, strict=True):
        if p < n and q < n:
            measure[(min(p, q), max(p, q))] = _ridge_measure(
                voronoi.vertices[vertices], g[q] - g[p])
    c = min(int(candidates), n - 1)
    distance, index = _neighbour_lists(cKDTree(g), g, c)
    faces = np.array([[measure.get((min(i, j), max(i, j)), 0.0) for j in row]
                      for i, row in enumerate(index.tolist())]).reshape(n, c)
    return Geometry(volumes, *_preference(index, distance, faces, d))


def _ridge_measure(vertices: np.ndarray, normal: np.ndarray) -> float:
    """(D-1)-volume of a Voronoi ridge (its vertices) orthogonal to ``normal``."""
    d = len(normal)
    if len(vertices) < d:
        return 0.0
    if d == 2:
        return float(np.ptp(vertices @ np.array([-normal[1], normal[0]]))
                     / np.linalg.norm(normal))
    basis = np.linalg.svd(normal[None, :])[2][1:]  # orthonormal basis of the hyperplane
    try:
        return float(ConvexHull((vertices - vertices.mean(axis=0)) @ basis.T).volume)
    except QhullError:
        return 0.0  # a degenerate (zero-measure) ridge


# ----------------------------------------------------------------------------- merging
def pair_cells(volumes: np.ndarray, partners: np.ndarray) -> np.ndarray:
    """The pairs (M, 2) of one iteration: cells visited from the smallest volume up, each
    unpaired cell takes its most preferred unpaired candidate; each cell pairs once."""
    paired = np.zeros(len(volumes), dtype=bool).tolist()
    choices = partners.tolist()
    pairs = []
    for i in np.argsort(volumes, kind="stable").tolist():
        if paired[i]:
            continue
        for j in choices[i]:
            if j >= 0 and not paired[j]:
                paired[i] = paired[j] = True
                pairs.append((i, j))
                break
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def merge(generators: np.ndarray, volumes: np.ndarray, pairs: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """Merge ``pairs``: (parent (K,) new class of every class, new generators (K', D)).

    A merged generator is the mean of the two weighted by V^(-1/D); unpaired classes
    carry over. New classes are numbered by their smallest old index.
    """
    n, d = generators.shape
    representative = np.arange(n)
    representative[pairs[:, 1]] = np.minimum(pairs[:, 0], pairs[:, 1])
    representative[pairs[:, 0]] = np.minimum(pairs[:, 0], pairs[:, 1])
    _, parent = np.unique(representative, return_inverse=True)
    weight = np.maximum(volumes, np.finfo(float).tiny) ** (-1.0 / d)
    total = np.zeros(parent.max() + 1)
    np.add.at(total, parent, weight)
    merged = np.zeros((len(total), d))
    np.add.at(merged, parent, weight[:, None] * generators)
    return parent, merged / total[:, None]


# ----------------------------------------------------------------------------- hierarchy
@dataclass
class Hierarchy:
    """Every level of a HiVAl run on N points with D target columns.

    Attributes:
        names: the target column names (D,).
        lower, upper: per-column minimum and maximum of the data (physical units); the
            unit cube of the geometry is ``(x - lower) / (upper - lower)``.
        labels: (levels, N) int32, the class of every input point at every level
            (level 0: every distinct point its own class).
        generators: per level, (K_l, D) generators in unit-cube coordinates.
        volumes: per level, (K_l,) cell volumes in units of the bounding box's volume.
        occupancy: per level, (K_l,) number of member points.
        dispersion: per level, (K_l, D) standard deviation of the members (physical
            units; 0 for a singleton).
        oracle_pcc: (levels, D) Pearson correlation between each point and a random
            member of its own class (a perfect classifier's score).
        settings: the options of the run (method, candidates, neighbours, directions,
            seed, duplicates merged at level 0).
    """

    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    labels: np.ndarray
    generators: list[np.ndarray]
    volumes: list[np.ndarray]
    occupancy: list[np.ndarray]
    dispersion: list[np.ndarray]
    oracle_pcc: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)
    _trees: dict[int, cKDTree] = field(default_factory=dict, repr=False, compare=False)

    @property
    def counts(self) -> list[int]:
        """Number of classes per level, from the finest (level 0) to the coarsest."""
        return [len(g) for g in self.generators]

    @property
    def n_levels(self) -> int:
        return len(self.generators)

    @property
    def dimension(self) -> int:
        return len(self.names)

    def _level(self, level: int) -> int:
        if isinstance(level, bool) or int(level) != level:
            raise HiValError(f"level must be an integer, got {level!r}")
        level = int(level)
        if level < 0:
            level += self.n_levels
        if not 0 <= level < self.n_levels:
            raise HiValError(f"level {level} does not exist: the hierarchy has levels "
                             f"0-{self.n_levels - 1}")
        return level

    def to_unit(self, points: np.ndarray) -> np.ndarray:
        """Physical (M, D) -> unit-cube coordinates (M, D)."""
        return (points - self.lower) / (self.upper - self.lower)

    def generators_physical(self, level: int) -> np.ndarray:
        """Generators of ``level`` in physical units, (K_l, D)."""
        return self.lower + self.generators[self._level(level)] * (self.upper - self.lower)

    def volumes_physical(self, level: int) -> np.ndarray:
        """Cell volumes of ``level`` in the product of the targets' physical units."""
        return self.volumes[self._level(level)] * float(np.prod(self.upper - self.lower))

    def assign(self, points: np.ndarray, level: int) -> np.ndarray:
        """Class (M,) of each of ``points`` (M, D) physical: the nearest generator of
        ``level`` in unit-cube distance (new points; training points keep ``labels``)."""
        level = self._level(level)
        points = _check_matrix(points, self.names, minimum_rows=1)
        if level not in self._trees:
            self._trees[level] = cKDTree(self.generators[level])
        return self._trees[level].query(self.to_unit(points), 1, workers=-1)[1].astype(np.int64)

    def coarsest_level(self, threshold: float | Sequence[float] | dict[str, float]) -> int:
        """The coarsest level whose oracle PCC is at least ``threshold`` for every target
        (one number for all, a sequence per column, or a {column: threshold} dict)."""
        if isinstance(threshold, dict):
            unknown = sorted(set(threshold) - set(self.names))
            if unknown:
                raise HiValError(f"thresholds for unknown columns {unknown}; "
                                 f"targets are {list(self.names)}")
            limit = np.array([threshold.get(name, -1.0) for name in self.names])
        else:
            limit = np.broadcast_to(np.asarray(threshold, dtype=float), (self.dimension,))
        passing = np.flatnonzero((self.oracle_pcc >= limit).all(axis=1))
        return int(passing.max()) if len(passing) else 0

    def summary(self) -> list[dict[str, Any]]:
        """One row per level: classes, singletons, median occupancy, oracle PCC."""
        return [{"level": level, "classes": len(g),
                 "singletons": int(np.sum(self.occupancy[level] == 1)),
                 "median_occupancy": float(np.median(self.occupancy[level])),
                 "oracle_pcc": dict(zip(self.names, map(float, self.oracle_pcc[level]),
                                        strict=True))}
                for level, g in enumerate(self.generators)]

    # -- persistence: plain arrays (npz, no pickles) plus json
    def write(self, directory: Path) -> None:
        """Write ``hival.npz`` and ``hival.json`` into an existing directory (no atomicity:
        :meth:`save` and the model writers wrap this in an atomic directory)."""
        offsets = np.cumsum([0, *self.counts])
        arrays = {"labels": self.labels.astype(np.int32), "offsets": offsets,
                  "generators": np.concatenate(self.generators),
                  "volumes": np.concatenate(self.volumes),
                  "occupancy": np.concatenate(self.occupancy),
                  "dispersion": np.concatenate(self.dispersion),
                  "oracle_pcc": self.oracle_pcc, "lower": self.lower, "upper": self.upper}
        with open(directory / ARRAYS_FILE, "wb") as handle:
            np.savez(handle, **arrays)
        meta = {"galhalo_version": __version__, "names": list(self.names),
                "counts": self.counts, "settings": self.settings}
        (directory / META_FILE).write_text(dumps_json(meta))

    def save(self, directory: str | Path) -> Path:
        """Write the hierarchy to ``directory`` atomically (``hival.npz`` + ``hival.json``)."""
        target = check_writable(directory, directory=True)
        with atomic_directory(target) as tmp:
            self.write(tmp)
        return target

    @classmethod
    def load(cls, directory: str | Path) -> Hierarchy:
        """Read a hierarchy written by :meth:`save` (or inside an NNclass model dir)."""
        directory = Path(directory)
        try:
            meta = json.loads((directory / META_FILE).read_text())
            with np.load(directory / ARRAYS_FILE, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except FileNotFoundError as err:
            raise HiValError(f"{directory}: no HiVAl hierarchy ({Path(err.filename).name} "
                             "is missing)") from None
        except (OSError, ValueError) as err:
            raise HiValError(f"{directory}: unreadable HiVAl hierarchy ({err})") from None
        try:
            offsets = arrays["offsets"]
            split = [slice(a, b) for a, b in itertools.pairwise(offsets)]
            hierarchy = cls(
                names=tuple(meta["names"]), lower=arrays["lower"], upper=arrays["upper"],
                labels=arrays["labels"],
                generators=[arrays["generators"][s] for s in split],
                volumes=[arrays["volumes"][s] for s in split],
                occupancy=[arrays["occupancy"][s] for s in split],
                dispersion=[arrays["dispersion"][s] for s in split],
                oracle_pcc=arrays["oracle_pcc"], settings=meta.get("settings", {}))
        except (KeyError, TypeError, ValueError) as err:
            raise HiValError(f"{directory}: HiVAl arrays are incomplete ({err})") from None
        if hierarchy.counts != list(meta.get("counts", [])) or \
                hierarchy.labels.shape[0] != hierarchy.n_levels:
            raise HiValError(f"{directory}: HiVAl arrays disagree with {META_FILE}")
        return hierarchy


def _check_matrix(points: Any, names: Sequence[str], minimum_rows: int) -> np.ndarray:
    """A finite float (N, D) array with D = len(names), or a HiValError naming the issue."""
    try:
        x = np.asarray(points, dtype=float)
    except (TypeError, ValueError):
        raise HiValError("points must be a numeric (rows, columns) array") from None
    if x.ndim == 1 and len(names) == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != len(names):
        raise HiValError(f"points must have shape (rows, {len(names)}), got {x.shape}")
    if len(x) < minimum_rows:
        raise HiValError(f"need at least {minimum_rows} rows, got {len(x)}")
    bad = ~np.isfinite(x)
    if bad.any():
        column = int(np.flatnonzero(bad.any(axis=0))[0])
        raise HiValError(f"column {names[column]!r}: {int(bad[:, column].sum())} of {len(x)} "
                         f"values are NaN or inf (first at row "
                         f"{int(np.flatnonzero(bad[:, column])[0])})")
    return x


def _distinct_rows(unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows in order of first appearance, label of every row)."""
    _, first, inverse = np.unique(unit, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return unit[first[order]], rank[inverse.ravel()]


def level_statistics(x: np.ndarray, labels: np.ndarray, n_classes: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(occupancy (K,), dispersion (K, D), oracle PCC (D,)) of one level's ``labels``.

    The oracle replaces every point by a uniformly drawn member of its own class (itself
    included) and correlates the draws with the points, column by column.
    """
    occupancy = np.bincount(labels, minlength=n_classes)
    mean = np.stack([np.bincount(labels, weights=c, minlength=n_classes) for c in x.T], 1)
    mean /= occupancy[:, None]
    centred = x - mean[labels]
    variance = np.stack([np.bincount(labels, weights=c * c, minlength=n_classes)
                         for c in centred.T], 1) / occupancy[:, None]
    order = np.argsort(labels, kind="stable")
    start = np.concatenate([[0], np.cumsum(occupancy)[:-1]])
    pick = order[start[labels] + (rng.random(len(labels)) * occupancy[labels]).astype(int)]
    drawn = x[pick]
    with np.errstate(divide="ignore", invalid="ignore"):
        pcc = np.array([np.corrcoef(a, b)[0, 1] for a, b in zip(x.T, drawn.T, strict=True)])
    return occupancy, np.sqrt(variance), np.nan_to_num(pcc)


def hival(points: Any, names: Sequence[str] | None = None, *, candidates: int = 3,
          neighbours: int = 16, directions: int = 64, method: str = "raycast",
          seed: int = 0, progress: Callable[[str], None] | None = None) -> Hierarchy:
    """Build the full HiVAl hierarchy of ``points``.

    Args:
        points: (N, D) array in physical units, 1 <= D <= 8, finite; a DataFrame works
            with ``names`` selecting its columns.
        names: the D column names (default ``x0, x1, ...``).
        candidates: a cell chooses its partner among this many nearest generators that
            share a face with it (3 as published).
        neighbours: bisectors tested before the k-d tree certification (speed only).
        directions: rays per cell and per face (the only approximation of "raycast").
        method: "raycast" (fast, any D) or "exact" (Qhull reference, D <= 4, small N).
        seed: seeds the oracle PCC draws (the hierarchy itself is deterministic).
        progress: called with a one-line message after every level.

    Returns:
        The :class:`Hierarchy`. Duplicated points share one class from level 0 on
        (recorded in ``settings["duplicates"]``).

    Raises:
        HiValError: NaN/inf, wrong shape, more than 8 columns, a constant column, fewer
            than D + 1 distinct points, unknown method.
    """
    if hasattr(points, "columns"):
        names = tuple(points.columns if names is None else names)
        points = np.column_stack([np.asarray(points[name], dtype=float) for name in names])
    x = np.asarray(points, dtype=float) if not isinstance(points, np.ndarray) else points
    d = x.shape[1] if getattr(x, "ndim", 0) == 2 else 1
    names = tuple(names) if names is not None else tuple(f"x{i}" for i in range(d))
    if not 1 <= len(names) <= MAX_DIMENSIONS:
        raise HiValError(f"HiVAl works in 1 to {MAX_DIMENSIONS} dimensions, got {len(names)} "
                         "columns: reduce the targets (e.g. model them in groups)")
    if method not in METHODS:
        raise HiValError(f"unknown HiVAl method {method!r}; known: {', '.join(METHODS)}")
    for option, value in (("candidates", candidates), ("neighbours", neighbours),
                          ("directions", directions)):
        if isinstance(value, bool) or int(value) != value or value < 1:
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
        o, s, p = level_statistics(x, level_labels, len(generators), rng)
        occupancy.append(o)
        dispersion.append(s)
        pcc.append(p)
    settings = {"method": method, "candidates": int(candidates), "neighbours": int(neighbours),
                "directions": int(directions), "seed": int(seed), "points": len(x),
                "duplicates": int(len(x) - len(g))}
    return Hierarchy(names, lower, upper, np.stack(all_labels).astype(np.int32), levels,
                     volumes, occupancy, dispersion, np.array(pcc), settings)
