"""Small-scale clustering of a catalog with satellites: wp(rp) and xi(r) from 0.1 Mpc/h
(the one-halo term) to the large scales, by population, with jackknife errors.

Populations (:func:`satellite_populations`): ``all``, ``centrals``, ``satellites``, and
with a ``color`` column ``red`` / ``blue`` (g - i above / below a cut, default 0.9)
overall and among centrals and satellites, and the colour quartiles ``color q1/4`` ...
``color q4/4`` over all galaxies (:class:`~.populations.Split`; bluest first; the
catalog's own quartiles, or given cuts such as the truth's); plus the cross-correlation
``centrals x satellites``. A population below ``min_points`` is skipped with a note (the others are
still measured). A mock with a ``realization`` column is measured per realisation and
averaged (value and jackknife copies, :func:`galhalo.clustering.mean_over_realizations`).
Estimators: :func:`galhalo.clustering.wp` and :func:`galhalo.clustering.xi` (natural
estimator with analytic randoms in the periodic box).

Units: separations in comoving Mpc/h; wp in Mpc/h, xi dimensionless.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..catalog import REALIZATION, Catalog
from ..clustering import (
    DEFAULT_JACKKNIFE,
    DEFAULT_PER_DECADE,
    DEFAULT_PI_MAX,
    DEFAULT_RP_MAX,
    DEFAULT_RP_MIN,
    DEFAULT_THREADS,
    MIN_POINTS,
    Correlation,
    check_jackknife,
    line_of_sight_order,
    log_edges,
    mean_over_realizations,
    wp,
    xi,
)
from ..errors import ClusteringError
from .populations import Split
from .positions import box_size_of, catalog_positions

__all__ = ["CROSS", "DEFAULT_COLOUR_CUT", "SmallScaleClustering", "SmallScaleSettings",
           "colour_quantile_edges", "measure_small_scales", "satellite_populations"]

#: Red / blue boundary in g - i (REFERENCES.md: 22% of TNG300 centrals are redder).
DEFAULT_COLOUR_CUT = 0.9
#: Name of the centrals x satellites cross-correlation.
CROSS = "centrals x satellites"


@dataclass(frozen=True)
class SmallScaleSettings:
    """Bins and estimator settings of the small-scale statistics.

    Attributes:
        rp_min, rp_max: separation range, Mpc/h (rp for wp, r for xi).
        per_decade: log bins per factor of ten (:func:`galhalo.clustering.log_edges`).
        pi_max: wp's line-of-sight depth, whole Mpc/h; los: its axis.
        jackknife: cubes per box side (side >= max(rp_max, pi_max)).
        nthreads: Corrfunc threads; min_points: smallest population measured.
        colour_cut: red / blue boundary in g - i, mag.
        colour_quantiles: colour populations of equal counts over all galaxies (0:
            none); colour_edges: their cuts in g - i (quantiles - 1 values, e.g. the
            truth's, :func:`colour_quantile_edges`), None: each catalog's own quantiles.
        populations: the populations measured (names of :func:`satellite_populations`
            and :data:`CROSS`), None: every one.
        with_xi: also measure xi(r) (False: wp(rp) only, half the pair counts).
    """

    rp_min: float = DEFAULT_RP_MIN
    rp_max: float = DEFAULT_RP_MAX
    per_decade: int = DEFAULT_PER_DECADE
    pi_max: float = DEFAULT_PI_MAX
    los: str = "z"
    jackknife: int = DEFAULT_JACKKNIFE
    nthreads: int = DEFAULT_THREADS
    min_points: int = MIN_POINTS
    colour_cut: float = DEFAULT_COLOUR_CUT
    colour_quantiles: int = 4
    colour_edges: tuple[float, ...] | None = None
    populations: tuple[str, ...] | None = None
    with_xi: bool = True

    @property
    def edges(self) -> np.ndarray:
        """Separation edges (bins + 1,), Mpc/h."""
        return log_edges(self.rp_min, self.rp_max, self.per_decade)

    def check(self, box_size: float) -> None:
        """Every setting against the box, before any pair count (ClusteringError)."""
        edges = self.edges
        if not (math.isfinite(self.pi_max) and self.pi_max >= 1
                and float(self.pi_max).is_integer()):
            raise ClusteringError(f"pi_max must be a whole number of Mpc/h >= 1, got "
                                  f"{self.pi_max}")
        if not math.isfinite(self.colour_cut):
            raise ClusteringError(f"colour cut must be finite, got {self.colour_cut}")
        if self.colour_quantiles == 1 or self.colour_quantiles < 0:
            raise ClusteringError(f"colour quantiles must be 0 (none) or >= 2, got "
                                  f"{self.colour_quantiles}")
        if self.colour_edges is not None and len(self.colour_edges) != max(
                self.colour_quantiles - 1, 0):
            raise ClusteringError(f"{self.colour_quantiles} colour quantiles need "
                                  f"{self.colour_quantiles - 1} cuts, got "
                                  f"{list(self.colour_edges)}")
        line_of_sight_order(self.los)
        check_jackknife(box_size, max(float(edges[-1]), float(self.pi_max)), self.jackknife,
                        self.nthreads)

    def to_dict(self) -> dict[str, Any]:
        return {"edges": self.edges.tolist(), "pi_max": self.pi_max, "los": self.los,
                "jackknife": self.jackknife, "nthreads": self.nthreads,
                "min_points": self.min_points, "colour_cut": self.colour_cut,
                "colour_quantiles": self.colour_quantiles,
                "colour_edges": None if self.colour_edges is None else list(
                    self.colour_edges),
                "populations": None if self.populations is None else list(self.populations),
                "with_xi": self.with_xi}


def colour_quantile_edges(table: pd.DataFrame, quantiles: int) -> tuple[float, ...]:
    """The g - i cuts of ``quantiles`` equal-count populations of every row of
    ``table`` (quantiles - 1 values; empty for quantiles < 2)."""
    if quantiles < 2:
        return ()
    return Split("color", "quantiles", (quantiles,)).edges(table)


def satellite_populations(table: pd.DataFrame, colour_cut: float = DEFAULT_COLOUR_CUT,
                          quantiles: int = 0, edges: tuple[float, ...] | None = None,
                          ) -> dict[str, np.ndarray]:
    """``{name: boolean mask (rows,)}``: all, centrals, satellites, and with a ``color``
    column red (g - i > cut) / blue overall, among centrals and among satellites, then
    (``quantiles`` >= 2) the colour quantiles ``color q1/N`` (bluest) ... over all rows,
    cut at ``edges`` (default: this table's own quantiles)."""
    central = (table["is_central"].to_numpy().astype(bool) if "is_central" in table.columns
               else np.ones(len(table), dtype=bool))
    masks = {"all": np.ones(len(table), dtype=bool), "centrals": central,
             "satellites": ~central}
    if "color" in table.columns:
        red = table["color"].to_numpy(np.float64) > colour_cut
        masks.update({"red": red, "blue": ~red, "red centrals": red & central,
                      "blue centrals": ~red & central, "red satellites": red & ~central,
                      "blue satellites": ~red & ~central})
        if quantiles >= 2:
            split = Split("color", "quantiles", (quantiles,))
            masks.update(split.masks(table, edges))
    return masks


@dataclass
class SmallScaleClustering:
    """wp(rp) and xi(r) of every population of one catalog.

    Attributes:
        label: the catalog's name.
        wp, xi: ``{population: Correlation}`` (the cross-correlation under :data:`CROSS`).
        counts: ``{population: rows}`` (mean over realisations).
        skipped: ``{population: why}`` for populations not measured.
        settings: :class:`SmallScaleSettings`.
    """

    label: str
    wp: dict[str, Correlation]
    xi: dict[str, Correlation]
    counts: dict[str, int]
    skipped: dict[str, str]
    settings: SmallScaleSettings
    realizations: int = 1

    def table(self) -> pd.DataFrame:
        """Tidy: one row per (population, statistic, bin): ``catalog, population,
        statistic`` (``wp`` Mpc/h or ``xi``), ``r_min, r_max, r`` (geometric centre,
        Mpc/h), ``value, error`` (jackknife), ``n_points``."""
        rows = []
        for statistic, measured in (("wp", self.wp), ("xi", self.xi)):
            for name, correlation in measured.items():
                edges, error = correlation.edges, correlation.error
                for i, value in enumerate(correlation.value):
                    rows.append({"catalog": self.label, "population": name,
                                 "statistic": statistic, "r_min": edges[i],
                                 "r_max": edges[i + 1], "r": correlation.centers[i],
                                 "value": value, "error": error[i],
                                 "n_points": self.counts[name]})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "settings": self.settings.to_dict(),
                "realizations": self.realizations, "counts": self.counts,
                "skipped": self.skipped,
                "wp": {k: v.to_dict() for k, v in self.wp.items()},
                "xi": {k: v.to_dict() for k, v in self.xi.items()}}


def _parts(table: pd.DataFrame) -> list[pd.DataFrame]:
    if REALIZATION not in table.columns:
        return [table]
    return [part for _, part in table.groupby(REALIZATION, sort=True)]


def measure_small_scales(catalog: Catalog, settings: SmallScaleSettings | None = None, *,
                         label: str = "catalog",
                         progress: Callable[[str], None] | None = None,
                         ) -> SmallScaleClustering:
    """wp(rp) and xi(r) of every :func:`satellite_populations` population of
    ``catalog`` and the centrals x satellites cross-correlation, jackknife errors.

    Raises:
        ClusteringError: box size missing, positions outside the box, settings that do
            not fit the box (named) -- all before any pair count.
    """
    settings = settings or SmallScaleSettings()
    box = box_size_of(catalog)
    settings.check(box)
    edges = settings.edges
    say = progress or (lambda message: None)
    parts = _parts(catalog.table)
    positions = [catalog_positions(Catalog(part, catalog.meta)) for part in parts]
    populations = [satellite_populations(part, settings.colour_cut,
                                         settings.colour_quantiles, settings.colour_edges)
                   for part in parts]
    common = {"jackknife": settings.jackknife, "nthreads": settings.nthreads,
              "min_points": settings.min_points}
    names = list(populations[0])
    wp_of: dict[str, list[Correlation]] = {}
    xi_of: dict[str, list[Correlation]] = {}
    counts: dict[str, int] = {}
    skipped: dict[str, str] = {}
    unknown = sorted(set(settings.populations or ()) - {*names, CROSS})
    if unknown:
        raise ClusteringError(f"{label}: unknown population(s) {', '.join(unknown)} "
                              f"(this catalog has: {', '.join([*names, CROSS])})")
    chosen = [name for name in [*names, CROSS]
              if settings.populations is None or name in settings.populations]
    for name in chosen:
        sizes = ([int(min(p["centrals"].sum(), p["satellites"].sum())) for p in populations]
                 if name == CROSS else [int(p[name].sum()) for p in populations])
        if min(sizes) < settings.min_points:
            skipped[name] = (f"{min(sizes)} points (fewer than the minimum "
                             f"{settings.min_points})")
            continue
        say(f"{label}: {name} ({int(np.mean(sizes)):,} points)")
        for where, mask in zip(positions, populations, strict=True):
            if name == CROSS:
                first, others = where[mask["centrals"]], where[mask["satellites"]]
            else:
                first, others = where[mask[name]], None
            wp_of.setdefault(name, []).append(
                wp(first, box, edges, pi_max=settings.pi_max, los=settings.los,
                   others=others, **common))
            if settings.with_xi:
                xi_of.setdefault(name, []).append(xi(first, box, edges, others=others,
                                                     **common))
        counts[name] = round(float(np.mean(sizes)))
    return SmallScaleClustering(
        label, {k: mean_over_realizations(v) for k, v in wp_of.items()},
        {k: mean_over_realizations(v) for k, v in xi_of.items()}, counts, skipped,
        settings, len(parts))
