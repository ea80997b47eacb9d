"""HiVAl geometry without a Delaunay triangulation: Voronoi cell volumes and face
measures in the unit cube by ray casting.

A convex cell is star-shaped from any interior point ``s``, so its volume is
``omega_D * mean_u r(u)^D`` over unit directions ``u`` (``omega_D`` the unit-ball volume),
``r(u)`` being the distance from ``s`` to the cell boundary along ``u``: the nearest
bisector hyperplane of another generator, or the cube. A face between cells ``i`` and
``j`` lies in their bisector hyperplane; its (D-1)-volume is the same mean of ``r^(D-1)``
over rays within the hyperplane from the pair's midpoint (or, when a third generator is
closer to the midpoint, from an interior point found by projections).

Ray lengths are exact. Each ray is first cut by the bisectors of the ``neighbours``
nearest generators of its cell and by the cube. Inside the ball of radius ``d_K / 2``
around the generator (``d_K`` the distance to its K-th nearest generator) no other
generator can cut (a farther generator is closer to no point of that ball), so an end
point inside it is final. An end point outside it is *certified* with the k-d tree: if
some generator ``m`` is nearer to it than the cell's own, the ray crosses the bisector
with ``m`` first; it is shortened to that bisector and checked again, until no generator
is nearer. The one approximation is then the quadrature over ``directions``
quasi-uniform rays (16 randomly rotated sets, used by turns, so that errors of
neighbouring cells are independent); its error falls with the number of rays and grows
with the dimension (docs/hival.md measures it against Qhull in 3-, 4- and 5-D).

Before 2026-12 the cells were clipped to that ball instead of certified, which in 4-D
shrank most cells (median volume error 27 % against Qhull); ``exact.py`` holds the Qhull
reference.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import special, stats
from scipy.spatial import cKDTree

#: Default rays per cell and face: 64 in 1-2 dimensions (2-D faces are exact with any
#: count), 128 from 3-D on, where 64 rays leave the merge sequence measurably further
#: from the exact rule's than a 0.1 % jitter of the points does (docs/hival.md).
DEFAULT_DIRECTIONS = {1: 64, 2: 64}
DEFAULT_DIRECTIONS_HIGHER = 128


def default_directions(dimension: int) -> int:
    """The default number of rays for ``dimension`` (see ``DEFAULT_DIRECTIONS``)."""
    return DEFAULT_DIRECTIONS.get(int(dimension), DEFAULT_DIRECTIONS_HIGHER)


def default_neighbours(dimension: int) -> int:
    """The default ``neighbours`` (speed only): 16 (D - 1), at least 16. A Voronoi cell
    has more faces in more dimensions; with too few neighbours most rays leave the safe
    ball and need the k-d tree check (fastest measured: 16, 32, 48, 64 in 2-5-D)."""
    return 16 * max(1, int(dimension) - 1)


#: Items (cells or faces) ray-cast together: bounds the temporary arrays to ~100 MB.
_CHUNK = 2048
#: Threads ray-casting chunks at once (the cores this process may use).
_THREADS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
#: Randomly rotated copies of the direction set (cells use them in turn).
_DIRECTION_SETS = 16
#: Projection steps when looking for an interior point of a face.
_PROJECTIONS = 64
#: Rounds of k-d tree certification of the ray end points (each shortens a ray).
_CERTIFY_ROUNDS = 64
#: A generator nearer to a ray's end point than the cell's own by this relative margin
#: cuts the ray (the bisector products are single precision, error ~1e-7).
_CERTIFY_TOLERANCE = 1e-6


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


def _preference(near: np.ndarray, distance: np.ndarray, faces: np.ndarray, dimension: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Order each cell's candidates by face (largest first), then distance; drop faceless
    ones (a face below 1e-9 distance^(D-1) counts as none: the cells touch at a corner)."""
    faces = np.where(faces > 1e-9 * distance ** (dimension - 1), faces, 0.0)
    order = np.lexsort((distance, -faces), axis=1) if faces.size else np.zeros_like(near)
    partners = np.take_along_axis(near, order, axis=1)
    faces = np.take_along_axis(faces, order, axis=1)
    return np.where(faces > 0, partners, -1), faces


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


def _ray_lengths(start: np.ndarray, weight: np.ndarray, rays: np.ndarray) -> np.ndarray:
    """Distance (P, Q) from ``start`` (P, D) along unit ``rays`` (P, Q, D) to the first of
    a bisector (``weight`` = normal / slack (P, K, D)) or a face of the unit cube:
    1 / max(u.normal / slack, u_d / (1 - s_d), -u_d / s_d); 0 for a zero ray. The
    bisector products are single precision (relative error ~1e-7 on a length)."""
    crossing = np.matmul(weight.astype(np.float32),
                         rays.astype(np.float32).transpose(0, 2, 1)).max(axis=1)
    upper = rays * (1.0 / np.maximum(1.0 - start, 1e-300))[:, None, :]
    lower = rays * (-1.0 / np.maximum(start, 1e-300))[:, None, :]
    wall = np.maximum(upper, lower).max(axis=2)
    inverse = np.maximum(crossing, wall)
    with np.errstate(divide="ignore"):
        return np.where(inverse > 0, 1.0 / inverse, 0.0)


def _certify(tree: cKDTree, g: np.ndarray, base: np.ndarray, start: np.ndarray,
             rays: np.ndarray, length: np.ndarray, safe: np.ndarray) -> np.ndarray:
    """Ray lengths (P, Q) exact against every generator: an end point farther than
    ``safe`` (P,) from ``g[base]`` whose nearest generator ``m`` (k-d tree) is nearer
    than ``g[base]`` is moved back to the bisector with ``m``, and checked again."""
    length = length.copy()
    q = length.shape[1]
    own_point = g[base]
    end = start[:, None, :] + length[:, :, None] * rays
    distance = np.linalg.norm(end - own_point[:, None, :], axis=2)
    todo = np.flatnonzero((distance > safe[:, None]).ravel())
    for _ in range(_CERTIFY_ROUNDS):
        if len(todo) == 0:
            break
        row, col = np.divmod(todo, q)
        point = end[row, col]
        nearest_distance, nearest = tree.query(point, 1)
        bad = nearest_distance < distance[row, col] * (1.0 - _CERTIFY_TOLERANCE)
        todo, row, col, nearest = todo[bad], row[bad], col[bad], nearest[bad]
        gi = own_point[row]
        normal = g[nearest] - gi
        slack = 0.5 * (normal * normal).sum(axis=1) - (normal * (start[row] - gi)).sum(axis=1)
        direction = rays[row, col]
        speed = (direction * normal).sum(axis=1)
        cut = np.maximum(slack, 0.0) / np.maximum(speed, 1e-300)
        length[row, col] = np.minimum(length[row, col], cut)
        end[row, col] = start[row] + length[row, col][:, None] * direction
        distance[row, col] = np.linalg.norm(end[row, col] - gi, axis=1)
        todo = todo[distance[row, col] > safe[row]]
    return length


def _interior_points(g: np.ndarray, base: np.ndarray, partner: np.ndarray, cut: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """A point strictly inside each face (base, partner) against the bisectors of
    ``cut`` and the cube, and whether one was found: from the midpoint, projections
    (within the pair's bisector hyperplane) onto the most violated constraint (Motzkin)."""
    gi, gj = g[base], g[partner]
    axis = gj - gi
    length = np.linalg.norm(axis, axis=1)
    axis /= length[:, None]
    point = 0.5 * (gi + gj)
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
    found = np.zeros(len(base), dtype=bool)
    todo = np.arange(len(base))
    for _ in range(_PROJECTIONS):
        excess = np.einsum("pkd,pd->pk", normal[todo], point[todo]) - offset[todo]
        with np.errstate(divide="ignore", invalid="ignore"):
            violation = np.where(usable[todo], excess / size[todo], -np.inf)
        worst = violation.argmax(axis=1)
        rows = np.arange(len(todo))
        done = violation[rows, worst] < -margin[todo]
        found[todo[done]] = True
        todo, worst, rows = todo[~done], worst[~done], rows[~done]
        if len(todo) == 0:
            break
        step = (violation[rows, worst] + 2 * margin[todo]) / size[todo, worst]
        point[todo] -= np.maximum(step, 0.0)[:, None] * inplane[todo, worst]
    return point, found


def _cast(tree: cKDTree, g: np.ndarray, base: np.ndarray, cut: np.ndarray,
          start: np.ndarray, safe: np.ndarray, sets: np.ndarray, axis: np.ndarray | None
          ) -> np.ndarray:
    """Mean of r^m over the certified rays of each item, in chunks: m = D for cells
    (``axis`` None, rays from the generator), m = D - 1 for faces (rays in the
    hyperplane orthogonal to ``axis``)."""
    d = g.shape[1]
    power = d if axis is None else d - 1
    out = np.empty(len(base))

    def chunk(lo: int) -> None:
        part = slice(lo, lo + _CHUNK)
        b, s = base[part], start[part]
        rays = sets[b % len(sets)]                                       # (P, Q, D)
        if axis is not None:
            a = axis[part]
            along = np.einsum("pqd,pd->pq", rays, a)
            rays = rays - along[:, :, None] * a[:, None, :]
            with np.errstate(divide="ignore", invalid="ignore"):
                rays = np.nan_to_num(rays / np.linalg.norm(rays, axis=2, keepdims=True))
        weight, _ = _bisectors(g, b, cut[part], None if axis is None else s)
        r = _certify(tree, g, b, s, rays, _ray_lengths(s, weight, rays), safe[b])
        out[part] = np.mean(r**power, axis=1)

    # numpy and the k-d tree release the GIL: chunks run in parallel threads
    with ThreadPoolExecutor(_THREADS) as pool:
        list(pool.map(chunk, range(0, len(base), _CHUNK)))
    return out


def raycast_geometry(generators: np.ndarray, candidates: int = 3,
                     neighbours: int | None = None, directions: int | None = None
                     ) -> Geometry:
    """Volumes and candidate faces of the Voronoi cells of ``generators`` (K, D) clipped
    to the unit cube (module docstring): rays cut by the bisectors of the ``neighbours``
    nearest generators, then certified against all of them with the k-d tree, so that
    the one approximation is the quadrature over ``directions`` rays (None: the
    default for the dimension, :func:`default_directions`; ``neighbours`` None:
    :func:`default_neighbours`)."""
    g = np.ascontiguousarray(generators, dtype=float)
    n, d = g.shape
    if n == 1:
        return Geometry(np.ones(1), np.full((1, 0), -1), np.zeros((1, 0)))
    k = min(int(default_neighbours(d) if neighbours is None else neighbours), n - 1)
    c = min(int(candidates), k)
    tree = cKDTree(g)
    distance, index = _neighbour_lists(tree, g, k)
    # no generator beyond the k nearest cuts inside this radius; with k = n - 1, none
    safe = 0.5 * distance[:, -1] if k < n - 1 else np.full(n, np.inf)
    sets = direction_sets(d, default_directions(d) if directions is None else directions)
    everyone = np.arange(n)
    volumes = ball_volume(d) * _cast(tree, g, everyone, index, g, safe, sets, None)

    near = index[:, :c]
    first, second = np.repeat(everyone, c), near.ravel()
    # each face once, cast from a cell that has the other among its ``c`` nearest (the
    # first listed): then every generator nearer to the pair's midpoint than the two is
    # among its ``k`` nearest, and the choice does not depend on ``neighbours``
    keys, where, inverse = np.unique(np.minimum(first, second) * n
                                     + np.maximum(first, second),
                                     return_index=True, return_inverse=True)
    base, partner = first[where], second[where]
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
                                                 cut[hidden])
        # an interior point must also be nearer to the pair than to every generator
        own = np.linalg.norm(start[hidden] - g[base[hidden]], axis=1)
        nearest, _ = tree.query(start[hidden], 1)
        inside &= nearest >= own * (1.0 - _CERTIFY_TOLERANCE)
        keep = np.ones(len(keys), dtype=bool)
        keep[hidden[~inside]] = False
        face = np.zeros(len(keys))
        face[keep] = ball_volume(d - 1) * _cast(tree, g, base[keep], cut[keep],
                                                start[keep], safe, sets, axis[keep])
    faces = face[inverse.ravel()].reshape(n, c)
    return Geometry(volumes, *_preference(near, distance[:, :c], faces, d))
