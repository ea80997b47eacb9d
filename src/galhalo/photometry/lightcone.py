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
from dataclasses import dataclass, replace

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
#: Cells per box side at most, and (replica, cell) pairs tested at most.
_CELLS_PER_SIDE = 16
_CELL_TESTS = 1_000_000
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
    bad = ~np.isfinite(positions).all(axis=1)
    if bad.any():
        raise PhotometryError(f"catalog row {int(np.flatnonzero(bad)[0])}: galaxy position "
                              f"(x, y, z) is NaN or infinite")
    velocities = None
    if all(name in table.columns for name in ("vx", "vy", "vz")):
        velocities = table[["vx", "vy", "vz"]].to_numpy(dtype=float)
    return positions, float(box), velocities


@dataclass(frozen=True)
class _Sightlines:
    """Per galaxy copy: the unit vector from the observer (n, 3), the cosmological
    redshift (n,) and the observed one (n,; with the peculiar velocity if used)."""

    direction: np.ndarray
    cosmological: np.ndarray
    observed: np.ndarray

    def take(self, index: np.ndarray) -> _Sightlines:
        return _Sightlines(np.take(self.direction, index, axis=0),
                           self.cosmological[index], self.observed[index])


def _sightlines(rows: np.ndarray, offsets: np.ndarray, distance: np.ndarray,
                velocities: np.ndarray | None, catalog: Catalog, use_velocities: bool,
                ) -> _Sightlines:
    """Directions and redshifts of galaxy copies (catalog ``rows``) at ``offsets`` (n, 3)
    from the observer, ``distance`` (n,) away (Mpc/h)."""
    direction = offsets / np.where(distance > 0, distance, 1.0)[:, None]
    z_cos = redshift_at_comoving_distance(distance, catalog.meta.cosmology)
    redshift = z_cos
    if use_velocities and velocities is not None:
        v_los = np.einsum("ij,ij->i", np.take(velocities, rows, axis=0), direction)
        redshift = (1.0 + z_cos) * (1.0 + v_los / SPEED_OF_LIGHT_KM_S) - 1.0
    return _Sightlines(direction, z_cos, redshift)


def _observed(rows: np.ndarray, distance: np.ndarray, lines: _Sightlines,
              frame: np.ndarray) -> pd.DataFrame:
    """The placement table of galaxy copies: their sky coordinates in ``frame``."""
    local = lines.direction @ frame.T
    ra = np.degrees(np.arctan2(local[:, 1], local[:, 0])) % 360.0
    dec = np.degrees(np.arcsin(np.clip(local[:, 2], -1.0, 1.0)))
    return pd.DataFrame({"row": rows, "ra": ra, "dec": dec, "redshift": lines.observed,
                         "redshift_cosmological": lines.cosmological, "distance": distance})


@dataclass(frozen=True)
class _ConeCopies:
    """The galaxy copies inside a light-cone, not yet sorted by distance.

    Attributes:
        rows: (n,) catalog rows.
        offsets: (n, 3) from the observer, Mpc/h; ``distance`` (n,) their norms.
        replica: (n,) each copy's box replica, an index into ``labels`` (the replicas
            holding a copy, ``"i,j,k"``, in the order of :func:`light_cone`'s search).
        frame: the patch's frame (:func:`_frame`); ``velocities`` the catalog's (or None).
    """

    rows: np.ndarray
    offsets: np.ndarray
    distance: np.ndarray
    replica: np.ndarray
    labels: tuple[str, ...]
    frame: np.ndarray
    velocities: np.ndarray | None

    def take(self, select: np.ndarray) -> _ConeCopies:
        """The copies where ``select`` (n, bool) holds, in the same order and labels."""
        at = np.flatnonzero(select)
        return replace(self, rows=self.rows[at], offsets=np.take(self.offsets, at, axis=0),
                       distance=self.distance[at], replica=self.replica[at])

    def cosmological_redshift(self, catalog: Catalog) -> np.ndarray:
        """(n,) the copies' cosmological redshifts (as :meth:`sightlines` has them)."""
        return redshift_at_comoving_distance(self.distance, catalog.meta.cosmology)

    def sightlines(self, catalog: Catalog, use_velocities: bool) -> _Sightlines:
        return _sightlines(self.rows, self.offsets, self.distance, self.velocities, catalog,
                           use_velocities)

    def placement(self, lines: _Sightlines) -> pd.DataFrame:
        """The table of :func:`light_cone` (``lines``: :meth:`sightlines`), sorted by
        distance; copies at equal distances by replica, then row (the order of a stable
        sort of the copies listed replica by replica, rows ascending)."""
        keys = np.einsum("ij,ij->i", self.offsets, self.offsets)
        order = np.argsort(keys)
        ranked = keys[order]
        if (ranked[1:] == ranked[:-1]).any():
            order = np.lexsort((self.rows, self.replica, keys))
        table = _observed(self.rows[order], self.distance[order], lines.take(order),
                          self.frame)
        table["replica"] = pd.Categorical.from_codes(self.replica[order],
                                                    categories=list(self.labels))
        return table


@dataclass(frozen=True)
class _Cells:
    """The box cut into ``per_side``³ cubic cells, each with the galaxies in it (rows in
    ascending order) and the radius of the sphere about the cell centre that holds them."""

    per_side: int
    side: float
    members: np.ndarray  # (N,) rows sorted by cell, ascending within a cell
    positions: np.ndarray  # (N, 3) Mpc/h, the members' positions (in that order)
    starts: np.ndarray  # (C + 1,) each cell's slice of ``members``
    centres: np.ndarray  # (C, 3) Mpc/h
    radii: np.ndarray  # (C,) Mpc/h, 0 for an empty cell

    @classmethod
    def of(cls, positions: np.ndarray, box: float, replicas: int) -> _Cells:
        """Cells of about 13 Mpc/h for a 205 Mpc/h box: at most 16 per side, ~8
        galaxies per cell or more, and at most ~1e6 (replica, cell) pairs to test."""
        n = positions.shape[0]
        per_side = int(max(1, min(_CELLS_PER_SIDE, round((n / 8) ** (1 / 3)),
                                  round((_CELL_TESTS / max(replicas, 1)) ** (1 / 3)))))
        side = box / per_side
        index = np.clip(np.floor(positions / side), 0, per_side - 1).astype(np.int64)
        cell = (index[:, 0] * per_side + index[:, 1]) * per_side + index[:, 2]
        members = np.argsort(cell.astype(np.int16), kind="stable")  # < 2^15 cells: radix
        counts = np.bincount(cell, minlength=per_side**3)
        starts = np.concatenate([[0], np.cumsum(counts)])
        grid = np.stack(np.meshgrid(*[np.arange(per_side)] * 3, indexing="ij"),
                        axis=-1).reshape(-1, 3)
        centres = (grid + 0.5) * side
        # the spheres hold every member: the cube's half-diagonal, or where galaxies lie
        # outside [0, box] (a catalog may hold some a rounding outside), the farthest
        # member; a margin for the rounding of the tests in near_cone
        if ((positions >= 0.0) & (positions <= box)).all():
            radii = np.where(counts > 0, math.sqrt(3.0) * side / 2, 0.0)
        else:
            reach = np.linalg.norm(positions[members] - centres[cell[members]], axis=1)
            radii = np.zeros(per_side**3)
            filled = np.flatnonzero(counts)
            radii[filled] = np.maximum.reduceat(reach, starts[filled])
        radii = radii * (1.0 + 1e-9) + 1e-9 * box
        return cls(per_side, side, members, positions[members], starts, centres, radii)

    def near_cone(self, shifts: np.ndarray, box: float, origin: np.ndarray,
                  axis: np.ndarray, theta: float, d_lo: float, d_hi: float,
                  ) -> tuple[np.ndarray, np.ndarray]:
        """The galaxies of the cells whose sphere reaches the cone (half-angle ``theta``
        about the unit ``axis``, distances ``d_lo``-``d_hi``) in each box replica
        (``shifts`` (S, 3)): (their slots in ``members``, replica index into ``shifts``),
        a superset of the galaxy copies in the cone, replica by replica.

        A sphere (centre c, radius r) misses the cone when its centre is farther than r
        from it: c at distance a along the axis and b off it is b cos θ - a sin θ from
        the cone's surface (or farther, from its apex), and |c| ± r bounds its points'
        distances."""
        filled = np.flatnonzero(self.starts[1:] > self.starts[:-1])
        centres = (shifts * box - origin)[:, None, :] + self.centres[filled][None, :, :]
        along = centres @ axis
        length2 = np.einsum("scj,scj->sc", centres, centres)
        length = np.sqrt(length2)
        off = np.sqrt(np.maximum(length2 - along * along, 0.0))
        radius = self.radii[filled]
        near = (off * math.cos(theta) - along * math.sin(theta) <= radius) | (
            length <= radius)
        near &= (length - radius <= d_hi) & (length + radius >= d_lo)
        replica, cell = np.nonzero(near)
        first = self.starts[filled[cell]]
        sizes = self.starts[filled[cell] + 1] - first
        # the members of each chosen cell, one contiguous slice of `members` each
        at = np.arange(int(sizes.sum())) + np.repeat(first - (np.cumsum(sizes) - sizes),
                                                     sizes)
        return at, np.repeat(replica, sizes)

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
    copies = _cone_copies(catalog, z_max, area, z_min=z_min, observer=observer, axis=axis)
    return copies.placement(copies.sightlines(catalog, velocities))


def _cone_copies(catalog: Catalog, z_max: float, area: float, *, z_min: float = 0.0,
                 observer: Sequence[float] | None = None,
                 axis: Sequence[float] = (1.0, 2.0, 3.0)) -> _ConeCopies:
    """The galaxy copies of :func:`light_cone` (same arguments), before their sight lines
    and sorting. Replicas near the cone (their bounding sphere), then cells of them near
    it (:class:`_Cells`), then the galaxies of those cells tested one by one."""
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
    cells = _Cells.of(positions, box, shifts.shape[0])
    slots, replica = cells.near_cone(shifts, box, origin, frame[0], theta, d_lo, d_hi)
    # the same operations, copy by copy, as positions[rows] + shift * box - origin and
    # np.linalg.norm(offset, axis=1) (x² + y² + z², summed in that order)
    offset = np.take(cells.positions, slots, axis=0)  # (take: faster than [slots])
    offset += np.take(shifts * box, replica, axis=0)
    offset -= origin
    distance = np.sqrt(offset[:, 0] * offset[:, 0] + offset[:, 1] * offset[:, 1]
                       + offset[:, 2] * offset[:, 2])
    inside = (distance >= d_lo) & (distance <= d_hi) & (
        offset @ frame[0] >= math.cos(theta) * distance) & (distance > 0)
    if not inside.any():
        raise PhotometryError(f"light cone: no galaxy within {area:g} deg² and "
                              f"z = {z_min:g}-{z_max:g}")
    inside_at = np.flatnonzero(inside)
    replica = replica[inside_at]
    present = np.flatnonzero(np.bincount(replica, minlength=shifts.shape[0]))
    labels = tuple(f"{i},{j},{k}" for i, j, k in shifts[present])
    return _ConeCopies(cells.members[slots[inside_at]], np.take(offset, inside_at, axis=0),
                       distance[inside_at], np.searchsorted(present, replica).astype(np.int32),
                       labels, frame, vel)


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
    offsets = positions - origin
    distance = np.linalg.norm(offsets, axis=1)
    part = _observed(rows, distance, _sightlines(rows, offsets, distance, vel, catalog,
                                                 velocities), frame)
    part["replica"] = "0,0,0"
    return part
