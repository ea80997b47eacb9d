"""Gaussian random fields in a periodic box: density, smoothing, Zel'dovich displacement.

Conventions: a cubic box of side ``box`` (Mpc/h) sampled on ``grid`` cells per side;
Fourier modes in numpy's ``rfftn`` layout; the linear density contrast delta has the
colossus linear power spectrum P(k) at the requested redshift. Cell ``(i, j, l)`` spans
``[i, i+1) * box / grid`` along x (and likewise y, z).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..errors import SimulationError
from .cosmology import Cosmology


@dataclass
class LinearField:
    """A realisation of the linear density field.

    Attributes:
        box: box side in Mpc/h.
        grid: cells per side.
        delta_k: Fourier modes of delta, shape ``(grid, grid, grid // 2 + 1)`` complex.
    """

    box: float
    grid: int
    delta_k: np.ndarray
    _smoothed: dict[float, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def cell(self) -> float:
        """Cell side in Mpc/h."""
        return self.box / self.grid

    @cached_property
    def wavevectors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Broadcastable kx, ky, kz in h/Mpc for the rfftn layout."""
        k_full = 2.0 * np.pi * np.fft.fftfreq(self.grid, d=self.cell)
        k_half = 2.0 * np.pi * np.fft.rfftfreq(self.grid, d=self.cell)
        return k_full[:, None, None], k_full[None, :, None], k_half[None, None, :]

    @cached_property
    def k_squared(self) -> np.ndarray:
        kx, ky, kz = self.wavevectors
        return kx**2 + ky**2 + kz**2

    def _real(self, modes: np.ndarray) -> np.ndarray:
        return np.fft.irfftn(modes, s=(self.grid,) * 3, axes=(0, 1, 2))

    def smoothed(self, radius: float) -> np.ndarray:
        """delta smoothed with a Gaussian of width ``radius`` Mpc/h, shape (grid,)*3.

        Results are cached per radius: the halo placement asks for the same few scales
        once per mass bin.
        """
        key = round(float(radius), 6)
        if key not in self._smoothed:
            window = np.exp(-0.5 * self.k_squared * key**2)
            self._smoothed[key] = self._real(self.delta_k * window)
        return self._smoothed[key]

    def displacement(self, radius: float, side: int | None = None) -> np.ndarray:
        """Zel'dovich displacement psi (delta = -div psi), Gaussian-smoothed at ``radius``.

        Args:
            radius: Gaussian smoothing width in Mpc/h.
            side: sample the (band-limited) displacement on a finer ``side^3`` lattice by
                Fourier zero-padding; sample ``J`` of that lattice sits at
                ``J * box / side + cell / 2`` along each axis (cell = the coarse cell).

        Returns:
            shape (3, n, n, n) in Mpc/h (comoving), ``n = side or grid``.
        """
        k_squared = self.k_squared.copy()
        k_squared[0, 0, 0] = 1.0
        base = 1j * self.delta_k * np.exp(-0.5 * self.k_squared * radius**2) / k_squared
        base[0, 0, 0] = 0.0
        side = side or self.grid
        if side < self.grid:
            raise SimulationError(f"side {side} must be >= the grid {self.grid}")
        return np.stack([self._resampled(base * k, side) for k in self.wavevectors])

    def _resampled(self, modes: np.ndarray, side: int) -> np.ndarray:
        """Real field of ``modes`` on a ``side^3`` lattice (zero-padding, Nyquist dropped)."""
        if side == self.grid:
            return self._real(modes)
        half = self.grid // 2
        padded = np.zeros((side, side, side // 2 + 1), dtype=modes.dtype)
        for target, source in (((slice(0, half)), slice(0, half)),
                               ((slice(side - half + 1, side)), slice(half + 1, self.grid))):
            for target_y, source_y in (((slice(0, half)), slice(0, half)),
                                       ((slice(side - half + 1, side)),
                                        slice(half + 1, self.grid))):
                padded[target, target_y, :half] = modes[source, source_y, :half]
        real = np.fft.irfftn(padded, s=(side,) * 3, axes=(0, 1, 2))
        return real * (side / self.grid) ** 3


def gaussian_field(
    cosmology: Cosmology, box: float, grid: int, rng: np.random.Generator, redshift: float = 0.0
) -> LinearField:
    """Draw a linear density field with the colossus P(k) at ``redshift``.

    White noise in real space is coloured in Fourier space, which keeps the modes
    Hermitian by construction; ``<|delta_k|^2> = grid^6 P(k) / box^3``.
    """
    if grid < 8 or grid % 2:
        raise SimulationError(f"grid must be an even number of cells >= 8, got {grid}")
    white = rng.standard_normal((grid, grid, grid))
    modes = np.fft.rfftn(white)
    template = LinearField(box=box, grid=grid, delta_k=modes)
    k = np.sqrt(template.k_squared)
    amplitude = np.sqrt(cosmology.linear_power(k.ravel(), redshift).reshape(k.shape)
                        * grid**3 / box**3)
    modes *= amplitude
    modes[0, 0, 0] = 0.0
    return template


def interpolate(values: np.ndarray, positions: np.ndarray, box: float) -> np.ndarray:
    """Trilinear (cloud-in-cell) interpolation of periodic grid fields at positions.

    Args:
        values: shape (grid, grid, grid) or (c, grid, grid, grid), cell-centred samples.
        positions: shape (n, 3) in Mpc/h, any real values (wrapped periodically).
        box: box side in Mpc/h.

    Returns:
        shape (n,) or (c, n).
    """
    stacked = values if values.ndim == 4 else values[None]
    grid = stacked.shape[-1]
    scaled = positions / (box / grid) - 0.5
    base = np.floor(scaled)
    frac = scaled - base
    base = base.astype(np.int64)
    result = np.zeros((stacked.shape[0], len(positions)))
    for corner in range(8):
        offset = np.array([(corner >> 2) & 1, (corner >> 1) & 1, corner & 1])
        weight = np.prod(np.where(offset == 1, frac, 1.0 - frac), axis=1)
        index = (base + offset) % grid
        flat = np.ravel_multi_index(index.T, (grid,) * 3)
        result += weight * stacked.reshape(stacked.shape[0], -1)[:, flat]
    return result if values.ndim == 4 else result[0]


def wrap(positions: np.ndarray, box: float) -> np.ndarray:
    """Wrap positions into [0, box); guards the float edge case where x % box == box."""
    wrapped = np.mod(positions, box)
    wrapped[wrapped >= box] = 0.0
    return wrapped
