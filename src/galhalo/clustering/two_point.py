"""Two-point correlation functions in a periodic box: xi(r), wp(rp) and the Legendre
multipoles xi_l(s), auto or cross, each with delete-one jackknife copies.

Estimator. In a periodic box of side L (volume V = L^3), N points have on average
``RR = N (N - 1) V_cell / V`` ordered pairs of distinct points whose separation vector
falls in a cell of volume ``V_cell`` (a spherical shell, an (rp, |pi|) cylinder cell or an
(s, |mu|) cell). Corrfunc counts the ordered pairs DD (each pair twice in an
auto-correlation), and ``xi = DD / RR - 1`` (the natural estimator, exact with analytic
randoms). A cross-correlation of populations 1 and 2 uses ``RR = N1 N2 V_cell / V``.
Pair counts: :mod:`.pairs`; jackknife: :mod:`.jackknife`; argument checks:
:func:`~._checks.check_arguments`.

Units: positions and separations in Mpc/h (comoving).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._checks import check_arguments
from .correlation import Correlation
from .jackknife import canonical_copies, correlate
from .pairs import CylinderCells, MuCells, Shells

__all__ = [
    "DEFAULT_JACKKNIFE",
    "DEFAULT_MU_BINS",
    "DEFAULT_PI_MAX",
    "DEFAULT_R_EDGES",
    "DEFAULT_THREADS",
    "MIN_POINTS",
    "multipoles",
    "wp",
    "xi",
]

#: Default separation bin edges, Mpc/h: 1.25 * 2^(k/3), k = 0..15, i.e. 1.25 to 40 with
#: three log bins per factor of two; 10 and 40 (the default bias-fit range) are edges.
DEFAULT_R_EDGES: np.ndarray = 1.25 * 2.0 ** (np.arange(16) / 3.0)
#: Default line-of-sight integration depth of wp(rp), Mpc/h (Corrfunc's 1 Mpc/h pi bins).
DEFAULT_PI_MAX = 40.0
#: Default number of |mu| bins in [0, 1] for the multipoles.
DEFAULT_MU_BINS = 20
#: Default jackknife cubes per box side (n^3 copies).
DEFAULT_JACKKNIFE = 3
#: Default Corrfunc threads.
DEFAULT_THREADS = 2
#: Default smallest population a clustering measurement accepts.
MIN_POINTS = 100


def xi(positions: Any, box_size: float, edges: Any = DEFAULT_R_EDGES, *, others: Any = None,
       jackknife: int = DEFAULT_JACKKNIFE, nthreads: int = DEFAULT_THREADS,
       min_points: int = MIN_POINTS) -> Correlation:
    """Real-space two-point correlation xi(r) in a periodic box, analytic randoms.

    Args:
        positions: (n, 3) comoving positions in [0, box_size), Mpc/h.
        box_size: periodic box side, Mpc/h.
        edges: separation bin edges (bins + 1,), Mpc/h, increasing, > 0; the last must
            not exceed the jackknife cube side ``box_size / jackknife``.
        others: (m, 3) positions of a second population: the cross-correlation.
        jackknife: cubes per box side (``jackknife^3`` delete-one copies).
        nthreads: Corrfunc threads.
        min_points: smallest accepted population.

    Returns:
        :class:`Correlation` ``"xi"`` (or ``"xi cross"``): value (bins,), copies
        (jackknife^3, bins).
    """
    args = check_arguments(positions, box_size, others=others, edges=edges,
                           jackknife=jackknife, nthreads=nthreads, min_points=min_points)
    full, copies = correlate(Shells(args.edges), args.first, args.second, box_size,
                             jackknife, nthreads)
    name = "xi" if args.second is None else "xi cross"
    return Correlation(name, args.edges, full, copies, args.counts,
                       {"box_size": box_size, "jackknife": jackknife})


def wp(positions: Any, box_size: float, edges: Any = DEFAULT_R_EDGES, *,
       pi_max: float = DEFAULT_PI_MAX, los: str = "z", others: Any = None,
       jackknife: int = DEFAULT_JACKKNIFE, nthreads: int = DEFAULT_THREADS,
       min_points: int = MIN_POINTS) -> Correlation:
    """Projected correlation wp(rp) = 2 sum_pi xi(rp, pi) dpi, |pi| < pi_max in 1 Mpc/h steps.

    Args as :func:`xi`, plus ``pi_max`` (a whole number of Mpc/h, at most the jackknife
    cube side) and ``los``, the line-of-sight axis (``"x"``, ``"y"`` or ``"z"``).
    Positions may be real- or redshift-space (:func:`~.redshift_space.redshift_space`).

    Returns:
        :class:`Correlation` ``"wp"`` in Mpc/h, per rp bin (bins,).
    """
    args = check_arguments(positions, box_size, others=others, edges=edges,
                           jackknife=jackknife, nthreads=nthreads, min_points=min_points,
                           los=los, pi_max=pi_max)
    geometry = CylinderCells(args.edges, float(pi_max))
    full, copies = _along_line_of_sight(geometry, args, box_size, jackknife, nthreads)
    depth = np.diff(geometry.pi_edges)

    def project(cells: np.ndarray) -> np.ndarray:
        shaped = cells.reshape(*cells.shape[:-1], len(args.edges) - 1, len(depth))
        return 2.0 * shaped @ depth

    name = "wp" if args.second is None else "wp cross"
    return Correlation(name, args.edges, project(full), project(copies), args.counts,
                       {"box_size": box_size, "jackknife": jackknife, "pi_max": pi_max,
                        "los": los})


def multipoles(positions: Any, box_size: float, edges: Any = DEFAULT_R_EDGES, *,
               ells: Sequence[int] = (0, 2), los: str = "z", mu_bins: int = DEFAULT_MU_BINS,
               others: Any = None, jackknife: int = DEFAULT_JACKKNIFE,
               nthreads: int = DEFAULT_THREADS, min_points: int = MIN_POINTS,
               ) -> dict[int, Correlation]:
    """Legendre multipoles xi_l(s) = (2 l + 1) int_0^1 xi(s, mu) L_l(mu) dmu.

    ``positions`` should be in redshift space along ``los``
    (:func:`~.redshift_space.redshift_space`); mu is the cosine between the separation
    and the ``los`` axis, binned in ``mu_bins`` equal |mu| bins; each bin's xi(s, mu) is
    weighted by the exact integral of L_l over the bin. Other args as :func:`xi`.

    Returns:
        ``{l: Correlation "xi<l>"}`` for every requested even ``l``, values (bins,).
    """
    ells = tuple(int(ell) for ell in ells)
    args = check_arguments(positions, box_size, others=others, edges=edges,
                           jackknife=jackknife, nthreads=nthreads, min_points=min_points,
                           los=los, ells=ells, mu_bins=mu_bins)
    geometry = MuCells(args.edges, mu_bins)
    full, copies = _along_line_of_sight(geometry, args, box_size, jackknife, nthreads)
    result = {}
    for ell in ells:
        legendre = np.polynomial.legendre.Legendre.basis(ell).integ()
        weights = (2 * ell + 1) * np.diff(legendre(geometry.mu_edges))

        def project(cells: np.ndarray, weights: np.ndarray = weights) -> np.ndarray:
            return cells.reshape(*cells.shape[:-1], len(args.edges) - 1, mu_bins) @ weights

        name = f"xi{ell}" if args.second is None else f"xi{ell} cross"
        result[ell] = Correlation(name, args.edges, project(full), project(copies),
                                  args.counts, {"box_size": box_size, "jackknife": jackknife,
                                                "mu_bins": mu_bins, "los": los})
    return result


def _along_line_of_sight(geometry, args, box_size: float, jackknife: int,
                         nthreads: int) -> tuple[np.ndarray, np.ndarray]:
    """Cells (full, copies) with the line of sight moved to z (Corrfunc's), copies put
    back in the x, y, z cube order."""
    order = args.order
    second = None if args.second is None else args.second[:, order]
    full, copies = correlate(geometry, args.first[:, order], second, box_size, jackknife,
                             nthreads)
    return full, canonical_copies(copies, order, jackknife)
