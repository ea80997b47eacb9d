"""Cosmological distances for a catalog's cosmology (flat ΛCDM, matter + Λ).

The cosmology is a catalog's ``meta.cosmology`` mapping: ``Om0`` (or ``Omega_m``) and
``H0`` in km/s/Mpc (or ``h``). E(z) = sqrt(Ωm (1+z)³ + 1 - Ωm): radiation is neglected
(its effect on distances is < 0.05% at z < 5 for Planck cosmologies).

Distances in **Mpc** (not Mpc/h) unless a name ends in ``_h``; the comoving distance is
``(c/H0) ∫ dz / E(z)``, computed on a fine redshift grid (trapezoid, relative error
< 1e-7) and interpolated, so every function is vectorised.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import PhotometryError

__all__ = [
    "SPEED_OF_LIGHT_KM_S",
    "comoving_distance",
    "distance_modulus",
    "flat_lcdm",
    "luminosity_distance",
    "redshift_at_comoving_distance",
]

#: km/s.
SPEED_OF_LIGHT_KM_S = 299_792.458
_GRID_POINTS = 16_384


def flat_lcdm(cosmology: Mapping[str, Any] | None) -> tuple[float, float]:
    """(Ωm, H0 in km/s/Mpc) from a catalog's cosmology mapping; PhotometryError if absent."""
    params = dict(cosmology or {})
    omega = params.get("Om0", params.get("Omega_m"))
    hubble = params.get("H0")
    if hubble is None and params.get("h") is not None:
        hubble = 100.0 * float(params["h"])
    if omega is None or hubble is None:
        raise PhotometryError(
            f"distances need the cosmology's Om0 (or Omega_m) and H0 (or h); the catalog's "
            f"meta.cosmology has: {', '.join(sorted(params)) or 'nothing'}")
    omega, hubble = float(omega), float(hubble)
    if not (0 < omega <= 1 and math.isfinite(hubble) and hubble > 0):
        raise PhotometryError(f"cosmology: need 0 < Om0 <= 1 and H0 > 0, got Om0={omega}, "
                              f"H0={hubble}")
    return omega, hubble


@lru_cache(maxsize=8)
def _table(z_max: float, omega: float) -> tuple[np.ndarray, np.ndarray]:
    """Redshift grid [0, z_max] (uniform in ln(1+z)) and ∫_0^z dz'/E(z') on it."""
    grid = np.expm1(np.linspace(0.0, np.log1p(z_max), _GRID_POINTS))
    inverse_e = 1.0 / np.sqrt(omega * (1.0 + grid) ** 3 + 1.0 - omega)
    integral = np.concatenate([[0.0], np.cumsum(0.5 * (inverse_e[1:] + inverse_e[:-1])
                                                * np.diff(grid))])
    return grid, integral


def _redshifts(redshift: np.ndarray | float) -> np.ndarray:
    z = np.asarray(redshift, dtype=float)
    if not np.isfinite(z).all() or (z < 0).any():
        raise PhotometryError("redshifts must be finite and >= 0")
    return z


def comoving_distance(redshift: np.ndarray | float,
                      cosmology: Mapping[str, Any] | None, *,
                      table_max: float = 0.0) -> np.ndarray:
    """Line-of-sight comoving distance (Mpc), shape of ``redshift``.

    The interpolation table reaches the largest of ``redshift`` and ``table_max``: give
    ``table_max`` to get, for a part of an array, the numbers of the whole array."""
    z = _redshifts(redshift)
    omega, hubble = flat_lcdm(cosmology)
    top = max(float(z.max(initial=0.0)), float(table_max))
    grid, integral = _table(max(top, 1e-3) * 1.0001, omega)
    return SPEED_OF_LIGHT_KM_S / hubble * np.interp(z, grid, integral)


def luminosity_distance(redshift: np.ndarray | float,
                        cosmology: Mapping[str, Any] | None, *,
                        table_max: float = 0.0) -> np.ndarray:
    """Luminosity distance (Mpc) = (1 + z) × comoving distance (flat), shape of input
    (``table_max``: as for :func:`comoving_distance`)."""
    z = _redshifts(redshift)
    return (1.0 + z) * comoving_distance(z, cosmology, table_max=table_max)


def distance_modulus(redshift: np.ndarray | float,
                     cosmology: Mapping[str, Any] | None, *,
                     table_max: float = 0.0) -> np.ndarray:
    """μ = 5 log10(d_L / 10 pc) (mag); -inf at z = 0 (``table_max``: as for
    :func:`comoving_distance`)."""
    distance = luminosity_distance(redshift, cosmology, table_max=table_max)
    with np.errstate(divide="ignore"):
        return 5.0 * np.log10(distance) + 25.0


def redshift_at_comoving_distance(distance_h: np.ndarray | float,
                                  cosmology: Mapping[str, Any] | None) -> np.ndarray:
    """Redshift at comoving distance ``distance_h`` in **Mpc/h** (simulation units).

    Inverts the tabulated comoving distance (monotonic) by interpolation; raises
    PhotometryError beyond z = 20.
    """
    d = np.asarray(distance_h, dtype=float)
    if not np.isfinite(d).all() or (d < 0).any():
        raise PhotometryError("comoving distances must be finite and >= 0")
    omega, _ = flat_lcdm(cosmology)
    grid, integral = _table(20.0, omega)
    scaled = d / (SPEED_OF_LIGHT_KM_S / 100.0)  # Mpc/h over c/(100 km/s/Mpc)
    if (scaled > integral[-1]).any():
        raise PhotometryError(f"comoving distance {d.max():g} Mpc/h is beyond z = 20")
    return np.interp(scaled, integral, grid)
