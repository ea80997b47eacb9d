"""Virial radius of a halo from its mass, redshift and a flat LCDM Omega_m.

A closed form with no cosmology library, so that the catalog-level code (evaluate)
can turn a host's ``M_h`` into its virial radius without importing ``galhalo.sim``.
The virial overdensity is Bryan & Norman's (1998, ApJ 495, 80) fit for flat LCDM,
``Delta_c = 18 pi^2 + 82 x - 39 x^2`` with ``x = Omega_m(z) - 1``, relative to the
critical density at z: the definition colossus calls ``"vir"`` and the one the
catalog's ``M_h`` (log10 virial mass) and ``r_host`` (r / R_vir) refer to.

Units: masses log10(Msun/h); radii comoving Mpc/h.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import CatalogError

__all__ = ["DEFAULT_OMEGA_M", "GRAVITY", "RHO_CRIT", "omega_m_of", "virial_overdensity",
           "virial_radius", "virial_velocity"]

#: Critical density today, (Msun/h) / (Mpc/h)^3 (3 H0^2 / 8 pi G with H0 = 100 h).
RHO_CRIT = 2.77536627e11
#: Gravitational constant, (km/s)^2 Mpc / Msun.
GRAVITY = 4.30091e-9
#: Omega_m when a catalog carries no cosmology: Planck 2015 (the TNG cosmology).
DEFAULT_OMEGA_M = 0.3089


def _check(omega_m: float, redshift: float) -> None:
    if not (math.isfinite(omega_m) and 0 < omega_m <= 1):
        raise CatalogError(f"Omega_m must be in (0, 1] for a flat LCDM virial radius, "
                           f"got {omega_m}")
    if not (math.isfinite(redshift) and redshift >= 0):
        raise CatalogError(f"redshift must be finite and >= 0, got {redshift}")


def virial_overdensity(redshift: float = 0.0, omega_m: float = DEFAULT_OMEGA_M) -> float:
    """Bryan & Norman Delta_c(z) (flat LCDM), relative to the critical density at z."""
    _check(omega_m, redshift)
    cube = omega_m * (1.0 + redshift) ** 3
    x = cube / (cube + 1.0 - omega_m) - 1.0
    return 18.0 * math.pi**2 + 82.0 * x - 39.0 * x**2


def virial_radius(log_mass: Any, redshift: float = 0.0,
                  omega_m: float = DEFAULT_OMEGA_M) -> np.ndarray:
    """Comoving virial radius (Mpc/h) of halos of virial mass ``10**log_mass`` Msun/h.

    ``R = (1 + z) [3 M / (4 pi Delta_c(z) rho_c(z))]^(1/3)`` with ``rho_c(z) = rho_c,0
    E(z)^2``, ``E^2 = Omega_m (1 + z)^3 + 1 - Omega_m``. ``log_mass``: any shape; the
    result has its shape. About 1.0 Mpc/h for 10^14 Msun/h at z = 0 (Omega_m = 0.31).
    """
    _check(omega_m, redshift)
    mass = 10.0 ** np.asarray(log_mass, dtype=float)
    e2 = omega_m * (1.0 + redshift) ** 3 + 1.0 - omega_m
    density = virial_overdensity(redshift, omega_m) * RHO_CRIT * e2
    return (1.0 + redshift) * (3.0 * mass / (4.0 * np.pi * density)) ** (1.0 / 3.0)


def virial_velocity(log_mass: Any, redshift: float = 0.0,
                    omega_m: float = DEFAULT_OMEGA_M) -> np.ndarray:
    """Circular velocity at the virial radius, ``V_vir = sqrt(G M / R_vir)`` in km/s, with
    ``R_vir`` physical (:func:`virial_radius` / (1 + z)); masses in Msun/h and radii in
    Mpc/h make ``G M / R`` independent of h. ``log_mass``: any shape; the result has it."""
    physical = virial_radius(log_mass, redshift, omega_m) / (1.0 + redshift)
    return np.sqrt(GRAVITY * 10.0 ** np.asarray(log_mass, dtype=float) / physical)


def omega_m_of(cosmology: Mapping[str, Any] | None) -> float:
    """``Om0`` of a catalog's ``meta.cosmology`` mapping, or :data:`DEFAULT_OMEGA_M`."""
    if not cosmology or cosmology.get("Om0") is None:
        return DEFAULT_OMEGA_M
    try:
        return float(cosmology["Om0"])
    except (TypeError, ValueError):
        raise CatalogError(f"meta.cosmology Om0 must be a number, got "
                           f"{cosmology['Om0']!r}") from None
