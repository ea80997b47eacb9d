"""Truth vs mocks with satellites: wp(rp) ratios with the truth's jackknife band, the
within-tolerance verdict per population, and every satellite statistic side by side.

* :func:`wp_ratios`: mock / truth wp(rp) per population and bin. The error is the
  truth's jackknife error carried to the ratio, ``ratio * sigma_truth / wp_truth``: the
  band within which a perfect mock of an independent realisation of the same universe
  would scatter (a catalog against itself: ratio exactly 1, error > 0);
* :func:`ratio_summary`: per mock and population, the largest ``|ratio - 1|`` over the
  bins centred in ``rp_range`` (default 0.1-20 Mpc/h) and whether it is within the
  tolerance (default 5%);
* :func:`compare_satellites`: both for the truth and every mock with satellites, with
  :func:`~.satellite_statistics.satellite_statistics` of each catalog;
* :func:`combine_universes`: the same comparison made on several independent universes
  (truth and mocks painted on each one's hosts) pooled into one: wp the mean over the
  universes, its error the delete-one-universe jackknife, and the ratio's error the
  joint jackknife of mock and truth (their shared large-scale noise cancels). Many
  small boxes resolve what one box cannot: the noise floor falls as 1/sqrt(universes).

Units: rp in comoving Mpc/h.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ..catalog import Catalog
from ..clustering.correlation import Correlation
from ..clustering.jackknife import jackknife_covariance
from ..errors import ClusteringError
from .satellite_clustering import (
    SmallScaleClustering,
    SmallScaleSettings,
    colour_quantile_edges,
    measure_small_scales,
)
from .satellite_statistics import SatelliteStatistics, satellite_statistics

__all__ = ["DEFAULT_RATIO_RANGE", "DEFAULT_TOLERANCE", "SatelliteComparison",
           "combine_universes", "compare_satellites", "ratio_summary", "wp_ratios"]

#: Separations (Mpc/h) over which the wp ratios are judged.
DEFAULT_RATIO_RANGE = (0.1, 20.0)
#: Largest accepted |mock / truth - 1| of wp(rp).
DEFAULT_TOLERANCE = 0.05


def wp_ratios(truth: SmallScaleClustering,
              mocks: Mapping[str, SmallScaleClustering], joint: bool = False) -> pd.DataFrame:
    """mock / truth wp(rp) of every population both measured.

    Args:
        joint: the error is the jackknife of the ratio itself (copy k of the mock over
            copy k of the truth: both must have the same copies, e.g. the same
            universes), which keeps the noise the two share out of the error.

    Returns:
        One row per (population, bin, mock): ``population, rp`` (geometric bin centre,
        Mpc/h), ``label`` (the mock), ``ratio``, ``error`` (``|ratio| sigma_truth /
        |wp_truth|``, the truth's jackknife error, or with ``joint`` the ratio's
        jackknife error; NaN where wp_truth is 0).

    Raises:
        ClusteringError: a mock measured on other bins than the truth.
    """
    rows = []
    for label, mock in mocks.items():
        for name, reference in truth.wp.items():
            if name not in mock.wp:
                continue
            measured = mock.wp[name]
            if not np.allclose(measured.edges, reference.edges):
                raise ClusteringError(f"wp ratio {label!r} / truth: different rp bins")
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = measured.value / reference.value
                if joint:
                    copies = measured.copies / reference.copies
                    error = np.sqrt(np.diag(jackknife_covariance(copies)))
                else:
                    error = np.abs(ratio) * reference.error / np.abs(reference.value)
            for rp, r, e in zip(reference.centers, ratio, error, strict=True):
                rows.append({"population": name, "rp": float(rp), "label": label,
                             "ratio": float(r), "error": float(e)})
    return pd.DataFrame(rows, columns=["population", "rp", "label", "ratio", "error"])


def ratio_summary(ratios: pd.DataFrame, rp_range: tuple[float, float] = DEFAULT_RATIO_RANGE,
                  tolerance: float = DEFAULT_TOLERANCE) -> dict[str, dict[str, Any]]:
    """``{mock: {population: {max_deviation, rp_at_max, error_at_max, sigma_at_max,
    within}}}``: the largest |ratio - 1| over the bins centred in ``rp_range`` (a NaN
    ratio counts as not within), the truth's band there, and ``within`` = max <=
    ``tolerance``. Populations without a bin in range are left out."""
    low, high = rp_range
    out: dict[str, dict[str, Any]] = {}
    inside = ratios[(ratios["rp"] >= low) & (ratios["rp"] <= high)]
    for (label, name), part in inside.groupby(["label", "population"], sort=False):
        deviation = np.abs(part["ratio"].to_numpy(float) - 1.0)
        if not np.isfinite(deviation).all():
            worst = int(np.flatnonzero(~np.isfinite(deviation))[0])
            biggest = math.inf
        else:
            worst = int(np.argmax(deviation))
            biggest = float(deviation[worst])
        error = float(part["error"].iloc[worst])
        out.setdefault(str(label), {})[str(name)] = {
            "max_deviation": biggest if math.isfinite(biggest) else None,
            "rp_at_max": float(part["rp"].iloc[worst]),
            "error_at_max": error if math.isfinite(error) else None,
            "sigma_at_max": (biggest / error if math.isfinite(biggest) and error > 0
                             else None),
            "within": bool(biggest <= tolerance)}
    return out


def verdict_table(summary: Mapping[str, Mapping[str, Any]], tolerance: float) -> pd.DataFrame:
    """The summary as a table: ``mock, population, max |ratio - 1|, rp at max [Mpc/h],
    truth band there, within {tolerance}``."""
    rows = [{"mock": label, "population": name,
             "max |ratio - 1|": entry["max_deviation"], "rp at max [Mpc/h]": entry["rp_at_max"],
             "truth band there": entry["error_at_max"],
             f"within {100 * tolerance:g}%": "yes" if entry["within"] else "no"}
            for label, populations in summary.items() for name, entry in populations.items()]
    return pd.DataFrame(rows)


@dataclass
class SatelliteComparison:
    """Small scales and satellite statistics of the truth and each mock with satellites.

    Attributes:
        small: ``{label: SmallScaleClustering}``, the truth first (label ``truth``).
        statistics: ``{label: SatelliteStatistics}``, same labels.
        ratios: :func:`wp_ratios` of every mock (empty without mocks).
        summary: :func:`ratio_summary`.
        rp_range, tolerance: what the summary judged.
        band: what the ratios' ``error`` is (said by figures and tables).
    """

    small: dict[str, SmallScaleClustering]
    statistics: dict[str, SatelliteStatistics]
    ratios: pd.DataFrame
    summary: dict[str, dict[str, Any]]
    rp_range: tuple[float, float] = DEFAULT_RATIO_RANGE
    tolerance: float = DEFAULT_TOLERANCE
    band: str = "the truth's jackknife error"

    def verdict(self) -> pd.DataFrame:
        """:func:`verdict_table` of the summary."""
        return verdict_table(self.summary, self.tolerance)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary with its range and tolerance."""
        return {"rp_range": list(self.rp_range), "tolerance": self.tolerance,
                "band": self.band, "mocks": self.summary}


def compare_satellites(
    catalogs: Mapping[str, Catalog], settings: SmallScaleSettings | None = None, *,
    shared_edges: bool = False, quenched_by: str | None = None,
    rp_range: tuple[float, float] = DEFAULT_RATIO_RANGE,
    tolerance: float = DEFAULT_TOLERANCE, progress: Callable[[str], None] | None = None,
    ratios: bool = True,
) -> SatelliteComparison:
    """Measure every catalog with satellites and compare the mocks with the truth.

    Args:
        catalogs: ``{label: catalog}`` with satellites, the truth first (its label is the
            reference of the ratios; the others are mocks).
        settings: bins and estimator (:class:`SmallScaleSettings`).
        shared_edges: cut the mocks' colour quantiles at the truth's colour values.
        quenched_by: ``sSFR`` or ``color`` (None: sSFR if present).
        rp_range, tolerance: of :func:`ratio_summary`.
        ratios: compare the others with the first (False: measure each alone, e.g.
            when the truth has no satellites).
    """
    if not catalogs:
        raise ClusteringError("compare_satellites needs at least the truth catalog")
    settings = settings or SmallScaleSettings()
    labels = list(catalogs)
    truth_label = labels[0]
    mock_settings = settings
    if shared_edges and settings.colour_quantiles >= 2 and "color" in catalogs[
            truth_label].table.columns:
        mock_settings = replace(settings, colour_edges=colour_quantile_edges(
            catalogs[truth_label].table, settings.colour_quantiles))
    small, statistics = {}, {}
    for label, catalog in catalogs.items():
        small[label] = measure_small_scales(
            catalog, settings if label == truth_label else mock_settings, label=label,
            progress=progress)
        statistics[label] = satellite_statistics(catalog, label=label,
                                                 quenched_by=quenched_by)
    table = wp_ratios(small[truth_label], {k: small[k] for k in labels[1:]} if ratios
                      else {})
    return SatelliteComparison(small, statistics, table,
                               ratio_summary(table, rp_range, tolerance), rp_range,
                               tolerance)


def _pooled(measured: list[Correlation]) -> Correlation:
    """The mean of one statistic over universes, its copies the delete-one-universe means
    (so its jackknife error is the standard error of the mean)."""
    values = np.stack([correlation.value for correlation in measured])
    total = values.sum(axis=0)
    copies = (total[None, :] - values) / (len(values) - 1)
    first = measured[0]
    return Correlation(first.statistic, first.edges, total / len(values), copies,
                       tuple(int(np.mean([c.n_points[i] for c in measured]))
                             for i in range(len(first.n_points))),
                       {**first.meta, "universes": len(values)})


def combine_universes(comparisons: list[SatelliteComparison]) -> SatelliteComparison:
    """Pool :func:`compare_satellites` results of independent universes (same labels,
    settings and bins; each mock painted on its own universe's hosts).

    Every wp becomes the mean over the universes (copies: delete-one-universe means);
    the ratios are mean mock / mean truth with the joint jackknife over universes
    (:func:`wp_ratios` ``joint``); the satellite statistics are the first universe's.
    A population missing from a universe is left out.

    Raises:
        ClusteringError: fewer than two comparisons, or different labels or bins.
    """
    if len(comparisons) < 2:
        raise ClusteringError(f"combine_universes needs at least 2 comparisons, got "
                              f"{len(comparisons)}")
    first = comparisons[0]
    labels = list(first.small)
    if any(list(c.small) != labels for c in comparisons[1:]):
        raise ClusteringError("combine_universes: the comparisons hold different catalogs")
    small = {}
    for label in labels:
        measured = [c.small[label] for c in comparisons]
        names = [name for name in measured[0].wp if all(name in m.wp for m in measured)]
        for name in names:
            if any(not np.allclose(m.wp[name].edges, measured[0].wp[name].edges)
                   for m in measured):
                raise ClusteringError(f"combine_universes: {label!r} {name!r} measured on "
                                      "different rp bins")
        small[label] = replace(
            measured[0], wp={name: _pooled([m.wp[name] for m in measured]) for name in names},
            xi={}, counts={name: int(np.mean([m.counts[name] for m in measured]))
                           for name in names},
            realizations=measured[0].realizations * len(measured))
    table = wp_ratios(small[labels[0]], {k: small[k] for k in labels[1:]}, joint=True)
    return SatelliteComparison(
        small, first.statistics, table, ratio_summary(table, first.rp_range, first.tolerance),
        first.rp_range, first.tolerance,
        band=f"jackknife over {len(comparisons)} universes (mock and truth jointly)")
