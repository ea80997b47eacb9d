"""Observational systematics applied to a box of galaxies, at training or test time.

Following the robustness study of [dS23]'s follow-up, each effect is one function of a
:class:`~galhalo.cosmo.graphs.Galaxies` and a random generator, and
:class:`Systematics` chains them in the order an observation suffers them:

1. stellar-mass selection: keep galaxies with ``smass >= stellar_mass_min``;
2. redshift space: z moves by v_z (1 + z) / H(z) (wrapped; the line of sight is the z
   axis) and only the line-of-sight velocity v_z is kept, as a survey measures it;
3. Gaussian errors: ``position_error`` (Mpc/h, each coordinate, wrapped into the box)
   and ``velocity_error`` (km/s, each velocity component kept);
4. masks: the box is cut into ``mask_cells``^3 cubic cells and a random
   ``mask_fraction`` of them (rounded to whole cells) is emptied.

Redshift-space distortions use the true velocity (the redshift measures it); the
errors then apply to what is observed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from ..clustering import redshift_space
from ..errors import ClusteringError
from .graphs import CosmoError, Galaxies

__all__ = [
    "Systematics",
    "add_errors",
    "apply_mask",
    "random_mask",
    "select_stellar_mass",
    "to_redshift_space",
]


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def select_stellar_mass(galaxies: Galaxies, minimum: float) -> Galaxies:
    """Galaxies with ``smass >= minimum`` (log10 Msun/h); needs the ``smass`` property."""
    if "smass" not in galaxies.properties:
        raise CosmoError("a stellar-mass selection needs the galaxy property 'smass'")
    if not math.isfinite(minimum):
        raise CosmoError(f"stellar_mass_min must be finite, got {minimum}")
    return galaxies.select(galaxies.properties["smass"] >= minimum)


def to_redshift_space(galaxies: Galaxies, fiducial_omega_m: float = 0.3) -> Galaxies:
    """Positions moved along z by v_z (1 + z) / H(z) (H = 100 E(z) km/s per Mpc/h, flat
    LCDM with the observer's fiducial Omega_m; E = 1 at z = 0), wrapped into the box;
    velocities reduced to the line-of-sight component, shape (n, 1)."""
    if galaxies.line_of_sight_only:
        raise CosmoError("these galaxies are in redshift space already (only v_los kept)")
    try:
        moved = redshift_space(galaxies.positions, galaxies.velocities, galaxies.box_size,
                               "z", galaxies.redshift, {"Om0": fiducial_omega_m})
    except ClusteringError as err:
        raise CosmoError(str(err)) from None
    return replace(galaxies, positions=moved, velocities=galaxies.velocities[:, 2:3])


def _wrap(positions: np.ndarray, box_size: float) -> np.ndarray:
    wrapped = np.mod(positions, box_size)
    wrapped[wrapped >= box_size] = 0.0  # np.mod can round a tiny negative up to the box
    return wrapped


def _check_errors(position_error: float, velocity_error: float) -> None:
    for name, value in (("position_error", position_error),
                        ("velocity_error", velocity_error)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not (
                math.isfinite(value) and value >= 0):
            raise CosmoError(f"{name} must be a finite number >= 0, got {value!r}")


def add_errors(galaxies: Galaxies, position_error: float = 0.0, velocity_error: float = 0.0,
               seed: int | np.random.Generator = 0) -> Galaxies:
    """Independent Gaussian errors: ``position_error`` (Mpc/h) on each coordinate
    (wrapped into the box), ``velocity_error`` (km/s) on each velocity component."""
    _check_errors(position_error, velocity_error)
    rng = _rng(seed)
    positions, velocities = galaxies.positions, galaxies.velocities
    if position_error > 0:
        positions = _wrap(positions + rng.normal(0, position_error, positions.shape),
                          galaxies.box_size)
    if velocity_error > 0:
        velocities = velocities + rng.normal(0, velocity_error, velocities.shape)
    return replace(galaxies, positions=positions, velocities=velocities)


def random_mask(fraction: float, cells: int, seed: int | np.random.Generator = 0
                ) -> np.ndarray:
    """A boolean (cells, cells, cells) array, True for masked cells: round(fraction *
    cells^3) of them, chosen uniformly without replacement."""
    if not 0 <= fraction < 1:
        raise CosmoError(f"mask_fraction must be in [0, 1), got {fraction}")
    if isinstance(cells, bool) or int(cells) != cells or cells < 1:
        raise CosmoError(f"mask_cells must be a positive integer, got {cells}")
    cells = int(cells)
    n_masked = round(fraction * cells**3)
    mask = np.zeros(cells**3, dtype=bool)
    mask[_rng(seed).choice(cells**3, n_masked, replace=False)] = True
    return mask.reshape(cells, cells, cells)


def apply_mask(galaxies: Galaxies, mask: np.ndarray) -> Galaxies:
    """Remove the galaxies inside masked cells; ``mask`` is boolean (c, c, c) over the box
    (cell [i, j, k] covers x in [i, i + 1) L / c, and so on)."""
    mask = np.asarray(mask)
    if mask.dtype != np.bool_ or mask.ndim != 3 or len(set(mask.shape)) != 1:
        raise CosmoError(f"mask must be a boolean cube (c, c, c), got {mask.dtype} "
                         f"{mask.shape}")
    cells = mask.shape[0]
    index = np.minimum((galaxies.positions / galaxies.box_size * cells).astype(int), cells - 1)
    return galaxies.select(~mask[index[:, 0], index[:, 1], index[:, 2]])


@dataclass(frozen=True)
class Systematics:
    """The observational effects to apply (all off by default); see the module notes.

    Attributes:
        redshift_space: positions in redshift space along z, only v_z kept.
        mask_fraction: fraction of the box volume emptied, in whole cubic cells.
        mask_cells: cells per side of the mask grid.
        position_error: Gaussian error per coordinate, Mpc/h.
        velocity_error: Gaussian error per velocity component, km/s.
        stellar_mass_min: keep galaxies with smass >= this (log10 Msun/h); None: all.
        fiducial_omega_m: the observer's Omega_m for H(z) at z > 0.
    """

    redshift_space: bool = False
    mask_fraction: float = 0.0
    mask_cells: int = 5
    position_error: float = 0.0
    velocity_error: float = 0.0
    stellar_mass_min: float | None = None
    fiducial_omega_m: float = 0.3

    def __post_init__(self) -> None:
        random_mask(self.mask_fraction, self.mask_cells)  # validates both
        _check_errors(self.position_error, self.velocity_error)
        if self.stellar_mass_min is not None and not math.isfinite(self.stellar_mass_min):
            raise CosmoError(f"stellar_mass_min must be finite, got {self.stellar_mass_min}")
        if not 0 < self.fiducial_omega_m <= 1:
            raise CosmoError(f"fiducial_omega_m must be in (0, 1], got {self.fiducial_omega_m}")

    @property
    def active(self) -> bool:
        """True if any effect is switched on."""
        return self != Systematics(fiducial_omega_m=self.fiducial_omega_m,
                                   mask_cells=self.mask_cells)

    def apply(self, galaxies: Galaxies, seed: int | np.random.Generator = 0) -> Galaxies:
        """The observed version of ``galaxies``; the same seed gives the same result."""
        rng = _rng(seed)
        if self.stellar_mass_min is not None:
            galaxies = select_stellar_mass(galaxies, self.stellar_mass_min)
        if self.redshift_space:
            galaxies = to_redshift_space(galaxies, self.fiducial_omega_m)
        galaxies = add_errors(galaxies, self.position_error, self.velocity_error, rng)
        if self.mask_fraction > 0:
            galaxies = apply_mask(galaxies, random_mask(self.mask_fraction, self.mask_cells,
                                                        rng))
        return galaxies

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Systematics:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CosmoError(f"unknown systematics {unknown}; known: {sorted(known)}")
        return cls(**data)
