"""Separation bins reaching the one-halo term: logarithmic edges from 0.1 Mpc/h.

:data:`~.two_point.DEFAULT_R_EDGES` (1.25-40 Mpc/h) covers the two-halo term only.
Satellites add pairs inside one host (the one-halo term) below about the virial
diameter of the largest hosts (~2 Mpc/h); :func:`log_edges` gives bins from there up
to the large scales. Units: Mpc/h (comoving).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ClusteringError
from ._checks import check_edges

__all__ = ["DEFAULT_PER_DECADE", "DEFAULT_RP_MAX", "DEFAULT_RP_MIN", "SMALL_SCALE_EDGES",
           "log_edges"]

#: Smallest separation of the small-scale statistics, Mpc/h (inside the one-halo term).
DEFAULT_RP_MIN = 0.1
#: Largest separation of the small-scale statistics, Mpc/h (the large-scale edges' end).
DEFAULT_RP_MAX = 40.0
#: Logarithmic bins per factor of ten.
DEFAULT_PER_DECADE = 5


def log_edges(r_min: float = DEFAULT_RP_MIN, r_max: float = DEFAULT_RP_MAX,
              per_decade: int = DEFAULT_PER_DECADE) -> np.ndarray:
    """Equal logarithmic bins from ``r_min`` to ``r_max`` (both edges), Mpc/h.

    ``ceil(per_decade * log10(r_max / r_min))`` bins, so each is at most 1/per_decade
    dex wide. Returns float64 edges (bins + 1,), checked by :func:`check_edges`.
    """
    if not (isinstance(per_decade, int | np.integer) and per_decade >= 1):
        raise ClusteringError(f"bins per decade must be a positive integer, got {per_decade!r}")
    edges = check_edges([r_min, r_max], "separation range (r_min, r_max)")
    bins = max(1, math.ceil(per_decade * math.log10(edges[1] / edges[0]) - 1e-9))
    return check_edges(np.geomspace(edges[0], edges[1], bins + 1))


#: Default small-scale edges: 13 log bins from 0.1 to 40 Mpc/h.
SMALL_SCALE_EDGES: np.ndarray = log_edges()
