"""Qhull reference geometry for HiVAl: the exact Voronoi cells clipped to the unit cube.

The Voronoi diagram of the generators and of their mirror images across the faces of
the (1e-9-padded) unit cube has, for every generator, exactly its cell clipped to the
cube (a mirror image never wins inside the cube, and bounds the cell at the wall).
Volumes and face measures come from convex hulls of the cells' and ridges' vertices.
Slow (a Python loop over the cells, and Qhull's cost grows steeply with the dimension):
for D = 2-5 and up to ~10^4 generators, to check the ray-cast rule.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull, QhullError, Voronoi, cKDTree

from ...errors import HiValError
from .geometry import Geometry, _neighbour_lists, _preference, raycast_geometry

#: The exact reference is built for at most this many dimensions.
EXACT_MAX_DIMENSIONS = 5


def exact_geometry(generators: np.ndarray, candidates: int = 3) -> Geometry:
    """Reference geometry from Qhull: the Voronoi diagram of the generators and of their
    mirror images across the faces of the unit cube, whose cells are exactly the cells
    clipped to the cube. Volumes and face measures from convex hulls of the vertices.
    Slow (module docstring)."""
    g = np.ascontiguousarray(generators, dtype=float)
    n, d = g.shape
    if d == 1 or n == 1:
        return raycast_geometry(g, candidates, neighbours=n - 1, directions=2)
    if d > EXACT_MAX_DIMENSIONS:
        raise HiValError(f"the exact reference geometry supports 2-{EXACT_MAX_DIMENSIONS} "
                         f"dimensions, not {d}")
    pad = 1e-6  # mirror across a box enlarged by this, so no image nearly coincides with a point
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

