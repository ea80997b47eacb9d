"""Sky positions and redshifts for the galaxies of a periodic box: a light-cone, or the
box placed at a redshift.

Geometry (comoving, Mpc/h, the catalog's units):

- :func:`light_cone`: the observer sits at ``observer`` inside the box; the box is
  replicated periodically (copies shifted by integer multiples of its side L) out to the
  comoving distance of ``z_max``; a galaxy copy is kept when it lies inside a circular
  sky patch of ``area`` deg² around ``axis`` and between the distances of ``z_min`` and
  ``z_max``. The default axis (1, 2, 3)/√14 is not along a box axis, which avoids seeing
  the same structures repeated straight along the line of sight.
- :func:`box_at_redshift`: one copy of the box whose centre is at the comoving distance
  of ``redshift`` along the ``los`` axis; every galaxy gets its own distance and
  redshift (so the box spans a small redshift range around ``redshift``).

Redshift: cosmological, from the comoving distance (flat ΛCDM of the catalog's
``meta.cosmology``), times (1 + v_los/c) for the peculiar velocity along the line of
sight when ``velocities`` is true and the catalog has ``vx, vy, vz`` (km/s). The galaxy
properties are the box's (snapshot at ``meta.redshift``): **no evolution** along the
cone. Sky coordinates: the patch is centred on (ra, dec) = (0°, 0°); ra in [0, 360).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..catalog import Catalog
from ..errors import PhotometryError
from .distances import (
    SPEED_OF_LIGHT_KM_S,
    comoving_distance,
    flat_lcdm,
    redshift_at_comoving_distance,
)

__all__ = ["box_at_redshift", "cone_half_angle", "light_cone", "sky_positions"]

_MAX_REPLICAS = 200_000
_AXES = {"x": 0, "y": 1, "z": 2}


def cone_half_angle(area_deg2: float) -> float:
    """Half-opening angle (rad) of a circular patch of solid angle ``area_deg2`` deg²:
    Ω = 2π (1 - cos θ)."""
    if not (math.isfinite(area_deg2) and 0 < area_deg2 <= 41_252.96):
        raise PhotometryError(f"sky area must be in (0, 41253] deg², got {area_deg2}")
    omega = area_deg2 * (math.pi / 180.0) ** 2
    return math.acos(1.0 - omega / (2.0 * math.pi))


def sky_positions(n: int, area_deg2: float, rng: np.random.Generator,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(ra, dec) in degrees of ``n`` points uniform on the sphere inside the circular patch
    of ``area_deg2`` deg² centred on (0°, 0°), the patch of :func:`light_cone`: cos of the
    angle to the centre uniform in [cos θ, 1], azimuth uniform. ra in [0, 360)."""
    cos_angle = rng.uniform(math.cos(cone_half_angle(area_deg2)), 1.0, n)
    azimuth = rng.uniform(0.0, 2.0 * math.pi, n)
    sin_angle = np.sqrt(1.0 - cos_angle**2)
    ra = np.degrees(np.arctan2(sin_angle * np.cos(azimuth), cos_angle)) % 360.0
    dec = np.degrees(np.arcsin(np.clip(sin_angle * np.sin(azimuth), -1.0, 1.0)))
    return ra, dec


def _frame(axis: Sequence[float]) -> np.ndarray:
    """Rows: the unit axis, and two unit vectors completing a right-handed frame."""
    e0 = np.asarray(axis, dtype=float)
    if e0.shape != (3,) or not np.isfinite(e0).all() or not np.linalg.norm(e0) > 0:
        raise PhotometryError(f"axis must be a non-zero 3-vector, got {axis!r}")
    e0 = e0 / np.linalg.norm(e0)
    helper = np.eye(3)[int(np.argmin(np.abs(e0)))]
    e1 = np.cross(helper, e0)
    e1 /= np.linalg.norm(e1)
    return np.stack([e0, e1, np.cross(e0, e1)])


def _box_inputs(catalog: Catalog) -> tuple[np.ndarray, float, np.ndarray | None]:
    table = catalog.table
    missing = [name for name in ("x", "y", "z") if name not in table.columns]
    if missing:
        raise PhotometryError(f"catalog has no column '{missing[0]}' (galaxy positions, "
                              f"Mpc/h, are needed to place the galaxies on the sky)")
    box = catalog.meta.box_size
    if box is None:
        raise PhotometryError("catalog metadata has no box_size: not a periodic box")
    positions = table[["x", "y", "z"]].to_numpy(dtype=float)
    velocities = None
    if all(name in table.columns for name in ("vx", "vy", "vz")):
        velocities = table[["vx", "vy", "vz"]].to_numpy(dtype=float)
    return positions, float(box), velocities


def _observed(rows: np.ndarray, offsets: np.ndarray, velocities: np.ndarray | None,
              frame: np.ndarray, catalog: Catalog, use_velocities: bool) -> pd.DataFrame:
    """Sky coordinates and redshifts of galaxy copies at ``offsets`` from the observer."""
    distance = np.linalg.norm(offsets, axis=1)
    direction = offsets / np.where(distance > 0, distance, 1.0)[:, None]
    local = direction @ frame.T
    ra = np.degrees(np.arctan2(local[:, 1], local[:, 0])) % 360.0
    dec = np.degrees(np.arcsin(np.clip(local[:, 2], -1.0, 1.0)))
    z_cos = redshift_at_comoving_distance(distance, catalog.meta.cosmology)
    redshift = z_cos
    if use_velocities and velocities is not None:
        v_los = np.einsum("ij,ij->i", velocities[rows], direction)
        redshift = (1.0 + z_cos) * (1.0 + v_los / SPEED_OF_LIGHT_KM_S) - 1.0
    return pd.DataFrame({"row": rows, "ra": ra, "dec": dec, "redshift": redshift,
                         "redshift_cosmological": z_cos, "distance": distance})


def light_cone(catalog: Catalog, z_max: float, area: float, *, z_min: float = 0.0,
               observer: Sequence[float] | None = None,
               axis: Sequence[float] = (1.0, 2.0, 3.0), velocities: bool = True,
               ) -> pd.DataFrame:
    """The galaxies of a periodic box seen on a light-cone (see the module docstring).

    Args:
        catalog: a galhalo catalog with ``x, y, z`` (Mpc/h), ``meta.box_size`` and
            ``meta.cosmology`` (``Om0``, ``H0``).
        z_max, z_min: cosmological redshift range, 0 <= z_min < z_max <= 20.
        area: sky patch, deg² (a circle around ``axis``).
        observer: position in the box (Mpc/h); default the box centre.
        axis: line of sight of the patch centre.
        velocities: add the peculiar velocity to the redshift.

    Returns:
        DataFrame, one row per galaxy copy: ``row`` (position in ``catalog.table``),
        ``ra``, ``dec`` (deg), ``redshift`` (observed), ``redshift_cosmological``,
        ``distance`` (comoving, Mpc/h), ``replica`` (the copy's integer shift, as
        ``"i,j,k"``; categorical), sorted by distance.
    """
    if not (math.isfinite(z_max) and 0 <= z_min < z_max <= 20):
        raise PhotometryError(f"light cone: need 0 <= z_min < z_max <= 20, got z_min="
                              f"{z_min}, z_max={z_max}")
    positions, box, vel = _box_inputs(catalog)
    theta = cone_half_angle(area)
    frame = _frame(axis)
    origin = np.full(3, box / 2) if observer is None else np.asarray(observer, dtype=float)
    if origin.shape != (3,) or not np.isfinite(origin).all():
        raise PhotometryError(f"observer must be a finite 3-vector (Mpc/h), got {observer!r}")
    hubble_units = {"H0": 100.0, "Om0": flat_lcdm(catalog.meta.cosmology)[0]}  # Mpc/h
    d_lo, d_hi = (float(d) for d in comoving_distance(np.array([z_min, z_max]),
                                                      hubble_units))
    reach = math.ceil(d_hi / box) + 1
    if (2 * reach + 1) ** 3 > 20 * _MAX_REPLICAS:
        raise PhotometryError(f"light cone: z_max = {z_max} needs ~{2 * reach + 1}³ box "
                              f"replicas of {box:g} Mpc/h; use a bigger box or lower z_max")
    shifts = np.stack(np.meshgrid(*[np.arange(-reach, reach + 1)] * 3, indexing="ij"),
                      axis=-1).reshape(-1, 3)
    centres = (shifts + 0.5) * box - origin
    radius = math.sqrt(3.0) * box / 2
    length = np.linalg.norm(centres, axis=1)
    cos_angle = centres @ frame[0] / np.where(length > 0, length, 1.0)
    angle = np.arccos(np.clip(cos_angle, -1.0, 1.0))
    slack = np.arcsin(np.clip(radius / np.where(length > 0, length, 1.0), 0.0, 1.0))
    near = (length <= radius) | (angle <= theta + slack)
    keep = near & (length - radius <= d_hi) & (length + radius >= d_lo)
    shifts = shifts[keep]
    if shifts.shape[0] > _MAX_REPLICAS:
        raise PhotometryError(f"light cone: {shifts.shape[0]} box replicas needed "
                              f"(limit {_MAX_REPLICAS}); lower the area or z_max")
    cos_theta = math.cos(theta)
    rows, offsets, codes, labels = [], [], [], []
    for shift in shifts:
        offset = positions + shift * box - origin
        distance = np.linalg.norm(offset, axis=1)
        inside = (distance >= d_lo) & (distance <= d_hi) & (
            offset @ frame[0] >= cos_theta * distance) & (distance > 0)
        if inside.any():
            rows.append(np.flatnonzero(inside))
            offsets.append(offset[inside])
            codes.append(np.full(rows[-1].size, len(labels), dtype=np.int32))
            labels.append(f"{shift[0]},{shift[1]},{shift[2]}")
    if not rows:
        raise PhotometryError(f"light cone: no galaxy within {area:g} deg² and "
                              f"z = {z_min:g}-{z_max:g}")
    offset = np.concatenate(offsets)
    # sorted by distance once, in numpy, before the table is built (a stable order)
    order = np.argsort(np.einsum("ij,ij->i", offset, offset), kind="stable")
    cone = _observed(np.concatenate(rows)[order], offset[order], vel, frame, catalog,
                     velocities)
    cone["replica"] = pd.Categorical.from_codes(np.concatenate(codes)[order],
                                                categories=labels)
    return cone


def box_at_redshift(catalog: Catalog, redshift: float, *, los: str = "x",
                    velocities: bool = True) -> pd.DataFrame:
    """Every galaxy of the box once, the box centre at the comoving distance of
    ``redshift`` along axis ``los`` (``"x"``, ``"y"`` or ``"z"``).

    Returns the columns of :func:`light_cone` (``replica`` is ``"0,0,0"``), in the
    catalog's row order.
    """
    if los not in _AXES:
        raise PhotometryError(f"los must be 'x', 'y' or 'z', got {los!r}")
    if not (math.isfinite(redshift) and 0 < redshift <= 20):
        raise PhotometryError(f"box redshift must be in (0, 20], got {redshift}")
    positions, box, vel = _box_inputs(catalog)
    omega, _ = flat_lcdm(catalog.meta.cosmology)
    centre_distance = float(comoving_distance(redshift, {"Om0": omega, "H0": 100.0}))
    if centre_distance <= math.sqrt(3.0) * box / 2:
        raise PhotometryError(f"box at z = {redshift:g}: the box ({box:g} Mpc/h) would "
                              f"contain the observer; use a higher redshift")
    axis = np.eye(3)[_AXES[los]]
    origin = np.full(3, box / 2) - centre_distance * axis
    frame = _frame(axis)
    rows = np.arange(positions.shape[0])
    part = _observed(rows, positions - origin, vel, frame, catalog, velocities)
    part["replica"] = "0,0,0"
    return part
