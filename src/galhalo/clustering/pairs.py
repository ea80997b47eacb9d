"""Pair counts with Corrfunc, per binning geometry, with the closed forms the analytic
randoms and the jackknife need.

A :class:`Geometry` knows how pairs are binned: its Corrfunc call (ordered pairs of
distinct points, periodic box), the volume of each cell and, for a jackknife cube of
side a, the integral over each cell of the overlap volume of the cube with itself
shifted by the separation vector, ``K(cell) = int prod_i (a - |d_i|) d^3d`` (used by
:mod:`.jackknife`). Three geometries:

* :class:`Shells`: spherical shells [r_i, r_i+1) (``Corrfunc.theory.DD``), xi(r);
* :class:`CylinderCells`: (rp, |pi|) cells, pi in 1 Mpc/h steps (``DDrppi``), wp(rp);
* :class:`MuCells`: (s, |mu|) cells with the line of sight along z (``DDsmu``),
  multipoles.

Units: separations and cell volumes in Mpc/h and (Mpc/h)^3.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["CylinderCells", "Geometry", "MuCells", "Shells", "pair_counts"]


class Geometry:
    """How pairs are binned: Corrfunc call, cell volumes and cube self-overlaps K."""

    reach: float  # largest separation along any axis, Mpc/h

    def count(self, first: np.ndarray, second: np.ndarray | None, box: float,
              nthreads: int) -> np.ndarray:
        """Ordered pairs per cell (cells,) of ``first`` (n, 3) with ``second`` (m, 3), or
        of ``first`` with itself when ``second`` is None; periodic box of side ``box``."""
        raise NotImplementedError

    def volumes(self) -> np.ndarray:
        """Volume of each cell (cells,), (Mpc/h)^3."""
        raise NotImplementedError

    def overlaps(self, side: float) -> np.ndarray:
        """K(cell) (cells,) for a cube of side ``side`` Mpc/h: (Mpc/h)^6."""
        raise NotImplementedError


def _corrfunc_args(first: np.ndarray, second: np.ndarray | None) -> dict[str, Any]:
    args: dict[str, Any] = {"autocorr": 1 if second is None else 0,
                            "X1": first[:, 0], "Y1": first[:, 1], "Z1": first[:, 2]}
    if second is not None:
        args.update(X2=second[:, 0], Y2=second[:, 1], Z2=second[:, 2])
    return args


class Shells(Geometry):
    """Spherical shells [r_i, r_i+1): Corrfunc.theory.DD."""

    def __init__(self, edges: np.ndarray):
        self.edges = edges
        self.reach = float(edges[-1])

    def count(self, first, second, box, nthreads):
        from Corrfunc.theory import DD

        result = DD(nthreads=nthreads, binfile=self.edges, periodic=True, boxsize=box,
                    **_corrfunc_args(first, second))
        return result["npairs"].astype(np.float64)

    def volumes(self):
        return 4.0 / 3.0 * np.pi * np.diff(self.edges**3)

    def overlaps(self, side):
        # Direction average of prod_i (a - |d_i|) at |d| = r <= a:
        # a^3 - 3/2 a^2 r + 2/pi a r^2 - r^3 / (4 pi); times 4 pi r^2, integrated over r.
        def antiderivative(r: np.ndarray) -> np.ndarray:
            return (4.0 * np.pi / 3.0 * side**3 * r**3 - 1.5 * np.pi * side**2 * r**4
                    + 1.6 * side * r**5 - r**6 / 6.0)

        return np.diff(antiderivative(self.edges))


class CylinderCells(Geometry):
    """(rp, |pi|) cells, rp edges given, pi in 1 Mpc/h steps to pi_max: DDrppi."""

    def __init__(self, edges: np.ndarray, pi_max: float):
        self.edges = edges
        self.pi_max = pi_max
        self.pi_edges = np.arange(int(pi_max) + 1, dtype=np.float64)
        self.reach = float(max(edges[-1], pi_max))

    def count(self, first, second, box, nthreads):
        from Corrfunc.theory import DDrppi

        result = DDrppi(nthreads=nthreads, pimax=self.pi_max, binfile=self.edges,
                        periodic=True, boxsize=box, **_corrfunc_args(first, second))
        return result["npairs"].astype(np.float64)  # rp-major, pi-minor

    def volumes(self):
        ring = np.pi * np.diff(self.edges**2)
        depth = 2.0 * np.diff(self.pi_edges)  # both signs of pi
        return np.outer(ring, depth).ravel()

    def overlaps(self, side):
        # Average over the azimuth of (a - rp|cos|)(a - rp|sin|) = a^2 - 4/pi a rp + rp^2/pi,
        # times 2 pi rp; and (a - |pi|) over both signs of pi.
        rp, pi = self.edges, self.pi_edges
        ring = np.diff(np.pi * side**2 * rp**2 - 8.0 / 3.0 * side * rp**3 + rp**4 / 2.0)
        depth = np.diff(2.0 * (side * pi - pi**2 / 2.0))
        return np.outer(ring, depth).ravel()


class MuCells(Geometry):
    """(s, |mu|) cells with the line of sight along z: Corrfunc.theory.DDsmu."""

    _NODES = 24  # Gauss-Legendre nodes per mu bin (in theta, where the integrand is smooth)

    def __init__(self, edges: np.ndarray, mu_bins: int):
        self.edges = edges
        self.mu_bins = mu_bins
        self.mu_edges = np.linspace(0.0, 1.0, mu_bins + 1)
        self.reach = float(edges[-1])

    def count(self, first, second, box, nthreads):
        from Corrfunc.theory import DDsmu

        result = DDsmu(nthreads=nthreads, binfile=self.edges, mu_max=1.0,
                       nmu_bins=self.mu_bins, periodic=True, boxsize=box,
                       **_corrfunc_args(first, second))
        return result["npairs"].astype(np.float64)  # s-major, mu-minor

    def volumes(self):
        shell = 4.0 / 3.0 * np.pi * np.diff(self.edges**3)
        return np.outer(shell, np.diff(self.mu_edges)).ravel()

    def overlaps(self, side):
        # d = s (sin t cos f, sin t sin f, cos t); averaging over f gives
        # (a - s cos t)(a^2 - 4/pi a s sin t + s^2 sin^2 t / pi); times 2 pi s^2 sin t and
        # 2 for both signs of mu; integrated in s exactly (powers S_n) and in t numerically.
        s = self.edges
        powers = {n: np.diff(s**n) / n for n in (3, 4, 5, 6)}
        nodes, weights = np.polynomial.legendre.leggauss(self._NODES)
        out = np.empty((len(s) - 1, self.mu_bins))
        for j in range(self.mu_bins):
            t_lo, t_hi = np.arccos(self.mu_edges[j + 1]), np.arccos(self.mu_edges[j])
            t = 0.5 * (t_hi - t_lo) * nodes + 0.5 * (t_hi + t_lo)
            w = 0.5 * (t_hi - t_lo) * weights * np.sin(t)
            sin, cos = np.sin(t), np.cos(t)
            terms = (side**3 * np.outer(powers[3], np.ones_like(t))
                     - side**2 * np.outer(powers[4], 4.0 / np.pi * sin + cos)
                     + side * np.outer(powers[5], (sin**2 + 4.0 * cos * sin) / np.pi)
                     - np.outer(powers[6], cos * sin**2 / np.pi))
            out[:, j] = 4.0 * np.pi * terms @ w
        return out.ravel()


def pair_counts(geometry: Geometry, first: np.ndarray, second: np.ndarray | None,
                box: float, nthreads: int) -> np.ndarray:
    """Ordered pair counts per cell (cells,); zero without points (Corrfunc needs some).

    ``second`` None: the auto-count of ``first`` (each pair twice).
    """
    cells = len(geometry.volumes())
    if len(first) == 0 or (second is not None and len(second) == 0):
        return np.zeros(cells)
    return geometry.count(first, second, box, nthreads)
