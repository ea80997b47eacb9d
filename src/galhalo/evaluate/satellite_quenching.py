"""Quenching of satellites: the quenched fraction of satellites and centrals against
host mass, that of satellites against their distance to the host centre, and galactic
conformity (f_Q of the satellites of quenched minus star-forming centrals at fixed host
mass).

Fractions over satellites treat the host as the sampling unit (a ratio estimator with
the cluster-robust variance), since the satellites of one host are not independent.
Units: masses log10(Msun/h), sSFR log10(1/yr), colour g - i mag.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..catalog.schema import IS_CENTRAL
from ..errors import ClusteringError
from .satellite_hosts import DEFAULT_MASS_WIDTH, Hosts, hosts_of, mass_bins, require_columns

__all__ = ["MIN_CONFORMITY_HOSTS", "QUENCHED_CUTS", "conformity", "quenched_by_radius",
           "quenched_fractions", "quenched_mask"]

#: Fewest hosts with satellites under each kind of central for a host-mass bin to enter
#: the conformity measurement: the cluster-robust error of a fraction over a handful of
#: hosts is itself unreliable, and the combined (inverse-variance) mean would trust it.
MIN_CONFORMITY_HOSTS = 10

#: Quenched when ``sSFR < -11`` (log10 1/yr) or ``color > 0.9`` (g - i): REFERENCES.md.
QUENCHED_CUTS = {"sSFR": -11.0, "color": 0.9}


def quenched_mask(table: pd.DataFrame, by: str | None = None,
                  cut: float | None = None) -> tuple[np.ndarray, str]:
    """Quenched rows: ``sSFR < cut`` (default -11) or ``color > cut`` (default 0.9).

    ``by`` None picks ``sSFR`` when present, else ``color``. Returns (mask (rows,), a
    description such as ``"sSFR < -11"``).
    """
    if by is None:
        by = "sSFR" if "sSFR" in table.columns else "color"
    if by not in QUENCHED_CUTS:
        raise ClusteringError(f"quenched by {by!r}: use sSFR or color")
    require_columns(table, (by,), "the quenched fraction")
    cut = QUENCHED_CUTS[by] if cut is None else float(cut)
    values = table[by].to_numpy(np.float64)
    if by == "sSFR":
        return values < cut, f"sSFR < {cut:g}"
    return values > cut, f"color > {cut:g}"


def _clustered_fraction(quenched: np.ndarray, members: np.ndarray) -> tuple[float, float]:
    """f = sum q_h / sum n_h over hosts with members, and its cluster-robust error
    sqrt(H / (H - 1) sum (q_h - f n_h)^2) / sum n_h (hosts as the sampling unit)."""
    keep = members > 0
    hosts, total = int(keep.sum()), float(members.sum())
    if hosts == 0:
        return math.nan, math.nan
    f = float(quenched.sum()) / total
    if hosts < 2:
        return f, math.nan
    residual = quenched[keep] - f * members[keep]
    return f, math.sqrt(hosts / (hosts - 1) * float(np.sum(residual**2))) / total


def _per_host_quenched(table: pd.DataFrame, hosts: Hosts, by: str | None,
                       cut: float | None) -> tuple[np.ndarray, np.ndarray, str]:
    """(quenched satellites per host, central quenched (hosts,), description)."""
    quenched, description = quenched_mask(table, by, cut)
    central = table[IS_CENTRAL.name].to_numpy().astype(bool)
    q_sat = np.bincount(hosts.row_host[~central], weights=quenched[~central],
                        minlength=len(hosts.mass))
    return q_sat, quenched[hosts.central_row], description


def quenched_fractions(table: pd.DataFrame, mass_edges: Any = None,
                       width: float = DEFAULT_MASS_WIDTH, by: str | None = None,
                       cut: float | None = None) -> pd.DataFrame:
    """Quenched fraction of satellites and of centrals against host mass.

    Returns:
        One row per non-empty bin: ``M_min, M_max, M_mid, n_hosts, n_satellites,
        fq_satellites, fq_satellites_error`` (hosts as sampling unit), ``fq_centrals,
        fq_centrals_error`` (binomial), ``quenched`` (the definition, e.g. ``sSFR <
        -11``).
    """
    hosts = hosts_of(table)
    q_sat, q_cen, description = _per_host_quenched(table, hosts, by, cut)
    edges, index = mass_bins(hosts, mass_edges, width)
    rows = []
    for i in range(len(edges) - 1):
        here = index == i
        if not here.any():
            continue
        f_sat, e_sat = _clustered_fraction(q_sat[here], hosts.n_sat[here].astype(float))
        f_cen, e_cen = _clustered_fraction(q_cen[here].astype(float),
                                           np.ones(int(here.sum())))
        rows.append({"M_min": edges[i], "M_max": edges[i + 1],
                     "M_mid": 0.5 * (edges[i] + edges[i + 1]), "n_hosts": int(here.sum()),
                     "n_satellites": int(hosts.n_sat[here].sum()), "fq_satellites": f_sat,
                     "fq_satellites_error": e_sat, "fq_centrals": f_cen,
                     "fq_centrals_error": e_cen, "quenched": description})
    return pd.DataFrame(rows)


def conformity(table: pd.DataFrame, mass_edges: Any = None,
               width: float = DEFAULT_MASS_WIDTH, by: str | None = None,
               cut: float | None = None) -> pd.DataFrame:
    """Galactic conformity: f_Q of the satellites of quenched centrals minus that of the
    satellites of star-forming centrals, in host-mass bins (so at fixed host mass).

    Returns:
        One row per bin with satellites under both kinds of central, at least
        :data:`MIN_CONFORMITY_HOSTS` hosts each (``scope =
        "bin"``) and a last row ``scope = "combined"``: the inverse-variance weighted
        mean of the bins' differences. Columns ``scope, M_min, M_max, n_hosts_quenched,
        n_hosts_starforming, fq_quenched_centrals, fq_quenched_centrals_error,
        fq_starforming_centrals, fq_starforming_centrals_error, difference,
        difference_error, sigma, quenched``. Errors treat hosts as the sampling unit;
        0 (within errors) without conformity.
    """
    hosts = hosts_of(table)
    q_sat, q_cen, description = _per_host_quenched(table, hosts, by, cut)
    edges, index = mass_bins(hosts, mass_edges, width)
    rows = []
    for i in range(len(edges) - 1):
        groups = {}
        for name, select in (("quenched", q_cen), ("starforming", ~q_cen)):
            here = (index == i) & select & (hosts.n_sat > 0)
            groups[name] = (int(here.sum()), *_clustered_fraction(
                q_sat[here], hosts.n_sat[here].astype(float)))
        (n_q, f_q, e_q), (n_s, f_s, e_s) = groups["quenched"], groups["starforming"]
        if min(n_q, n_s) < MIN_CONFORMITY_HOSTS:
            continue
        difference, error = f_q - f_s, math.hypot(e_q, e_s)
        rows.append({"scope": "bin", "M_min": edges[i], "M_max": edges[i + 1],
                     "n_hosts_quenched": n_q, "n_hosts_starforming": n_s,
                     "fq_quenched_centrals": f_q, "fq_quenched_centrals_error": e_q,
                     "fq_starforming_centrals": f_s, "fq_starforming_centrals_error": e_s,
                     "difference": difference, "difference_error": error,
                     "sigma": difference / error if error > 0 else math.nan,
                     "quenched": description})
    frame = pd.DataFrame(rows)
    usable = frame[frame["difference_error"] > 0] if len(frame) else frame
    if len(usable):
        weight = 1.0 / usable["difference_error"].to_numpy() ** 2
        difference = float(np.sum(weight * usable["difference"]) / weight.sum())
        error = float(1.0 / math.sqrt(weight.sum()))
        combined = {"scope": "combined", "M_min": float(usable["M_min"].min()),
                    "M_max": float(usable["M_max"].max()),
                    "n_hosts_quenched": int(usable["n_hosts_quenched"].sum()),
                    "n_hosts_starforming": int(usable["n_hosts_starforming"].sum()),
                    "difference": difference, "difference_error": error,
                    "sigma": difference / error, "quenched": description}
        frame = pd.concat([frame, pd.DataFrame([combined])], ignore_index=True)
    return frame


def quenched_by_radius(table: pd.DataFrame, distances: np.ndarray, edges: Any,
                       by: str | None = None, cut: float | None = None) -> pd.DataFrame:
    """Quenched fraction of satellites against their distance to the host centre.

    Args:
        table: rows with ``host_id`` / ``is_central`` / ``M_h`` and ``sSFR`` or ``color``.
        distances: (satellites,) r / R_vir of the satellite rows in table order
            (:func:`.satellite_statistics.satellite_distances`).
        edges: radial bins, r / R_vir.

    Returns:
        One row per bin holding satellites: ``r_min, r_max, r_mid`` (geometric, or the
        middle when r_min = 0), ``n_satellites, n_hosts, fq_satellites,
        fq_satellites_error`` (hosts as the sampling unit, as in
        :func:`quenched_fractions`), ``quenched`` (the definition).
    """
    hosts = hosts_of(table)
    quenched, description = quenched_mask(table, by, cut)
    central = table[IS_CENTRAL.name].to_numpy().astype(bool)
    values = np.asarray(distances, dtype=float)
    if values.shape != (int((~central).sum()),):
        raise ClusteringError(f"quenched fraction by radius: {values.size} distances for "
                              f"{int((~central).sum())} satellites")
    edges = np.asarray(edges, dtype=float)
    owner = hosts.row_host[~central]
    q_sat = quenched[~central].astype(float)
    index = np.searchsorted(edges, values, side="right") - 1
    rows = []
    for i in range(len(edges) - 1):
        here = index == i
        if not here.any():
            continue
        q_host = np.bincount(owner[here], weights=q_sat[here], minlength=len(hosts.mass))
        n_host = np.bincount(owner[here], minlength=len(hosts.mass)).astype(float)
        f, error = _clustered_fraction(q_host, n_host)
        rows.append({"r_min": edges[i], "r_max": edges[i + 1],
                     "r_mid": math.sqrt(edges[i] * edges[i + 1]) if edges[i] > 0 else 0.5 * (
                         edges[i] + edges[i + 1]),
                     "n_satellites": int(here.sum()), "n_hosts": int((n_host > 0).sum()),
                     "fq_satellites": f, "fq_satellites_error": error,
                     "quenched": description})
    return pd.DataFrame(rows)
