"""Radial profiles of halos as pure functions: the NFW enclosed mass and the inverse CDF
of an NFW profile truncated at the virial radius.

Shared by the synthetic universe (``galhalo.sim.subhalos`` places satellites with them)
and the clustering estimators (``galhalo.clustering.one_halo`` predicts the pairs inside
hosts from them), which must not import each other. Radii are in units of the virial
radius, ``s = r / R_vir``; concentrations ``c = R_vir / r_s``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import lambertw

__all__ = ["nfw_enclosed", "nfw_radii"]


def nfw_enclosed(x: np.ndarray) -> np.ndarray:
    """m(x) = ln(1 + x) - x / (1 + x): NFW mass within x scale radii (any shape)."""
    x = np.asarray(x, dtype=float)
    return np.log1p(x) - x / (1.0 + x)


def nfw_radii(concentration: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """r / R_vir of an NFW profile truncated at R_vir, by inverting its CDF exactly.

    ``m(c s) = u m(c)`` is solved in closed form with the Lambert W function
    (``1 + c s = -1 / W0(-exp(-1 - u m(c)))``). Shapes: broadcast of the two inputs
    (``uniform`` in [0, 1]).
    """
    concentration = np.asarray(concentration, dtype=float)
    p = np.asarray(uniform, dtype=float) * nfw_enclosed(concentration)
    w = lambertw(-np.exp(-1.0 - p), 0).real
    return (-1.0 / w - 1.0) / concentration
