"""Satellite statistics of a catalog with satellites, as tidy tables.

Pure functions of a catalog table (one row per galaxy, ``host_id`` / ``is_central``,
every host with its central row: :mod:`galhalo.catalog.hosts`):

* :func:`satellite_fraction`: f_sat in stellar-mass bins, binomial errors;
* :func:`satellite_distances` and :func:`radial_profile`: the satellites' distances to
  their host's centre in units of its virial radius, from ``r_host`` or else from the
  positions and the host's ``M_h`` (:func:`galhalo.catalog.virial.virial_radius`), and
  their normalised number-density profile with Poisson errors;
* :func:`occupation`: <N_sat | M_h>, its variance and variance / mean (1 for Poisson)
  over the hosts in host-mass bins, with large-sample errors;
* :func:`quenched_fractions`, :func:`quenched_by_radius` and :func:`conformity`
  (:mod:`.satellite_quenching`, re-exported here): the quenched fraction of satellites
  (and centrals) against host mass, that of satellites against r / R_vir, and f_Q of
  the satellites of quenched minus star-forming centrals at fixed host mass (galactic
  conformity);
* :func:`satellite_statistics`: all of them for one catalog.

Hosts and bins: :mod:`.satellite_hosts`.

Units: masses log10(Msun/h), distances r / R_vir, sSFR log10(1/yr), colour g - i mag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..catalog import Catalog
from ..catalog.hosts import central_rows
from ..catalog.schema import HOST, IS_CENTRAL, POSITION
from ..catalog.virial import omega_m_of, virial_radius
from ..errors import ClusteringError
from .clustering_comparison import _records
from .satellite_hosts import (
    DEFAULT_MASS_WIDTH,
    bin_edges,
    checked_edges,
    hosts_of,
    mass_bins,
    require_columns,
)
from .satellite_quenching import (
    QUENCHED_CUTS,
    conformity,
    quenched_by_radius,
    quenched_fractions,
    quenched_mask,
)

__all__ = [
    "DEFAULT_MASS_WIDTH",
    "DEFAULT_PROFILE_EDGES",
    "DEFAULT_SMASS_WIDTH",
    "QUENCHED_CUTS",
    "SatelliteStatistics",
    "bin_edges",
    "check_satellite_catalog",
    "conformity",
    "occupation",
    "quenched_by_radius",
    "quenched_fractions",
    "quenched_mask",
    "radial_profile",
    "satellite_distances",
    "satellite_fraction",
    "satellite_statistics",
]

#: Default stellar-mass bin width, dex.
DEFAULT_SMASS_WIDTH = 0.25
#: Default radial bins, r / R_vir: 10 log bins from 0.02 to 2.
DEFAULT_PROFILE_EDGES: np.ndarray = np.geomspace(0.02, 2.0, 11)


def _binomial(k: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        f = k / n
        return f, np.sqrt(f * (1.0 - f) / n)


def satellite_fraction(table: pd.DataFrame, smass_edges: Any = None,
                       width: float = DEFAULT_SMASS_WIDTH) -> pd.DataFrame:
    """Satellite fraction in stellar-mass bins.

    Args:
        table: rows with ``smass`` and ``is_central``.
        smass_edges: bin edges, log10(Msun/h); default multiples of ``width`` dex
            covering the data. Bins without galaxies are left out.

    Returns:
        One row per bin: ``smass_min, smass_max, smass_mid, n_galaxies, n_satellites,
        f_sat, f_sat_error`` (binomial ``sqrt(f (1 - f) / n)``).
    """
    require_columns(table, ("smass", IS_CENTRAL.name), "the satellite fraction")
    smass = table["smass"].to_numpy(np.float64)
    satellite = ~table[IS_CENTRAL.name].to_numpy().astype(bool)
    edges = checked_edges(smass, smass_edges, width, "stellar-mass edges")
    index = np.searchsorted(edges, smass, side="right") - 1
    inside = (index >= 0) & (index < len(edges) - 1)
    n = np.bincount(index[inside], minlength=len(edges) - 1)
    k = np.bincount(index[inside], weights=satellite[inside], minlength=len(edges) - 1)
    f, error = _binomial(k, n)
    frame = pd.DataFrame({"smass_min": edges[:-1], "smass_max": edges[1:],
                          "smass_mid": 0.5 * (edges[:-1] + edges[1:]), "n_galaxies": n,
                          "n_satellites": k.astype(np.int64), "f_sat": f,
                          "f_sat_error": error})
    return frame[frame["n_galaxies"] > 0].reset_index(drop=True)


def _distance_sources(table: pd.DataFrame, box_size: float | None) -> list[str]:
    """What is missing for distances from positions (empty: they can be computed)."""
    missing = [name for name in (*POSITION, "M_h") if name not in table.columns]
    if box_size is None:
        missing.append("meta.box_size")
    return missing


def check_satellite_catalog(catalog: Catalog) -> None:
    """Refuse, in one line, a catalog whose satellite statistics cannot be measured:
    no host structure, or satellites with neither ``r_host`` nor what the distance
    from the positions needs (``x, y, z``, ``M_h``, ``meta.box_size``)."""
    table = catalog.table
    if not catalog.has_satellites:
        raise ClusteringError(f"satellite statistics need a catalog with satellites "
                              f"(columns {', '.join(HOST)})")
    require_columns(table, ("M_h",), "satellite statistics")
    satellite = ~catalog.central_mask()
    if "r_host" in table.columns:
        r_host = table["r_host"].to_numpy(np.float64, na_value=np.nan)[satellite]
        if np.isfinite(r_host).all():
            return
        what = f"column 'r_host' is NaN for {int((~np.isfinite(r_host)).sum())} satellites"
    else:
        what = "column 'r_host' is missing"
    missing = _distance_sources(table, catalog.meta.box_size)
    if missing:
        raise ClusteringError(f"satellite radial profile: {what} and the distances from "
                              f"the positions need {', '.join(missing)} (missing)")


def satellite_distances(catalog: Catalog) -> tuple[np.ndarray, str]:
    """Distance of every satellite to its host's centre in host virial radii.

    ``r_host`` where the catalog gives it; otherwise (or where it is NaN) the periodic
    distance from the central galaxy's position over the host's virial radius from
    ``M_h``, ``meta.redshift`` and ``meta.cosmology['Om0']`` (Bryan & Norman,
    :func:`galhalo.catalog.virial.virial_radius`; comoving Mpc/h like the positions).

    Returns:
        (distances (satellites,), source): source is ``"r_host"``, ``"positions"`` or
        ``"r_host+positions"``.
    """
    check_satellite_catalog(catalog)
    table = catalog.table
    satellite = np.flatnonzero(~catalog.central_mask())
    distances = np.full(len(satellite), np.nan)
    if "r_host" in table.columns:
        distances = table["r_host"].to_numpy(np.float64, na_value=np.nan)[satellite]
    todo = ~np.isfinite(distances)
    if not todo.any():
        return distances, "r_host"
    box = float(catalog.meta.box_size)
    rows = satellite[todo]
    centre = central_rows(table)[rows]
    positions = table[list(POSITION)].to_numpy(np.float64)
    offset = positions[rows] - positions[centre]
    offset -= box * np.round(offset / box)
    radius = virial_radius(table["M_h"].to_numpy(np.float64)[rows],
                           float(catalog.meta.redshift or 0.0),
                           omega_m_of(catalog.meta.cosmology))
    distances[todo] = np.sqrt((offset**2).sum(axis=1)) / radius
    return distances, "positions" if todo.all() else "r_host+positions"


def radial_profile(distances: Any, edges: Any = None) -> pd.DataFrame:
    """Normalised number-density profile of satellites around their hosts.

    Args:
        distances: (satellites,) r / R_vir (:func:`satellite_distances`).
        edges: radial bins in r / R_vir (default :data:`DEFAULT_PROFILE_EDGES`).

    Returns:
        One row per bin: ``r_min, r_max, r_mid`` (geometric), ``count``, ``fraction``
        (of all satellites, so the fractions of satellites outside the bins are missing
        from the sum), ``fraction_error`` (Poisson), ``density = count / (N_sat 4/3 pi
        (r_max^3 - r_min^3))`` in R_vir^-3 (so that ``int density 4 pi r^2 dr`` = 1 over
        all radii) and ``density_error`` (Poisson).
    """
    values = np.asarray(distances, dtype=float)
    edges = np.asarray(DEFAULT_PROFILE_EDGES if edges is None else edges, dtype=float)
    if edges.ndim != 1 or len(edges) < 2 or edges[0] < 0 or np.any(np.diff(edges) <= 0):
        raise ClusteringError(f"radial edges must be >= 0 and increasing, got {edges.tolist()}")
    if values.size == 0 or not np.isfinite(values).all():
        raise ClusteringError("radial profile: no satellites, or NaN distances")
    count = np.histogram(values, edges)[0].astype(float)
    total = float(values.size)
    shell = 4.0 / 3.0 * np.pi * np.diff(edges**3)
    return pd.DataFrame({
        "r_min": edges[:-1], "r_max": edges[1:],
        "r_mid": np.sqrt(edges[:-1] * edges[1:]) if edges[0] > 0 else 0.5 * (
            edges[:-1] + edges[1:]),
        "count": count.astype(np.int64), "fraction": count / total,
        "fraction_error": np.sqrt(count) / total, "density": count / (total * shell),
        "density_error": np.sqrt(count) / (total * shell)})


def _moments(n: np.ndarray) -> dict[str, float]:
    """Mean, variance, variance / mean of counts n (hosts,), with large-sample errors:
    se(mean) = s / sqrt(H); var(s^2) = (m4 - s^4 (H - 3) / (H - 1)) / H; cov(mean, s^2) =
    m3 / H; the ratio's error by the delta method with that covariance."""
    hosts = len(n)
    mean = float(n.mean())
    out = {"mean": mean, "mean_error": math.nan, "variance": math.nan,
           "variance_error": math.nan, "ratio": math.nan, "ratio_error": math.nan,
           "factorial2": float(np.mean(n * (n - 1.0)))}
    if hosts < 2:
        return out
    variance = float(n.var(ddof=1))
    deviation = n - mean
    m3, m4 = float(np.mean(deviation**3)), float(np.mean(deviation**4))
    var_mean = variance / hosts
    var_variance = max(m4 - variance**2 * (hosts - 3) / (hosts - 1), 0.0) / hosts
    out.update(mean_error=math.sqrt(var_mean), variance=variance,
               variance_error=math.sqrt(var_variance))
    if mean > 0:
        ratio = variance / mean
        var_ratio = (var_variance / mean**2 + variance**2 * var_mean / mean**4
                     - 2.0 * variance * (m3 / hosts) / mean**3)
        out.update(ratio=ratio, ratio_error=math.sqrt(max(var_ratio, 0.0)))
    return out


def occupation(table: pd.DataFrame, mass_edges: Any = None,
               width: float = DEFAULT_MASS_WIDTH) -> pd.DataFrame:
    """<N_sat | M_h>, its variance and variance / mean over the hosts of each host-mass
    bin (every host counts, with or without satellites).

    Returns:
        One row per non-empty bin: ``M_min, M_max, M_mid, n_hosts, n_satellites, mean,
        mean_error, variance, variance_error, ratio`` (variance / mean: 1 for Poisson,
        > 1 super-Poisson), ``ratio_error``, ``factorial2`` (<N_sat (N_sat - 1)>, the
        satellite pairs per host of the one-halo term). Errors are large-sample ones
        (:func:`_moments`); NaN for bins of one host.
    """
    hosts = hosts_of(table)
    edges, index = mass_bins(hosts, mass_edges, width)
    rows = []
    for i in range(len(edges) - 1):
        n = hosts.n_sat[index == i].astype(float)
        if n.size == 0:
            continue
        rows.append({"M_min": edges[i], "M_max": edges[i + 1],
                     "M_mid": 0.5 * (edges[i] + edges[i + 1]), "n_hosts": int(n.size),
                     "n_satellites": int(n.sum()), **_moments(n)})
    return pd.DataFrame(rows)


_TABLE_NAMES = ("fraction", "profile", "occupation", "quenched", "conformity",
                "quenched_radius")


@dataclass
class SatelliteStatistics:
    """Every satellite statistic of one catalog.

    Attributes:
        label: the catalog's name.
        fraction, profile, occupation, quenched, conformity, quenched_radius: the
            tables of :func:`satellite_fraction`, :func:`radial_profile`,
            :func:`occupation`, :func:`quenched_fractions`, :func:`conformity`,
            :func:`quenched_by_radius` (empty when not measurable).
        summary: counts and overall fractions (JSON-able).
        notes: what was skipped and why.
    """

    label: str
    fraction: pd.DataFrame
    profile: pd.DataFrame
    occupation: pd.DataFrame
    quenched: pd.DataFrame
    conformity: pd.DataFrame
    summary: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    quenched_radius: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: summary, notes and every table as records (NaN as None)."""
        return {"label": self.label, "summary": self.summary, "notes": self.notes,
                **{name: _records(getattr(self, name)) for name in
                   _TABLE_NAMES}}

    def tables(self) -> dict[str, pd.DataFrame]:
        """``{name: table}`` with a leading ``catalog`` column (the label)."""
        out = {}
        for name in _TABLE_NAMES:
            frame = getattr(self, name).copy()
            frame.insert(0, "catalog", self.label)
            out[name] = frame
        return out


def satellite_statistics(catalog: Catalog, *, label: str = "catalog",
                         smass_edges: Any = None, mass_edges: Any = None,
                         profile_edges: Any = None, quenched_by: str | None = None,
                         quenched_cut: float | None = None) -> SatelliteStatistics:
    """All satellite statistics of ``catalog`` (see the module docstring).

    Statistics whose columns are missing (``smass``; ``sSFR`` and ``color``) are left
    empty with a note; a catalog without the host structure or without any way to the
    satellites' distances is refused (:func:`check_satellite_catalog`).
    """
    check_satellite_catalog(catalog)
    table = catalog.table
    satellite = ~catalog.central_mask()
    notes: list[str] = []
    empty = pd.DataFrame()
    fraction = (satellite_fraction(table, smass_edges) if "smass" in table.columns
                else empty)
    if "smass" not in table.columns:
        notes.append("satellite fraction skipped: no 'smass' column")
    if satellite.any():
        distances, source = satellite_distances(catalog)
        profile = radial_profile(distances, profile_edges)
    else:
        distances, source, profile = np.empty(0), "none", empty
        notes.append("radial profile skipped: the catalog holds no satellites")
    occupied = occupation(table, mass_edges)
    if "N_sat" in table.columns:
        hosts = hosts_of(table)
        given = table["N_sat"].to_numpy(np.float64, na_value=np.nan)[hosts.central_row]
        differ = int(np.sum(given != hosts.n_sat))
        if differ:
            notes.append(f"column 'N_sat' differs from the satellite rows counted for "
                         f"{differ} of {len(given)} hosts (the occupation counts the rows)")
    if "sSFR" in table.columns or "color" in table.columns:
        quenched = quenched_fractions(table, mass_edges, by=quenched_by, cut=quenched_cut)
        conform = conformity(table, mass_edges, by=quenched_by, cut=quenched_cut)
        radial_quenched = (quenched_by_radius(
            table, distances, DEFAULT_PROFILE_EDGES if profile_edges is None
            else profile_edges, by=quenched_by, cut=quenched_cut)
            if distances.size else empty)
    else:
        quenched = conform = radial_quenched = empty
        notes.append("quenched fractions and conformity skipped: no 'sSFR' or 'color'")
    edges = DEFAULT_PROFILE_EDGES if profile_edges is None else np.asarray(profile_edges)
    summary = {
        "galaxies": len(table), "centrals": int((~satellite).sum()),
        "satellites": int(satellite.sum()),
        "satellite_fraction": float(satellite.mean()),
        "distance_source": source,
        "satellites_inside_profile": int(((distances >= edges[0])
                                          & (distances < edges[-1])).sum()),
        "median_r_host": float(np.median(distances)) if distances.size else None,
    }
    return SatelliteStatistics(label, fraction, profile, occupied, quenched, conform,
                               summary, notes, radial_quenched)
