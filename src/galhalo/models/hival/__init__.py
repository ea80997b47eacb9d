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

Modules, one job each: ``geometry`` (ray-cast volumes and faces, the default),
``exact`` (the Qhull reference), ``merging`` (one iteration's pairs and merged
generators), ``hierarchy`` (the :class:`Hierarchy` container and its model-store
directory), ``build`` (:func:`hival`: checks, the level loop, per-level statistics and
the oracle PCC).
docs/hival.md compares the geometry rules and documents the oracle PCC rules.
"""

from ...errors import HiValError
from .build import MAX_DIMENSIONS, METHODS, ORACLES, hival, level_statistics, oracle_pcc
from .exact import EXACT_MAX_DIMENSIONS, exact_geometry
from .geometry import (
    Geometry,
    ball_volume,
    default_directions,
    default_neighbours,
    direction_sets,
    raycast_geometry,
    unit_directions,
)
from .hierarchy import LEGACY_ARRAYS_FILE, LEGACY_META_FILE, Hierarchy
from .merging import merge, pair_cells

#: Old names of the pre-store files (kept importable).
ARRAYS_FILE = LEGACY_ARRAYS_FILE
META_FILE = LEGACY_META_FILE

__all__ = [
    "ARRAYS_FILE", "EXACT_MAX_DIMENSIONS", "LEGACY_ARRAYS_FILE", "LEGACY_META_FILE",
    "MAX_DIMENSIONS", "META_FILE", "METHODS",
    "ORACLES", "Geometry", "HiValError", "Hierarchy", "ball_volume", "default_directions",
    "default_neighbours", "direction_sets",
    "exact_geometry", "hival", "level_statistics", "merge", "oracle_pcc", "pair_cells",
    "raycast_geometry", "unit_directions",
]
