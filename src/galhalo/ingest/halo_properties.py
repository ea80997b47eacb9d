"""Halo and galaxy properties from Subfind fields, and the code units they come in.

Arepo code units (h = ``HubbleParam``, a = ``Time``): masses 1e10 Msun/h; lengths
comoving ckpc/h; velocities km/s (peculiar, physical); ``SubhaloSpin`` the physical
specific angular momentum in (kpc/h)(km/s); ``SubhaloSFR`` Msun/yr. Every formula is in
``docs/ingest.md``.
"""

from __future__ import annotations

import numpy as np

from ..sim.cosmology import GRAVITATIONAL_CONSTANT

__all__ = [
    "DEFAULT_SSFR_FLOOR",
    "DM_TYPE",
    "KPC_PER_MPC",
    "MASS_UNIT",
    "PHOTOMETRIC_BANDS",
    "STAR_TYPE",
    "bullock_spin",
    "specific_sfr",
    "virial_velocity",
]

#: log10 sSFR (1/yr) given to galaxies whose sSFR is lower, in particular SFR = 0.
#: A choice, not a published convention: below every star-forming TNG300 central
#: (1st percentile about -14.6) and inside the schema bounds [-25, -5].
DEFAULT_SSFR_FLOOR = -16.0
#: Particle type of dark matter in the ``...Type`` fields.
DM_TYPE = 1
#: Particle type of stars in the ``...Type`` fields (0 gas, 1 DM, 4 stars, 5 BHs).
STAR_TYPE = 4
#: Band order of ``SubhaloStellarPhotometrics``.
PHOTOMETRIC_BANDS: tuple[str, ...] = ("U", "B", "V", "K", "g", "r", "i", "z")
#: 1e10 Msun/h: the code mass unit.
MASS_UNIT = 1e10
#: ckpc/h per Mpc/h.
KPC_PER_MPC = 1000.0


def virial_velocity(mass: np.ndarray, radius: np.ndarray, scale_factor: float) -> np.ndarray:
    """Circular velocity at the halo boundary, sqrt(G M / R_phys), in km/s.

    Args:
        mass: shape (n,), M_Δ in 1e10 Msun/h (> 0).
        radius: shape (n,), R_Δ in comoving ckpc/h (> 0); made physical by a.
        scale_factor: a = 1 / (1 + z).
    """
    return np.sqrt(GRAVITATIONAL_CONSTANT * mass * MASS_UNIT / (scale_factor * radius))


def bullock_spin(spin: np.ndarray, velocity: np.ndarray, radius: np.ndarray,
                 scale_factor: float) -> np.ndarray:
    """Bullock et al. (2001) spin λ' = |j| / (sqrt(2) V_Δ R_Δ,phys), dimensionless.

    Args:
        spin: shape (n, 3), specific angular momentum in physical (kpc/h)(km/s)
            (``SubhaloSpin``).
        velocity: shape (n,), V_Δ in km/s (:func:`virial_velocity`).
        radius: shape (n,), R_Δ in comoving ckpc/h; made physical by a.
        scale_factor: a = 1 / (1 + z).
    """
    return np.linalg.norm(spin, axis=1) / (np.sqrt(2.0) * velocity * scale_factor * radius)


def specific_sfr(sfr: np.ndarray, stellar_mass: np.ndarray, hubble: float,
                 floor: float) -> tuple[np.ndarray, int, int]:
    """log10 of SFR / M* in 1/yr, raised to ``floor`` where lower (or SFR = 0).

    Args:
        sfr: shape (n,), star-formation rate in Msun/yr (>= 0).
        stellar_mass: shape (n,), M* in 1e10 Msun/h (> 0); divided by h to get Msun.
        hubble: h = H0 / (100 km/s/Mpc).
        floor: log10 sSFR (1/yr) given to every value below it.

    Returns:
        (sSFR shape (n,), number with SFR = 0, number raised to the floor, zeros included).
    """
    with np.errstate(divide="ignore"):
        ssfr = np.log10(sfr / (stellar_mass * MASS_UNIT / hubble))
    floored = ssfr < floor
    ssfr[floored] = floor
    return ssfr, int((sfr == 0).sum()), int(floored.sum())


