"""Redshift-space positions in a periodic box (plane-parallel: one axis is the line of
sight).

A galaxy at comoving position x with peculiar velocity v appears at
``x + v_los (1 + z) / H(z)`` along the line of sight, with ``H(z) = 100 E(z)`` km/s per
Mpc/h. Units: positions in Mpc/h (comoving), velocities in km/s.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ClusteringError
from ._checks import AXES, check_positions, line_of_sight_order

__all__ = ["redshift_space", "rsd_shift"]

#: H0 in km/s per Mpc/h.
_H100 = 100.0


def rsd_shift(redshift: float, cosmology: dict[str, Any] | None) -> float:
    """Mpc/h of line-of-sight displacement per km/s of peculiar velocity: (1 + z) / H(z).

    ``H(z) = 100 E(z)`` km/s per Mpc/h; E(z) from colossus for the flat LCDM
    ``cosmology`` (a catalog's ``meta.cosmology``, needs ``Om0``); at z = 0 E = 1 and the
    cosmology is not needed.
    """
    if not (math.isfinite(redshift) and redshift >= 0):
        raise ClusteringError(f"redshift must be finite and >= 0, got {redshift}")
    if redshift == 0:
        return 1.0 / _H100
    from ..sim.cosmology import Cosmology

    params = dict(cosmology or {})
    if "Om0" not in params:
        raise ClusteringError(
            f"redshift-space positions at z = {redshift:g} need the cosmology's Om0 "
            f"(catalog.meta.cosmology has: {sorted(params) or 'nothing'})")
    known = {key: params[key] for key in ("name", "Om0", "Ob0", "H0", "sigma8", "ns")
             if key in params}
    efunc = float(Cosmology(**known).colossus().Ez(redshift))
    return (1.0 + redshift) / (_H100 * efunc)


def redshift_space(positions: Any, velocities: Any, box_size: float, los: str = "z",
                   redshift: float = 0.0, cosmology: dict[str, Any] | None = None,
                   ) -> np.ndarray:
    """Positions moved along ``los`` by v_los (1 + z) / H(z), wrapped into the box.

    Args:
        positions: (n, 3) Mpc/h in [0, box_size).
        velocities: (n, 3) peculiar velocities, km/s.
        box_size: Mpc/h.
        los: the line-of-sight axis, ``"x"``, ``"y"`` or ``"z"``.
        redshift, cosmology: of the snapshot (see :func:`rsd_shift`).

    Returns:
        New (n, 3) array in [0, box_size).
    """
    moved = check_positions(positions, box_size).copy()
    speed = np.asarray(velocities, dtype=np.float64)
    if speed.shape != moved.shape:
        raise ClusteringError(f"velocities must have the positions' shape {moved.shape}, "
                              f"got {speed.shape}")
    if not np.isfinite(speed).all():
        raise ClusteringError("velocities: NaN or inf values")
    line_of_sight_order(los)  # validates the axis name
    axis = AXES[los]
    moved[:, axis] = np.mod(moved[:, axis] + speed[:, axis] * rsd_shift(redshift, cosmology),
                            box_size)
    moved[moved >= box_size] = 0.0  # np.mod can round a tiny negative up to box_size
    return moved
