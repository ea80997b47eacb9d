"""Radial profiles of halos as pure functions: the NFW enclosed mass, the inverse CDF
of a truncated NFW profile and the concentration-mass relation of Duffy et al. (2008).

Shared by the synthetic universe (``galhalo.sim.subhalos`` places satellites with them),
the clustering estimators (``galhalo.clustering.one_halo`` predicts the pairs inside
hosts from them) and the NFW profile family (``galhalo.models.nfw``), which must not
import each other. Radii are in units of the virial
radius, ``s = r / R_vir``; concentrations ``c = R_vir / r_s``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import lambertw

__all__ = ["duffy08_concentration", "nfw_enclosed", "nfw_radii"]


def nfw_enclosed(x: np.ndarray) -> np.ndarray:
    """m(x) = ln(1 + x) - x / (1 + x): NFW mass within x scale radii (any shape)."""
    x = np.asarray(x, dtype=float)
    return np.log1p(x) - x / (1.0 + x)


def duffy08_concentration(log_mass: np.ndarray, redshift: float = 0.0) -> np.ndarray:
    """Median NFW concentration of Duffy et al. (2008, MNRAS 390, L64; virial
    definition, full sample): ``c = 7.85 (M / 2e12)^-0.081 (1 + z)^-0.71`` with ``M``
    the virial mass in Msun/h (``log_mass`` its log10, any shape; the result has it)."""
    log_mass = np.asarray(log_mass, dtype=float)
    return 7.85 * 10.0 ** (-0.081 * (log_mass - np.log10(2e12))) * (1.0 + redshift) ** -0.71


def nfw_radii(concentration: np.ndarray, uniform: np.ndarray,
              truncation: np.ndarray | float = 1.0) -> np.ndarray:
    """r / R_vir of an NFW profile truncated at ``truncation`` R_vir (default the virial
    radius), by inverting its CDF exactly.

    ``m(c s) = u m(c t)`` (``t`` the truncation) is solved in closed form with the
    Lambert W function (``1 + c s = -1 / W0(-exp(-1 - u m(c t)))``). Shapes: broadcast
    of the inputs (``uniform`` in [0, 1]).
    """
    concentration = np.asarray(concentration, dtype=float)
    edge = concentration * np.asarray(truncation, dtype=float)
    p = np.asarray(uniform, dtype=float) * nfw_enclosed(edge)
    w = lambertw(-np.exp(-1.0 - p), 0).real
    return (-1.0 / w - 1.0) / concentration
