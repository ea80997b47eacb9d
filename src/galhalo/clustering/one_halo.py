"""The one-halo term of wp(rp): pairs of galaxies inside the same host, expected from
an occupation and a profile, counted in a catalog, and their wp.

A host holds its central at the centre and ``N`` satellites, so it contributes ``N``
unordered central-satellite pairs and ``N (N - 1) / 2`` satellite-satellite pairs.
With satellites drawn independently from a radial profile (independently of ``N``), the
expected number of those pairs in a projected-separation bin is::

    E[pairs](bin) = E[N] P_cs(bin) + E[N (N - 1)] / 2 P_ss(bin)

``P_cs``: probability that one satellite lies at a projected distance from the centre in
the bin; ``P_ss``: that two independent satellites are at a projected separation in it.
The line of sight is z (Corrfunc's); separations are projected on x-y.

Normalisation (:func:`one_halo_wp`). :func:`~.two_point.wp` counts ordered pairs DD
with ``|pi| < pi_max`` against ``RR = N (N - 1) V_cell / V``, so
``wp = V DD(rp) / (N (N - 1) A) - 2 pi_max`` with ``A = pi (rp_hi^2 - rp_lo^2)``: a set
of P unordered pairs adds ``2 P V / (N (N - 1) A)``, if all have ``|pi| < pi_max``
(true for every pair inside a host smaller than pi_max / 2). A sub-population of n of
the N points (the centrals) enters with its own wp rescaled, :func:`diluted_wp`.

Units: positions, radii and separations in Mpc/h (comoving); wp in Mpc/h.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ClusteringError
from ..profiles import nfw_radii
from ._checks import check_edges, check_positions

__all__ = ["SameHostPairs", "diluted_wp", "expected_one_halo_pairs",
           "measured_one_halo_pairs", "one_halo_wp", "pair_residuals"]

#: Entries of a Monte-Carlo work array (hosts x samples x bins) per chunk of hosts.
_CHUNK_ENTRIES = 2**21


@dataclass(frozen=True)
class SameHostPairs:
    """Unordered same-host pairs per projected-separation bin, per host.

    Attributes:
        edges: rp bin edges (bins + 1,), Mpc/h.
        host_central_satellite, host_satellite_satellite: each host's pairs per bin
            (hosts, bins), expected or counted.
        error: standard error of the total per bin (bins,): the Monte-Carlo error of an
            expectation, or the host-to-host error of a measurement.
    """

    edges: np.ndarray
    host_central_satellite: np.ndarray
    host_satellite_satellite: np.ndarray
    error: np.ndarray

    @property
    def per_host(self) -> np.ndarray:
        """Each host's pairs per bin, both kinds (hosts, bins)."""
        return self.host_central_satellite + self.host_satellite_satellite

    @property
    def central_satellite(self) -> np.ndarray:
        """Central-satellite pairs per bin, summed over hosts (bins,)."""
        return self.host_central_satellite.sum(axis=0)

    @property
    def satellite_satellite(self) -> np.ndarray:
        """Satellite-satellite pairs per bin, summed over hosts (bins,)."""
        return self.host_satellite_satellite.sum(axis=0)

    @property
    def pairs(self) -> np.ndarray:
        """All same-host pairs per bin (bins,)."""
        return self.per_host.sum(axis=0)

    def part(self, kind: str) -> np.ndarray:
        """Per-host pairs (hosts, bins) of ``kind``: ``"all"``, ``"central_satellite"``
        or ``"satellite_satellite"``."""
        parts = {"all": self.per_host, "central_satellite": self.host_central_satellite,
                 "satellite_satellite": self.host_satellite_satellite}
        if kind not in parts:
            raise ClusteringError(f"unknown pair kind {kind!r}; use one of {sorted(parts)}")
        return parts[kind]


def _host_array(values, name: str, hosts: int | None, positive: bool) -> np.ndarray:
    array = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if array.ndim != 1 or (hosts is not None and len(array) != hosts):
        raise ClusteringError(f"{name} must be one value per host, shape ({hosts},), got "
                              f"{array.shape}")
    bad = ~np.isfinite(array) | ((array <= 0) if positive else (array < 0))
    if bad.any():
        rule = "> 0" if positive else ">= 0"
        raise ClusteringError(f"{name} must be finite and {rule}: {int(bad.sum())} of "
                              f"{len(array)} hosts are not (first: host {np.argmax(bad)})")
    return array


def _projected(radius: np.ndarray, concentration: np.ndarray, samples: int,
               rng: np.random.Generator) -> np.ndarray:
    """x-y offsets (hosts, samples, 2), Mpc/h, of satellites on a truncated NFW in
    isotropic directions."""
    r = radius[:, None] * nfw_radii(concentration[:, None], rng.random((len(radius), samples)))
    cos_theta = rng.uniform(-1.0, 1.0, r.shape)
    phi = rng.uniform(0.0, 2.0 * np.pi, r.shape)
    projected = r * np.sqrt(1.0 - cos_theta**2)
    return np.stack([projected * np.cos(phi), projected * np.sin(phi)], axis=-1)


def _in_bins(rp: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """One-hot bin membership (..., bins) of separations ``rp`` (outside: all False)."""
    index = np.searchsorted(edges, rp, side="right") - 1
    return index[..., None] == np.arange(len(edges) - 1)


def expected_one_halo_pairs(mean, factorial2, radius, concentration, rp_edges,
                            samples: int = 64, seed: int = 0) -> SameHostPairs:
    """Expected same-host pairs per rp bin for hosts with a central at the centre and
    satellites on an NFW profile truncated at R_vir (``r / R_vir <= 1``).

    Args:
        mean: E[N_sat] per host, shape (hosts,).
        factorial2: E[N_sat (N_sat - 1)] per host (hosts,) (``Var + mean^2 - mean``).
        radius: host virial radius (hosts,), Mpc/h (comoving, as the positions).
        concentration: the satellites' NFW concentration per host (hosts,).
        rp_edges: projected-separation edges (bins + 1,), Mpc/h.
        samples: Monte-Carlo draws per host (>= 2): ``samples`` satellites A, B each;
            ``P_cs`` from A and B, ``P_ss`` from the pairs (A_i, B_i).
        seed: seed of the draws (same seed, same numbers).

    Returns:
        :class:`SameHostPairs`: the expectation per host and kind (hosts, bins) and
        the Monte-Carlo standard error of the total per bin (bins,).
    """
    edges = check_edges(rp_edges, "rp_edges")
    mean = _host_array(mean, "mean", None, positive=False)
    hosts = len(mean)
    factorial2 = _host_array(factorial2, "factorial2", hosts, positive=False)
    radius = _host_array(radius, "radius", hosts, positive=True)
    concentration = _host_array(concentration, "concentration", hosts, positive=True)
    if isinstance(samples, bool) or not isinstance(samples, int | np.integer) or samples < 2:
        raise ClusteringError(f"samples must be an integer >= 2, got {samples!r}")
    rng = np.random.default_rng(seed)
    bins = len(edges) - 1
    central_satellite = np.zeros((hosts, bins))
    satellite_satellite = np.zeros((hosts, bins))
    variance = np.zeros(bins)
    chunk = max(1, _CHUNK_ENTRIES // (samples * bins))
    for start in range(0, hosts, chunk):
        part = slice(start, start + chunk)
        first = _projected(radius[part], concentration[part], samples, rng)
        second = _projected(radius[part], concentration[part], samples, rng)
        cs = 0.5 * (_in_bins(np.hypot(*np.moveaxis(first, -1, 0)), edges).astype(float)
                    + _in_bins(np.hypot(*np.moveaxis(second, -1, 0)), edges))
        difference = first - second
        ss = _in_bins(np.hypot(*np.moveaxis(difference, -1, 0)), edges).astype(float)
        # one draw of a host's pairs per sample s: the samples are iid, so the variance
        # of their mean is their variance / samples.
        draws = mean[part, None, None] * cs + 0.5 * factorial2[part, None, None] * ss
        central_satellite[part] = mean[part, None] * cs.mean(axis=1)
        satellite_satellite[part] = 0.5 * factorial2[part, None] * ss.mean(axis=1)
        variance += draws.var(axis=1, ddof=1).sum(axis=0) / samples
    return SameHostPairs(edges, central_satellite, satellite_satellite, np.sqrt(variance))


def _separation(first: np.ndarray, second: np.ndarray, box: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """(rp, |pi|) of point pairs (n, 3) by the periodic minimum image, line of sight z."""
    delta = second - first
    delta -= box * np.round(delta / box)
    return np.hypot(delta[:, 0], delta[:, 1]), np.abs(delta[:, 2])


def measured_one_halo_pairs(positions, host_index, is_central, box: float, rp_edges,
                            pi_max: float | None = None) -> SameHostPairs:
    """The same-host pairs present in a catalog, per rp bin (line of sight z).

    Args:
        positions: (n, 3) positions in [0, box), Mpc/h.
        host_index: (n,) host label of every galaxy (any integers; a central's own).
        is_central: (n,) bool; every host has exactly one central.
        box: periodic box side, Mpc/h (minimum-image separations).
        rp_edges: projected-separation edges (bins + 1,), Mpc/h.
        pi_max: count only pairs with ``|pi| < pi_max`` (wp's window); None: all.

    Returns:
        :class:`SameHostPairs` over the hosts in increasing label order: the pairs per
        host and kind (hosts, bins), and the error of the total treating hosts as independent units,
        ``sqrt(H / (H - 1) sum_h (c_h - mean_h c)^2)`` per bin (hosts differ in mass, so
        this overstates the scatter at fixed hosts: :func:`pair_residuals` has that).

    Raises:
        ClusteringError: shapes differ, or a host has no central or more than one.
    """
    positions = check_positions(positions, box)
    edges = check_edges(rp_edges, "rp_edges")
    n = len(positions)
    labels = np.asarray(host_index)
    central = np.asarray(is_central)
    if labels.shape != (n,) or central.shape != (n,):
        raise ClusteringError(f"host_index and is_central must have shape ({n},), got "
                              f"{labels.shape} and {central.shape}")
    if central.dtype != bool:
        raise ClusteringError(f"is_central must be boolean, got {central.dtype}")
    ids, host = np.unique(labels, return_inverse=True)
    centrals = np.bincount(host[central], minlength=len(ids))
    if np.any(centrals != 1):
        bad = int(np.flatnonzero(centrals != 1)[0])
        raise ClusteringError(f"host {ids[bad]} has {centrals[bad]} central rows; every host "
                              "needs exactly one")
    central_of = np.empty(len(ids), dtype=np.int64)
    central_of[host[central]] = np.flatnonzero(central)
    satellites = np.flatnonzero(~central)
    satellites = satellites[np.argsort(host[satellites], kind="stable")]
    owner = host[satellites]
    bins = len(edges) - 1
    window = np.inf if pi_max is None else float(pi_max)

    def per_host(first: np.ndarray, second: np.ndarray, hosts: np.ndarray) -> np.ndarray:
        rp, pi = _separation(positions[first], positions[second], box)
        index = np.searchsorted(edges, rp, side="right") - 1
        keep = (index >= 0) & (index < bins) & (pi < window)
        return np.bincount(hosts[keep] * bins + index[keep],
                           minlength=len(ids) * bins).reshape(len(ids), bins)

    cs = per_host(central_of[owner], satellites, owner)
    ss = np.zeros_like(cs)
    # satellites sorted by host: pairs (i, i + k) of the same host, k = 1, 2, ...; once
    # no host has k + 1 satellites there are none at larger k either.
    for offset in range(1, len(satellites)):
        same = np.flatnonzero(owner[:-offset] == owner[offset:])
        if len(same) == 0:
            break
        ss += per_host(satellites[same], satellites[same + offset], owner[same])
    counts = (cs + ss).astype(float)
    hosts = len(ids)
    spread = counts.var(axis=0, ddof=1) * hosts if hosts > 1 else np.zeros(bins)
    return SameHostPairs(edges, cs.astype(float), ss.astype(float), np.sqrt(spread))


def pair_residuals(measured: SameHostPairs, expected: SameHostPairs, kind: str = "all"
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Measured minus expected pairs of ``kind`` (:meth:`SameHostPairs.part`) per bin
    (bins,) and its standard error (bins,), ``sqrt(sum_h (c_h - e_h)^2)``: hosts are
    independent, so this estimates the variance of the difference at fixed hosts,
    including the Monte-Carlo error of ``e_h``. Both must have the same bins and hosts
    in the same order."""
    counted, predicted = measured.part(kind), expected.part(kind)
    if counted.shape != predicted.shape or not np.allclose(measured.edges, expected.edges):
        raise ClusteringError(
            f"cannot compare same-host pairs of different hosts or bins "
            f"({counted.shape} vs {predicted.shape})")
    residual = counted - predicted
    return residual.sum(axis=0), np.sqrt((residual**2).sum(axis=0))


def one_halo_wp(pairs, n_galaxies: int, volume: float, rp_edges) -> np.ndarray:
    """The wp(rp) (Mpc/h) that ``pairs`` unordered pairs per rp bin (bins,) add to the
    wp of ``n_galaxies`` points in a periodic ``volume`` (Mpc/h)^3:
    ``2 pairs V / (N (N - 1) pi (rp_hi^2 - rp_lo^2))``. Linear, so it converts errors too.
    Every pair must lie within wp's ``|pi| < pi_max``."""
    edges = check_edges(rp_edges, "rp_edges")
    pairs = np.asarray(pairs, dtype=np.float64)
    if pairs.shape[-1:] != (len(edges) - 1,):
        raise ClusteringError(f"pairs must have one value per rp bin ({len(edges) - 1}), "
                              f"got shape {pairs.shape}")
    if n_galaxies < 2 or not volume > 0:
        raise ClusteringError(f"need n_galaxies >= 2 and volume > 0, got {n_galaxies} and "
                              f"{volume}")
    ring = np.pi * np.diff(edges**2)
    return 2.0 * pairs * volume / (n_galaxies * (n_galaxies - 1.0) * ring)


def diluted_wp(wp, n_subset: int, n_total: int, pi_max: float) -> np.ndarray:
    """The part of the wp of ``n_total`` points made by the pairs of a subset of
    ``n_subset`` of them, given the subset's own wp (any shape, Mpc/h):
    ``(wp + 2 pi_max) n (n - 1) / (N (N - 1)) - 2 pi_max``. Adding the wp of the other
    pairs (:func:`one_halo_wp` for same-host ones) gives the wp of all points."""
    if not 2 <= n_subset <= n_total:
        raise ClusteringError(f"need 2 <= n_subset <= n_total, got {n_subset} and {n_total}")
    ratio = n_subset * (n_subset - 1.0) / (n_total * (n_total - 1.0))
    return (np.asarray(wp, dtype=np.float64) + 2.0 * pi_max) * ratio - 2.0 * pi_max
