"""Two-point clustering in a periodic box: xi(r), wp(rp), redshift-space multipoles and
cross-correlations, with delete-one jackknife errors and covariance. Pair counts come
from Corrfunc; randoms are analytic.

Estimator. In a periodic box of side L (volume V = L^3), N points have on average
``RR = N (N - 1) V_cell / V`` ordered pairs of distinct points whose separation vector
falls in a cell of volume ``V_cell`` (a spherical shell, an (rp, |pi|) cylinder cell or an
(s, |mu|) cell). Corrfunc counts the ordered pairs DD (each pair twice in an
auto-correlation), and ``xi = DD / RR - 1`` (the natural estimator, exact with analytic
randoms). A cross-correlation of populations 1 and 2 uses ``RR = N1 N2 V_cell / V``.

Jackknife. The box is cut into ``n^3`` cubes of side ``a = L / n``. Copy k removes every
pair with a point in cube k: ``DD_-k = DD - DD(k, all) - DD(all, k) + DD(k, k)``, counted
with one Corrfunc call of cube k against the points within reach of it. The remaining
volume C (the box minus one cube) is not periodic any more, so its random pairs are
``RR_-k = N' (N' - 1) [V V_cell - 2 a^3 V_cell + K(cell)] / |C|^2``, where ``K(cell)``
is the integral over the cell of the overlap volume of the cube with itself shifted by
the separation vector, ``prod_i (a - |d_i|)``: a polynomial, integrated here in closed
form (shells, cylinder cells) or by Gauss-Legendre quadrature (mu cells). This needs
every separation component below ``a``: the cubes must be at least as large as the
largest scale measured. Errors and covariance are the usual
``C = (n_copies - 1) / n_copies * sum_k (x_k - mean)(x_k - mean)^T``.

Units: positions and separations in Mpc/h (comoving), velocities in km/s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..catalog import Catalog
from ..errors import ClusteringError

__all__ = [
    "AXES",
    "DEFAULT_JACKKNIFE",
    "DEFAULT_MU_BINS",
    "DEFAULT_PI_MAX",
    "DEFAULT_R_EDGES",
    "DEFAULT_THREADS",
    "MIN_POINTS",
    "ClusteringError",
    "Correlation",
    "box_size_of",
    "catalog_positions",
    "check_positions",
    "jackknife_covariance",
    "jackknife_regions",
    "mean_over_realizations",
    "multipoles",
    "redshift_space",
    "rsd_shift",
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
#: Axis names and their column index.
AXES = {"x": 0, "y": 1, "z": 2}
#: Speed of light is not needed: the RSD shift is v (1 + z) / H(z), H = 100 E(z) h km/s/Mpc.
_H100 = 100.0



# --------------------------------------------------------------------------- results


@dataclass
class Correlation:
    """A binned two-point statistic with its delete-one jackknife copies.

    Attributes:
        statistic: what it is: ``"xi"``, ``"wp"``, ``"xi0"``, ``"xi2"``, ... (a cross-
            correlation carries the suffix ``" cross"``).
        edges: separation bin edges, shape (bins + 1,), Mpc/h (r, rp or s).
        value: the statistic on the full sample, shape (bins,) (dimensionless; wp in
            Mpc/h).
        copies: the same on each jackknife copy, shape (copies, bins).
        n_points: points of the population(s) it was measured on.
        meta: settings it was measured with (JSON-able).
    """

    statistic: str
    edges: np.ndarray
    value: np.ndarray
    copies: np.ndarray
    n_points: tuple[int, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def centers(self) -> np.ndarray:
        """Geometric bin centres, shape (bins,), Mpc/h."""
        return np.sqrt(self.edges[:-1] * self.edges[1:])

    @property
    def covariance(self) -> np.ndarray:
        """Jackknife covariance, shape (bins, bins) ((1, 1) for a scalar statistic)."""
        return jackknife_covariance(np.reshape(self.copies, (len(self.copies), -1)))

    @property
    def error(self) -> np.ndarray:
        """Jackknife standard error, the shape of ``value``."""
        return np.sqrt(np.diag(self.covariance)).reshape(np.shape(self.value))

    def combine(self, other: Correlation | None,
                function: Callable[..., np.ndarray], statistic: str) -> Correlation:
        """A derived statistic: ``function(self_values[, other_values])`` applied to the
        full sample and to each jackknife copy alike (so its jackknife error is right).

        ``other`` must have the same bins and jackknife copies; its values are the second
        argument (``None``: ``function`` takes one argument).
        """
        if other is None:
            return Correlation(statistic, self.edges, function(self.value),
                               function(self.copies), self.n_points, dict(self.meta))
        if other.copies.shape != self.copies.shape or not np.allclose(other.edges, self.edges):
            raise ClusteringError(
                f"cannot combine {self.statistic} and {other.statistic}: different bins or "
                f"jackknife copies ({self.copies.shape} vs {other.copies.shape})")
        return Correlation(statistic, self.edges, function(self.value, other.value),
                           function(self.copies, other.copies),
                           (*self.n_points, *other.n_points), dict(self.meta))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: edges, centres, value, error (NaN becomes ``None``)."""
        return {"statistic": self.statistic, "edges": _listed(self.edges),
                "centers": _listed(self.centers), "value": _listed(self.value),
                "error": _listed(self.error), "n_points": list(self.n_points),
                "copies": len(self.copies), "meta": self.meta}


def _listed(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def jackknife_covariance(copies: np.ndarray) -> np.ndarray:
    """``(n - 1) / n * sum_k (x_k - mean)(x_k - mean)^T`` of ``copies`` (n, bins)."""
    copies = np.asarray(copies, dtype=float)
    n = len(copies)
    deviation = copies - copies.mean(axis=0)
    return (n - 1) / n * deviation.T @ deviation


def mean_over_realizations(correlations: Sequence[Correlation]) -> Correlation:
    """The mean of one statistic over realisations (value and each jackknife copy)."""
    if not correlations:
        raise ClusteringError("no realisations to average")
    first = correlations[0]
    for other in correlations[1:]:
        if other.copies.shape != first.copies.shape:
            raise ClusteringError("realisations differ in bins or jackknife copies")
    return Correlation(
        first.statistic, first.edges, np.mean([c.value for c in correlations], axis=0),
        np.mean([c.copies for c in correlations], axis=0),
        tuple(int(n) for n in np.mean([c.n_points for c in correlations], axis=0).round()),
        {**first.meta, "realizations": len(correlations)})


# --------------------------------------------------------------------------- input checks


def box_size_of(catalog: Catalog) -> float:
    """The periodic box side (Mpc/h) of ``catalog``; :class:`ClusteringError` if unset."""
    box = catalog.meta.box_size
    if box is None:
        raise ClusteringError(
            "box size missing: catalog.meta.box_size is None, and clustering with analytic "
            "randoms needs a periodic box (set the box side in Mpc/h)")
    return float(box)


def check_positions(positions: Any, box_size: float, name: str = "positions") -> np.ndarray:
    """``positions`` as a C-contiguous float64 array (n, 3), checked to lie in [0, box).

    Raises:
        ClusteringError: wrong shape, no rows, NaN/inf, or points outside the box (how
            many, and the range found), or a box size that is not finite and > 0.
    """
    if box_size is None or not (math.isfinite(box_size) and box_size > 0):
        raise ClusteringError(f"box size must be finite and > 0 (Mpc/h), got {box_size}")
    array = np.ascontiguousarray(np.asarray(positions, dtype=np.float64))
    if array.ndim != 2 or array.shape[1] != 3:
        raise ClusteringError(f"{name} must have shape (n, 3), got {array.shape}")
    if len(array) == 0:
        raise ClusteringError(f"{name}: no points")
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        raise ClusteringError(f"{name}: {int((~finite).sum())} of {len(array)} points have "
                              "NaN or inf coordinates")
    outside = ((array < 0) | (array >= box_size)).any(axis=1)
    if outside.any():
        raise ClusteringError(
            f"{name}: {int(outside.sum())} of {len(array)} points are outside the box "
            f"[0, {box_size:g}) Mpc/h (coordinates from {array.min():.6g} to "
            f"{array.max():.6g}); wrong units (kpc/h?) or wrong box size?")
    return array


def _check_edges(edges: Any, name: str = "edges") -> np.ndarray:
    array = np.asarray(edges, dtype=np.float64)
    if array.ndim != 1 or len(array) < 2:
        raise ClusteringError(f"{name} must be a 1-D array of at least 2 bin edges, "
                              f"got shape {array.shape}")
    if not np.isfinite(array).all() or array[0] <= 0 or np.any(np.diff(array) <= 0):
        raise ClusteringError(f"{name} must be finite, strictly increasing and > 0 (pairs at "
                              f"zero separation are self-pairs), got {array.tolist()}")
    return array


def _check_settings(box_size: float, reach: float, jackknife: int, nthreads: int) -> float:
    """Validate the jackknife and thread settings; return the cube side a (Mpc/h)."""
    if isinstance(jackknife, bool) or not isinstance(jackknife, int | np.integer) \
            or jackknife < 2:
        raise ClusteringError(f"jackknife must be an integer >= 2 (cubes per box side), "
                              f"got {jackknife!r}")
    if isinstance(nthreads, bool) or not isinstance(nthreads, int | np.integer) or nthreads < 1:
        raise ClusteringError(f"nthreads must be a positive integer, got {nthreads!r}")
    side = box_size / jackknife
    if reach >= box_size / 2:
        raise ClusteringError(f"largest separation {reach:g} Mpc/h must be below half the box "
                              f"({box_size / 2:g} Mpc/h)")
    if reach > side:
        raise ClusteringError(
            f"jackknife cubes of side {side:g} Mpc/h (box {box_size:g} / {jackknife}) are "
            f"smaller than the largest separation {reach:g} Mpc/h: use fewer cubes per side "
            f"(jackknife <= {int(box_size // reach)}) or smaller scales")
    return side


def _check_count(n: int, min_points: int, name: str) -> None:
    if n < min_points:
        raise ClusteringError(f"{name} has {n} points, fewer than the minimum {min_points} "
                              "for a clustering measurement")


def jackknife_regions(positions: np.ndarray, box_size: float, n_side: int) -> np.ndarray:
    """Jackknife cube of every point: integer array (n,) in [0, n_side^3)."""
    cube = np.minimum((positions // (box_size / n_side)).astype(np.int64), n_side - 1)
    return np.ravel_multi_index(tuple(cube.T), (n_side,) * 3)


# --------------------------------------------------------------------------- geometries


class _Geometry:
    """How pairs are binned: Corrfunc call, cell volumes and cube self-overlaps K."""

    reach: float  # largest separation along any axis, Mpc/h

    def count(self, first: np.ndarray, second: np.ndarray | None, box: float,
              nthreads: int) -> np.ndarray:
        raise NotImplementedError

    def volumes(self) -> np.ndarray:
        raise NotImplementedError

    def overlaps(self, side: float) -> np.ndarray:
        raise NotImplementedError


def _corrfunc_args(first: np.ndarray, second: np.ndarray | None) -> dict[str, Any]:
    args: dict[str, Any] = {"autocorr": 1 if second is None else 0,
                            "X1": first[:, 0], "Y1": first[:, 1], "Z1": first[:, 2]}
    if second is not None:
        args.update(X2=second[:, 0], Y2=second[:, 1], Z2=second[:, 2])
    return args


class _Shells(_Geometry):
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


class _CylinderCells(_Geometry):
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


class _MuCells(_Geometry):
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


# --------------------------------------------------------------------------- engine


def _near_cube(positions: np.ndarray, cube: tuple[int, int, int], side: float, box: float,
               reach: float) -> np.ndarray:
    """Boolean mask of points within ``reach`` (per axis, periodic) of a jackknife cube."""
    keep = np.ones(len(positions), dtype=bool)
    if side + 2 * reach >= box:
        return keep
    for axis, index in enumerate(cube):
        offset = np.mod(positions[:, axis] - index * side, box)
        keep &= (offset < side + reach) | (offset > box - reach)
    return keep


def _counts(geometry: _Geometry, first: np.ndarray, second: np.ndarray | None, box: float,
            nthreads: int) -> np.ndarray:
    """Ordered pair counts per cell; zero without points (Corrfunc needs some)."""
    cells = len(geometry.volumes())
    if len(first) == 0 or (second is not None and len(second) == 0):
        return np.zeros(cells)
    return geometry.count(first, second, box, nthreads)


def _correlate(geometry: _Geometry, first: np.ndarray, second: np.ndarray | None,
               box: float, n_side: int, nthreads: int) -> tuple[np.ndarray, np.ndarray]:
    """xi per cell on the full sample (cells,) and each jackknife copy (n_side^3, cells)."""
    side = box / n_side
    volume = box**3
    cell_volume = geometry.volumes()
    overlap = geometry.overlaps(side)
    remaining = volume - side**3
    remaining_pairs = (volume * cell_volume - 2.0 * side**3 * cell_volume + overlap)
    remaining_pairs /= remaining**2  # probability per pair of the cell, in the box minus a cube

    region1 = jackknife_regions(first, box, n_side)
    other = first if second is None else second
    region2 = region1 if second is None else jackknife_regions(second, box, n_side)
    n1, n2 = len(first), len(other)
    total = _counts(geometry, first, second, box, nthreads)
    if second is None:
        full = total / (n1 * (n1 - 1) * cell_volume / volume) - 1.0
    else:
        full = total / (n1 * n2 * cell_volume / volume) - 1.0

    copies = np.empty((n_side**3, len(cell_volume)))
    for k, cube in enumerate(np.ndindex(n_side, n_side, n_side)):
        in1, in2 = region1 == k, region2 == k
        inside1, inside2 = first[in1], other[in2]
        near2 = other[_near_cube(other, cube, side, box, geometry.reach)]
        with_cube = _counts(geometry, inside1, near2, box, nthreads)
        if second is None:
            within = _counts(geometry, inside1, None, box, nthreads)
            pairs = total - 2.0 * with_cube + within
            kept = n1 - len(inside1)
            expected = kept * (kept - 1) * remaining_pairs
        else:
            near1 = first[_near_cube(first, cube, side, box, geometry.reach)]
            cube_second = _counts(geometry, near1, inside2, box, nthreads)
            within = _counts(geometry, inside1, inside2, box, nthreads)
            pairs = total - with_cube - cube_second + within
            expected = (n1 - len(inside1)) * (n2 - len(inside2)) * remaining_pairs
        with np.errstate(divide="ignore", invalid="ignore"):
            copies[k] = pairs / expected - 1.0
    return full, copies


def _prepare(positions: Any, box_size: float, others: Any, edges: Any, reach_extra: float,
             jackknife: int, nthreads: int, min_points: int,
             ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, tuple[int, ...]]:
    first = check_positions(positions, box_size)
    second = None if others is None else check_positions(others, box_size, "others")
    edges = _check_edges(edges)
    _check_settings(box_size, max(float(edges[-1]), reach_extra), jackknife, nthreads)
    _check_count(len(first), min_points, "population")
    if second is not None:
        _check_count(len(second), min_points, "second population")
    counts = (len(first),) if second is None else (len(first), len(second))
    return first, second, edges, counts


# --------------------------------------------------------------------------- statistics


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
    first, second, edges, counts = _prepare(positions, box_size, others, edges, 0.0,
                                            jackknife, nthreads, min_points)
    full, copies = _correlate(_Shells(edges), first, second, box_size, jackknife, nthreads)
    name = "xi" if second is None else "xi cross"
    return Correlation(name, edges, full, copies, counts,
                       {"box_size": box_size, "jackknife": jackknife})


def wp(positions: Any, box_size: float, edges: Any = DEFAULT_R_EDGES, *,
       pi_max: float = DEFAULT_PI_MAX, los: str = "z", others: Any = None,
       jackknife: int = DEFAULT_JACKKNIFE, nthreads: int = DEFAULT_THREADS,
       min_points: int = MIN_POINTS) -> Correlation:
    """Projected correlation wp(rp) = 2 sum_pi xi(rp, pi) dpi, |pi| < pi_max in 1 Mpc/h steps.

    Args as :func:`xi`, plus ``pi_max`` (a whole number of Mpc/h, at most the jackknife
    cube side) and ``los``, the line-of-sight axis (``"x"``, ``"y"`` or ``"z"``).
    Positions may be real- or redshift-space (:func:`redshift_space`).

    Returns:
        :class:`Correlation` ``"wp"`` in Mpc/h, per rp bin (bins,).
    """
    if not (math.isfinite(pi_max) and pi_max >= 1 and float(pi_max).is_integer()):
        raise ClusteringError(f"pi_max must be a whole number of Mpc/h >= 1 (Corrfunc bins "
                              f"pi in 1 Mpc/h steps), got {pi_max}")
    order = _line_of_sight_last(los)
    first, second, edges, counts = _prepare(positions, box_size, others, edges, pi_max,
                                            jackknife, nthreads, min_points)
    geometry = _CylinderCells(edges, float(pi_max))
    full, copies = _correlate(geometry, first[:, order],
                              None if second is None else second[:, order],
                              box_size, jackknife, nthreads)
    copies = _canonical_copies(copies, order, jackknife)
    depth = np.diff(geometry.pi_edges)

    def project(cells: np.ndarray) -> np.ndarray:
        shaped = cells.reshape(*cells.shape[:-1], len(edges) - 1, len(depth))
        return 2.0 * shaped @ depth

    name = "wp" if second is None else "wp cross"
    return Correlation(name, edges, project(full), project(copies), counts,
                       {"box_size": box_size, "jackknife": jackknife, "pi_max": pi_max,
                        "los": los})


def multipoles(positions: Any, box_size: float, edges: Any = DEFAULT_R_EDGES, *,
               ells: Sequence[int] = (0, 2), los: str = "z", mu_bins: int = DEFAULT_MU_BINS,
               others: Any = None, jackknife: int = DEFAULT_JACKKNIFE,
               nthreads: int = DEFAULT_THREADS, min_points: int = MIN_POINTS,
               ) -> dict[int, Correlation]:
    """Legendre multipoles xi_l(s) = (2 l + 1) int_0^1 xi(s, mu) L_l(mu) dmu.

    ``positions`` should be in redshift space along ``los`` (:func:`redshift_space`); mu
    is the cosine between the separation and the ``los`` axis, binned in ``mu_bins``
    equal |mu| bins; each bin's xi(s, mu) is weighted by the exact integral of L_l over
    the bin. Other args as :func:`xi`.

    Returns:
        ``{l: Correlation "xi<l>"}`` for every requested even ``l``, values (bins,).
    """
    ells = tuple(int(ell) for ell in ells)
    if not ells or any(ell < 0 or ell % 2 for ell in ells):
        raise ClusteringError(f"ells must be non-negative even integers, got {ells}")
    if isinstance(mu_bins, bool) or not isinstance(mu_bins, int | np.integer) or mu_bins < 1:
        raise ClusteringError(f"mu_bins must be a positive integer, got {mu_bins!r}")
    order = _line_of_sight_last(los)
    first, second, edges, counts = _prepare(positions, box_size, others, edges, 0.0,
                                            jackknife, nthreads, min_points)
    geometry = _MuCells(edges, mu_bins)
    full, copies = _correlate(geometry, first[:, order],
                              None if second is None else second[:, order],
                              box_size, jackknife, nthreads)
    copies = _canonical_copies(copies, order, jackknife)
    result = {}
    for ell in ells:
        legendre = np.polynomial.legendre.Legendre.basis(ell).integ()
        weights = (2 * ell + 1) * np.diff(legendre(geometry.mu_edges))

        def project(cells: np.ndarray, weights: np.ndarray = weights) -> np.ndarray:
            return cells.reshape(*cells.shape[:-1], len(edges) - 1, mu_bins) @ weights

        name = f"xi{ell}" if second is None else f"xi{ell} cross"
        result[ell] = Correlation(name, edges, project(full), project(copies), counts,
                                  {"box_size": box_size, "jackknife": jackknife,
                                   "mu_bins": mu_bins, "los": los})
    return result


def _canonical_copies(copies: np.ndarray, order: list[int], n_side: int) -> np.ndarray:
    """Reorder jackknife copies measured on axis-permuted positions (``order``) so that
    copy k deletes the same cube as in :func:`xi` (cubes numbered in x, y, z order)."""
    cubes = np.array(list(np.ndindex(n_side, n_side, n_side)))
    original = np.empty_like(cubes)
    original[:, order] = cubes
    out = np.empty_like(copies)
    out[np.ravel_multi_index(tuple(original.T), (n_side,) * 3)] = copies
    return out


def _line_of_sight_last(los: str) -> list[int]:
    """Column order putting the ``los`` axis last (Corrfunc's line of sight is z)."""
    if los not in AXES:
        raise ClusteringError(f"unknown line-of-sight axis {los!r}; use one of x, y, z")
    axis = AXES[los]
    return [i for i in range(3) if i != axis] + [axis]


# --------------------------------------------------------------------------- catalogs, RSD


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
    _line_of_sight_last(los)  # validates the axis name
    axis = AXES[los]
    moved[:, axis] = np.mod(moved[:, axis] + speed[:, axis] * rsd_shift(redshift, cosmology),
                            box_size)
    moved[moved >= box_size] = 0.0  # np.mod can round a tiny negative up to box_size
    return moved


def catalog_positions(catalog: Catalog, rsd: str | None = None) -> np.ndarray:
    """Positions (n, 3) of a catalog's rows, Mpc/h, checked to lie in its box.

    With ``rsd`` = ``"x"``, ``"y"`` or ``"z"``: in redshift space along that axis, using
    the catalog's velocities, redshift and cosmology (:func:`redshift_space`).
    """
    box = box_size_of(catalog)
    table = catalog.table
    missing = [name for name in ("x", "y", "z") if name not in table.columns]
    if missing:
        raise ClusteringError(f"catalog has no position columns {missing} (Mpc/h)")
    positions = check_positions(table[["x", "y", "z"]].to_numpy(dtype=np.float64), box)
    if rsd is None:
        return positions
    if rsd not in AXES:
        raise ClusteringError(f"unknown line-of-sight axis {rsd!r}; use one of x, y, z")
    velocity = f"v{rsd}"
    if velocity not in table.columns:
        raise ClusteringError(f"redshift space along {rsd} needs the velocity column "
                              f"{velocity!r} (km/s)")
    velocities = np.zeros_like(positions)
    velocities[:, AXES[rsd]] = table[velocity].to_numpy(dtype=np.float64)
    return redshift_space(positions, velocities, box, rsd, catalog.meta.redshift,
                          catalog.meta.cosmology)
