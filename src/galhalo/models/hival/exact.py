"""Qhull reference geometry for HiVAl: the exact Voronoi cells clipped to the unit cube.

Cell by cell: the intersection of the unit cube with the bisector halfspaces of the
cell's nearest generators (Qhull's halfspace intersection), *certified*: a vertex to
which another generator is nearer than the cell's own adds that generator's bisector,
and the cell is recomputed, until every vertex is certified, so the cell is exact.
Volumes are convex hulls of the vertices; the face shared with a candidate is the hull
of the vertices on their bisector, in its hyperplane. Slow (a Python loop over the
cells, ~5-30 ms each in 4-D): a reference to check the ray-cast rule, for D = 2-5 and
up to ~10^4 generators. (Before 2026-12 the reference was the Voronoi diagram of the
generators and their mirror images across the cube, which Qhull could not build for
points on the cube's faces in 4-D.)
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull, HalfspaceIntersection, QhullError, cKDTree

from ...errors import HiValError
from .geometry import Geometry, _neighbour_lists, _preference, raycast_geometry

#: The exact reference is built for at most this many dimensions.
EXACT_MAX_DIMENSIONS = 5
#: Bisectors of this many nearest generators start each cell (more are added as needed).
_START = 32
#: A generator nearer to a vertex than the cell's own by this relative margin cuts it.
_TOLERANCE = 1e-9


def _cell(g: np.ndarray, i: int, others: np.ndarray, nearest: float, tree: cKDTree
          ) -> tuple[np.ndarray, list[list[int]], np.ndarray]:
    """(vertices (V, D), halfspaces through each vertex, generators whose bisectors are
    halfspaces 0 .. len - 1) of cell ``i``: the unit cube cut by the bisectors of
    ``others``, extended until no generator is nearer to a vertex than ``g[i]``."""
    d = g.shape[1]
    gi = g[i]
    eye = np.eye(d)
    walls = np.vstack([np.column_stack([eye, -np.ones(d)]),
                       np.column_stack([-eye, np.zeros(d)])])
    # strictly inside the cube and the cell: towards the centre, by < d_1 / 2
    inside = gi + min(0.25 * nearest, 0.1) * (0.5 - gi)
    while True:
        normal = g[others] - gi
        offset = -(normal * (0.5 * (g[others] + gi))).sum(axis=1)
        try:
            cell = HalfspaceIntersection(np.vstack([np.column_stack([normal, offset]), walls]),
                                         inside)
        except QhullError as err:
            first = str(err).strip().splitlines()[0]
            raise HiValError(f"the exact geometry failed for generator {i} ({first})") from None
        vertices = cell.intersections
        distance, closest = tree.query(vertices, 1)
        own = np.linalg.norm(vertices - gi, axis=1)
        extra = np.setdiff1d(closest[distance < own * (1 - _TOLERANCE)], np.r_[others, i])
        if len(extra) == 0:
            return vertices, cell.dual_facets, others
        others = np.r_[others, extra]


def exact_geometry(generators: np.ndarray, candidates: int = 3) -> Geometry:
    """Reference geometry from Qhull, cell by cell (module docstring): exact volumes and
    face measures of the Voronoi cells of ``generators`` (K, D) clipped to the unit
    cube. D = 1 (intervals) uses the ray-cast rule, which is exact there."""
    g = np.ascontiguousarray(generators, dtype=float)
    n, d = g.shape
    if d == 1 or n == 1:
        return raycast_geometry(g, candidates, neighbours=n - 1, directions=2)
    if d > EXACT_MAX_DIMENSIONS:
        raise HiValError(f"the exact reference geometry supports 2-{EXACT_MAX_DIMENSIONS} "
                         f"dimensions, not {d}")
    tree = cKDTree(g)
    k = min(max(_START, int(candidates)), n - 1)
    c = min(int(candidates), k)
    distance, index = _neighbour_lists(tree, g, k)
    volumes = np.empty(n)
    faces = np.zeros((n, c))
    for i in range(n):
        vertices, through, others = _cell(g, i, index[i], distance[i, 0], tree)
        volumes[i] = ConvexHull(vertices).volume
        for column, j in enumerate(index[i, :c]):
            halfspace = int(np.flatnonzero(others == j)[0])
            on = np.array([halfspace in facets for facets in through])
            if on.sum() >= d:
                faces[i, column] = _ridge_measure(vertices[on], g[j] - g[i])
    return Geometry(volumes, *_preference(index[:, :c], distance[:, :c], faces, d))


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

