"""Tracer bias of galaxy populations, the assembly-bias shuffle test, stochasticity, and
the truth-vs-mock clustering comparison.

* Populations are rows selected by a :class:`Split` of one column: quantiles
  (``"color:quantiles=4"``), bins between thresholds (``"smass:thresholds=9.5,10.5"``),
  cumulative threshold samples (``"smass:above=9.5,10.5"``), the values of an integer
  class column (``"hival_class:classes"`` or ``"hival_class:classes=0,3"``), or
  ``"all"``.
* Relative bias ``b(r) = sqrt(xi_pop(r) / xi_ref(r))`` with the reference population =
  every row of the catalog (all halos hosting a galaxy) unless another reference catalog
  is given; NaN where the ratio is not positive. The large-scale bias is
  ``b_LS^2 = sum_i w_i xi_pop,i / sum_i w_i xi_ref,i`` over the bins inside the fit range
  (default 10-40 Mpc/h) with ``w_i = max(xi_ref,i, 0) / sigma_ref,i^2``: the weighted
  least-squares fit of ``xi_pop = b^2 xi_ref``, weights from the reference alone (so a
  truth and a mock on the same halos share them). Every quantity is computed on the full
  sample and on each jackknife copy (same cubes for population and reference, weights
  fixed), so its error is the jackknife error of the ratio itself.
* A mock with K realisations (a ``realization`` column) is measured per realisation;
  its xi (value and jackknife copies) is the mean over realisations, and the spread of
  the per-realisation values measures the model's stochasticity.
* Assembly-bias check: galaxy columns are shuffled jointly among halos in narrow
  ``M_h`` bins (seeded); populations are redefined on the shuffled catalog and the
  change of their bias, ``b - b_shuffled``, with its paired jackknife error, is the
  galaxy assembly bias of that population.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..catalog import REALIZATION, Catalog
from ..columns import GALAXY, HALO, POSITION, VELOCITY
from .clustering import (
    DEFAULT_JACKKNIFE,
    DEFAULT_R_EDGES,
    DEFAULT_THREADS,
    MIN_POINTS,
    ClusteringError,
    Correlation,
    _check_edges,
    _check_settings,
    box_size_of,
    catalog_positions,
    jackknife_covariance,
    mean_over_realizations,
    xi,
)

__all__ = [
    "DEFAULT_FIT_RANGE",
    "DEFAULT_MASS_BIN",
    "BiasSettings",
    "ClusteringComparison",
    "LargeScaleBias",
    "PopulationClustering",
    "PopulationSet",
    "Split",
    "assembly_bias",
    "compare_clustering",
    "fit_weights",
    "large_scale_bias",
    "measure_populations",
    "parse_split",
    "relative_bias",
    "shuffle_within_mass_bins",
    "stochasticity",
]

#: Default large-scale bias fit range, Mpc/h.
DEFAULT_FIT_RANGE = (10.0, 40.0)
#: Default width of the halo-mass bins of the shuffle test, dex of M_h.
DEFAULT_MASS_BIN = 0.1
SplitKind = Literal["all", "quantiles", "thresholds", "above", "classes"]
_KINDS = ("quantiles", "thresholds", "above", "classes")
_RELATIVE = 1e-9  # tolerance when matching bin edges to the fit range


# --------------------------------------------------------------------------- populations


@dataclass(frozen=True)
class Split:
    """How to cut a catalog into populations by one column.

    Attributes:
        column: the column (any numeric column; ``""`` for ``kind="all"``).
        kind: ``"quantiles"`` (``values = (n,)``: n equal-count populations),
            ``"thresholds"`` (bins between the sorted ``values``: len + 1 populations),
            ``"above"`` (one population ``column >= t`` per threshold t), ``"classes"``
            (one population per integer value; ``values`` empty = every value present),
            or ``"all"`` (one population: every row).
        values: the numbers of the spec.
    """

    column: str
    kind: SplitKind
    values: tuple[float, ...] = ()

    @property
    def spec(self) -> str:
        """The text form, e.g. ``"color:quantiles=4"`` (inverse of :func:`parse_split`)."""
        if self.kind == "all":
            return "all"
        numbers = ",".join(f"{v:g}" for v in self.values)
        return f"{self.column}:{self.kind}" + (f"={numbers}" if numbers else "")

    def check(self, table: pd.DataFrame) -> np.ndarray | None:
        """The split column of ``table`` as float64 (None for ``"all"``); clear errors."""
        if self.kind == "all":
            return None
        if self.column not in table.columns:
            available = ", ".join(str(c) for c in table.columns
                                  if c not in (*POSITION, *VELOCITY, REALIZATION))
            raise ClusteringError(f"split {self.spec!r}: unknown column {self.column!r} "
                                  f"(available: {available})")
        try:
            values = table[self.column].to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise ClusteringError(f"split {self.spec!r}: column {self.column!r} is not "
                                  "numeric") from None
        bad = ~np.isfinite(values)
        if bad.any():
            raise ClusteringError(f"split {self.spec!r}: column {self.column!r} has "
                                  f"{int(bad.sum())} NaN or inf values")
        if self.kind == "classes" and np.any(values != np.round(values)):
            raise ClusteringError(f"split {self.spec!r}: column {self.column!r} is not an "
                                  "integer class column")
        return values

    def edges(self, table: pd.DataFrame) -> tuple[float, ...]:
        """The split's boundaries in column units for ``table`` (quantile edges are
        computed from it; thresholds as given; classes: the class values)."""
        values = self.check(table)
        if values is None:
            return ()
        if self.kind == "quantiles":
            n = int(self.values[0])
            return tuple(float(q) for q in np.quantile(values, np.arange(1, n) / n))
        if self.kind == "classes":
            present = np.unique(values)
            return tuple(float(v) for v in (self.values or present))
        return tuple(self.values)

    def masks(self, table: pd.DataFrame, edges: Sequence[float] | None = None,
              ) -> dict[str, np.ndarray]:
        """``{population name: boolean mask (rows,)}`` in a fixed order.

        ``edges`` overrides the boundaries (e.g. quantile edges of another catalog).
        """
        values = self.check(table)
        if values is None:
            return {"all": np.ones(len(table), dtype=bool)}
        cuts = tuple(self.edges(table) if edges is None else edges)
        name = self.column
        if self.kind == "quantiles":
            n = int(self.values[0])
            if len(cuts) != n - 1:
                raise ClusteringError(f"split {self.spec!r}: {n - 1} quantile edges needed, "
                                      f"got {len(cuts)}")
            index = np.searchsorted(np.asarray(cuts), values, side="right")
            return {f"{name} q{i + 1}/{n}": index == i for i in range(n)}
        if self.kind == "thresholds":
            index = np.searchsorted(np.asarray(cuts), values, side="right")
            labels = ([f"{name} < {cuts[0]:g}"]
                      + [f"{lo:g} <= {name} < {hi:g}" for lo, hi in itertools.pairwise(cuts)]
                      + [f"{name} >= {cuts[-1]:g}"])
            return {label: index == i for i, label in enumerate(labels)}
        if self.kind == "above":
            return {f"{name} >= {cut:g}": values >= cut for cut in cuts}
        return {f"{name} = {cut:g}": values == cut for cut in cuts}


def parse_split(spec: str | Split) -> Split:
    """Parse ``"column:kind[=v1,v2,...]"`` or ``"all"`` into a :class:`Split`.

    Kinds: ``quantiles=N`` (integer N >= 2), ``thresholds=t1,t2,...`` (increasing),
    ``above=t1,...``, ``classes`` or ``classes=c1,c2,...`` (integers).

    Raises:
        ClusteringError: malformed spec, unknown kind, bad numbers (all named).
    """
    if isinstance(spec, Split):
        return spec
    if not isinstance(spec, str):
        raise ClusteringError(f"a split spec must be a string, got {type(spec).__name__}")
    text = spec.strip()
    if text == "all":
        return Split("", "all")
    match = re.fullmatch(r"\s*([^:=\s]+)\s*:\s*([a-z]+)\s*(?:=\s*(.*))?", text)
    if match is None:
        raise ClusteringError(f"split {spec!r}: expected 'column:kind=values' such as "
                              "'color:quantiles=4', 'smass:thresholds=9.5,10.5', "
                              "'hival_class:classes' or 'all'")
    column, kind, numbers = match.group(1), match.group(2), match.group(3)
    if kind not in _KINDS:
        raise ClusteringError(f"split {spec!r}: unknown kind {kind!r}; use one of "
                              f"{', '.join(_KINDS)}")
    try:
        values = tuple(float(part) for part in (numbers or "").split(",") if part.strip())
    except ValueError:
        raise ClusteringError(f"split {spec!r}: values must be numbers separated by "
                              "commas") from None
    if not all(math.isfinite(v) for v in values):
        raise ClusteringError(f"split {spec!r}: values must be finite")
    if kind == "quantiles":
        if len(values) != 1 or values[0] < 2 or not values[0].is_integer():
            raise ClusteringError(f"split {spec!r}: quantiles needs one integer >= 2")
    elif kind in ("thresholds", "above"):
        if not values:
            raise ClusteringError(f"split {spec!r}: {kind} needs at least one value")
        if any(b <= a for a, b in itertools.pairwise(values)):
            raise ClusteringError(f"split {spec!r}: {kind} must be strictly increasing")
    elif any(not v.is_integer() for v in values) or len(set(values)) != len(values):
        raise ClusteringError(f"split {spec!r}: classes must be distinct integers")
    return Split(column, kind, values)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- bias


@dataclass(frozen=True)
class LargeScaleBias:
    """The large-scale bias of one population.

    Attributes:
        value: b_LS on the full sample (NaN if the xi ratio is not positive).
        copies: b_LS on each jackknife copy, shape (copies,).
        fit_range: (r_min, r_max) Mpc/h; bins: how many separation bins it used.
    """

    value: float
    copies: np.ndarray
    fit_range: tuple[float, float]
    bins: int

    @property
    def error(self) -> float:
        """Jackknife standard error of ``value``."""
        return float(np.sqrt(jackknife_covariance(self.copies[:, None])[0, 0]))


def _fit_bins(edges: np.ndarray, fit_range: tuple[float, float]) -> np.ndarray:
    """Boolean mask (bins,) of the separation bins lying fully inside the fit range."""
    low, high = (float(v) for v in fit_range)
    if not (0 < low < high):
        raise ClusteringError(f"fit range must satisfy 0 < r_min < r_max, got {fit_range}")
    inside = ((edges[:-1] >= low * (1 - _RELATIVE)) & (edges[1:] <= high * (1 + _RELATIVE)))
    if not inside.any():
        raise ClusteringError(f"no separation bin lies inside the fit range {low:g}-{high:g} "
                              f"Mpc/h (bin edges {np.round(edges, 3).tolist()})")
    return inside


def fit_weights(xi_reference: Correlation,
                fit_range: tuple[float, float] = DEFAULT_FIT_RANGE) -> np.ndarray:
    """Weights (bins,) of the large-scale fit: ``max(xi_ref, 0) / sigma_ref^2`` inside the
    fit range (jackknife error of the reference, full sample), zero outside.

    With them ``b^2 = sum w xi_pop / sum w xi_ref`` is the weighted least-squares fit of
    ``xi_pop = b^2 xi_ref``. They depend on the reference only, so a truth and a mock on
    the same halos are fitted with the same weights.
    """
    inside = _fit_bins(xi_reference.edges, fit_range)
    error = xi_reference.error
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(inside & (error > 0),
                           np.maximum(xi_reference.value, 0.0) / error**2, 0.0)
    if not (weights > 0).any():
        raise ClusteringError(f"the reference correlation is not positive anywhere in the "
                              f"fit range {fit_range[0]:g}-{fit_range[1]:g} Mpc/h: no "
                              "large-scale bias can be fitted")
    return weights


def _root_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = numerator / denominator
    return np.sqrt(np.where(ratio > 0, ratio, np.nan))


def relative_bias(xi_population: Correlation, xi_reference: Correlation) -> Correlation:
    """b(r) = sqrt(xi_pop / xi_ref) per bin (NaN where the ratio is <= 0), with the
    same operation applied to every jackknife copy. Shape (bins,)."""
    return xi_population.combine(xi_reference, _root_ratio, "b")


def large_scale_bias(xi_population: Correlation, xi_reference: Correlation,
                     fit_range: tuple[float, float] = DEFAULT_FIT_RANGE,
                     weights: np.ndarray | None = None) -> LargeScaleBias:
    """b_LS = sqrt(sum w xi_pop / sum w xi_ref) over the bins inside ``fit_range``, on the
    full sample and on every jackknife copy (the weights stay fixed).

    ``weights`` default to :func:`fit_weights` of ``xi_reference``.
    """
    if weights is None:
        weights = fit_weights(xi_reference, fit_range)
    ratio = xi_population.combine(
        xi_reference, lambda a, b: _root_ratio(a @ weights, b @ weights), "b_LS")
    return LargeScaleBias(float(ratio.value), np.asarray(ratio.copies, dtype=float),
                          (float(fit_range[0]), float(fit_range[1])),
                          int(np.count_nonzero(weights)))


def _weighted_mean(correlation: Correlation, weights: np.ndarray) -> Correlation:
    """xi averaged over the fit bins with ``weights`` (value and copies): shape ()."""
    return correlation.combine(None, lambda a: a @ weights / weights.sum(), "xi_bar")


# --------------------------------------------------------------------------- measurements


@dataclass(frozen=True)
class BiasSettings:
    """Settings shared by every measurement of a comparison.

    Attributes:
        edges: separation bin edges, Mpc/h.
        fit_range: large-scale bias range (r_min, r_max), Mpc/h; both must be bin edges.
        jackknife: cubes per box side; nthreads: Corrfunc threads.
        min_points: smallest population (per realisation) accepted.
    """

    edges: tuple[float, ...] = tuple(float(e) for e in DEFAULT_R_EDGES)
    fit_range: tuple[float, float] = DEFAULT_FIT_RANGE
    jackknife: int = DEFAULT_JACKKNIFE
    nthreads: int = DEFAULT_THREADS
    min_points: int = MIN_POINTS

    def __post_init__(self) -> None:
        _fit_bins(np.asarray(self.edges, dtype=float), self.fit_range)

    def to_dict(self) -> dict[str, Any]:
        return {"edges": list(self.edges), "fit_range": list(self.fit_range),
                "jackknife": self.jackknife, "nthreads": self.nthreads,
                "min_points": self.min_points}


@dataclass
class PopulationClustering:
    """Clustering of one population of one catalog.

    Attributes:
        name: population name (e.g. ``"color q4/4"``).
        n_points: rows per realisation, shape (realisations,).
        xi: xi(r), mean over realisations (value and jackknife copies).
        bias: b(r) from the realisation-mean xi and the reference.
        large_scale: b_LS from the same.
        xi_realizations: xi per realisation, shape (realisations, bins).
        large_scale_realizations: b_LS per realisation, shape (realisations,).
    """

    name: str
    n_points: np.ndarray
    xi: Correlation
    bias: Correlation
    large_scale: LargeScaleBias
    xi_realizations: np.ndarray
    large_scale_realizations: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "n_points": self.n_points.tolist(), "xi": self.xi.to_dict(),
            "bias": self.bias.to_dict(),
            "b_ls": _number(self.large_scale.value), "b_ls_error": _number(
                self.large_scale.error),
            "b_ls_realizations": [_number(v) for v in self.large_scale_realizations],
        }


@dataclass
class PopulationSet:
    """Every population of one catalog and the reference they are compared with.

    Attributes:
        label: the catalog's name in tables and figures.
        reference: xi of the reference population (mean over realisations).
        populations: ``{name: PopulationClustering}`` in split order.
        edges: ``{split spec: population boundaries per realisation}``.
        realizations: number of realisations measured.
    """

    label: str
    reference: Correlation
    populations: dict[str, PopulationClustering]
    edges: dict[str, list[list[float]]]
    realizations: int

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "reference": self.reference.to_dict(),
                "realizations": self.realizations, "split_edges": self.edges,
                "populations": {k: v.to_dict() for k, v in self.populations.items()}}


def _number(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


class _XiCache:
    """xi of position sets already measured (keyed by a digest of the positions)."""

    def __init__(self, box: float, settings: BiasSettings):
        self.box, self.settings = box, settings
        self._store: dict[bytes, Correlation] = {}

    def __call__(self, positions: np.ndarray, name: str) -> Correlation:
        key = hashlib.sha1(np.ascontiguousarray(positions).tobytes()).digest()
        if key not in self._store:
            settings = self.settings
            if len(positions) < settings.min_points:
                raise ClusteringError(
                    f"population {name!r} has {len(positions)} points, fewer than the "
                    f"minimum {settings.min_points} for a clustering measurement")
            self._store[key] = xi(positions, self.box, np.asarray(settings.edges),
                                  jackknife=settings.jackknife, nthreads=settings.nthreads,
                                  min_points=settings.min_points)
        return self._store[key]


def _realizations(catalog: Catalog) -> list[pd.DataFrame]:
    table = catalog.table
    if REALIZATION not in table.columns:
        return [table]
    return [part for _, part in table.groupby(REALIZATION, sort=True)]


def _splits(splits: str | Split | Iterable[str | Split] | None) -> list[Split]:
    if splits is None:
        return [Split("", "all")]
    if isinstance(splits, str | Split):
        splits = [splits]
    parsed = [parse_split(spec) for spec in splits]
    if not parsed:
        return [Split("", "all")]
    return parsed


def _validate(catalog: Catalog, splits: list[Split], settings: BiasSettings,
              ) -> list[pd.DataFrame]:
    """Check box, bins and split columns before any pair counting; the realisations."""
    box = box_size_of(catalog)
    _check_edges(settings.edges)
    _check_settings(box, float(settings.edges[-1]), settings.jackknife, settings.nthreads)
    parts = _realizations(catalog)
    for part in parts:
        for split in splits:
            split.check(part)
    return parts


def measure_populations(
    catalog: Catalog, splits: str | Split | Iterable[str | Split] | None = None, *,
    reference: Catalog | None = None, settings: BiasSettings | None = None,
    label: str = "catalog", split_edges: Mapping[str, Sequence[float]] | None = None,
    _cache: _XiCache | None = None,
) -> PopulationSet:
    """xi(r), b(r) and b_LS of every population of ``catalog``.

    Args:
        catalog: rows with ``x, y, z`` (Mpc/h), the split columns and ``meta.box_size``;
            a ``realization`` column makes each realisation a separate measurement.
        splits: split specs (:func:`parse_split`); ``None`` = ``"all"``.
        reference: catalog whose rows are the reference population (same box); default
            every row of ``catalog`` (per realisation).
        settings: bins, fit range, jackknife, threads, minimum population.
        label: name of the catalog in the result.
        split_edges: ``{spec: boundaries}`` to use instead of the catalog's own (e.g. the
            truth's quantile edges for a mock).

    Raises:
        ClusteringError: box size missing, positions outside the box, unknown split
            column, a population below ``settings.min_points`` (named), a reference in
            another box.
    """
    settings = settings or BiasSettings()
    parsed = _splits(splits)
    parts = _validate(catalog, parsed, settings)
    box = box_size_of(catalog)
    cache = _cache or _XiCache(box, settings)
    if reference is not None:
        if box_size_of(reference) != box:
            raise ClusteringError(f"reference box {reference.meta.box_size} Mpc/h differs "
                                  f"from the catalog's {box} Mpc/h")
        fixed_reference = cache(catalog_positions(reference), "reference")
    per_population: dict[str, list[Correlation]] = {}
    counts: dict[str, list[int]] = {}
    references: list[Correlation] = []
    edges_used: dict[str, list[list[float]]] = {split.spec: [] for split in parsed}
    for part in parts:
        rows = Catalog(part, catalog.meta)
        positions = catalog_positions(rows)
        references.append(fixed_reference if reference is not None
                          else cache(positions, f"{label}: all rows"))
        for split in parsed:
            given = None if split_edges is None else split_edges.get(split.spec)
            cuts = split.edges(part) if given is None else tuple(given)
            edges_used[split.spec].append(list(cuts))
            for name, mask in split.masks(part, cuts).items():
                if name in per_population and len(per_population[name]) == len(references):
                    raise ClusteringError(f"two splits define the same population {name!r}")
                per_population.setdefault(name, []).append(
                    cache(positions[mask], f"{label}: {name}"))
                counts.setdefault(name, []).append(int(mask.sum()))
    reference_mean = mean_over_realizations(references)
    populations = {}
    for name, correlations in per_population.items():
        mean = mean_over_realizations(correlations)
        per_realization = [large_scale_bias(c, r, settings.fit_range).value
                           for c, r in zip(correlations, references, strict=True)]
        populations[name] = PopulationClustering(
            name=name, n_points=np.asarray(counts[name]), xi=mean,
            bias=relative_bias(mean, reference_mean),
            large_scale=large_scale_bias(mean, reference_mean, settings.fit_range),
            xi_realizations=np.array([c.value for c in correlations]),
            large_scale_realizations=np.asarray(per_realization, dtype=float))
    return PopulationSet(label, reference_mean, populations, edges_used, len(parts))


# --------------------------------------------------------------------------- shuffling


def shuffle_within_mass_bins(table: pd.DataFrame, columns: Sequence[str], *,
                             mass_column: str = "M_h", bin_width: float = DEFAULT_MASS_BIN,
                             seed: int = 0) -> pd.DataFrame:
    """A copy of ``table`` whose ``columns`` are permuted jointly among rows in the same
    ``mass_column`` bin (width ``bin_width``, bins anchored at the lowest value) and the
    same realisation. Positions and halo properties stay with their rows.

    Same ``seed``, same permutation. This erases any dependence of the shuffled columns
    on halo properties other than mass at fixed mass (galaxy assembly bias).
    """
    missing = [c for c in (mass_column, *columns) if c not in table.columns]
    if missing:
        raise ClusteringError(f"shuffle needs columns {missing}, missing from the table")
    if not columns:
        raise ClusteringError("shuffle: no columns to shuffle")
    if not (math.isfinite(bin_width) and bin_width > 0):
        raise ClusteringError(f"shuffle: mass bin width must be > 0, got {bin_width}")
    mass = table[mass_column].to_numpy(dtype=np.float64)
    if not np.isfinite(mass).all():
        raise ClusteringError(f"shuffle: column {mass_column!r} has NaN or inf values")
    group = np.floor((mass - mass.min()) / bin_width).astype(np.int64)
    if REALIZATION in table.columns:
        realization = table[REALIZATION].to_numpy()
        group = group + (group.max() + 1) * pd.factorize(realization, sort=True)[0]
    order = np.argsort(group, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(group[order]) != 0])
    stops = np.r_[starts[1:], len(order)]
    rng = np.random.default_rng(seed)
    source = order.copy()
    for start, stop in zip(starts, stops, strict=True):
        source[start:stop] = order[start:stop][rng.permutation(stop - start)]
    shuffled = table.copy()
    for name in columns:
        values = table[name].to_numpy()
        moved = values.copy()
        moved[order] = values[source]  # row order[i] receives the values of row source[i]
        shuffled[name] = moved
    return shuffled


def _shuffle_columns(table: pd.DataFrame, splits: list[Split]) -> list[str]:
    """Galaxy columns present plus any split column that is not a halo/phase-space one."""
    protected = {*HALO, *POSITION, *VELOCITY, REALIZATION, "halo_id"}
    columns = [c for c in GALAXY if c in table.columns]
    columns += [s.column for s in splits
                if s.kind != "all" and s.column not in protected and s.column not in columns]
    return columns


def assembly_bias(catalog: Catalog, splits: str | Split | Iterable[str | Split] | None, *,
                  reference: Catalog | None = None, settings: BiasSettings | None = None,
                  seed: int = 0, bin_width: float = DEFAULT_MASS_BIN, label: str = "catalog",
                  original: PopulationSet | None = None, _cache: _XiCache | None = None,
                  ) -> tuple[PopulationSet, pd.DataFrame]:
    """The shuffle test: b_LS of each population before and after shuffling the galaxy
    columns among halos in ``M_h`` bins of ``bin_width`` dex (seeded).

    Returns:
        The shuffled catalog's :class:`PopulationSet`, and a table with one row per
        population: ``population, b, b_shuffled, delta = b - b_shuffled, delta_error``
        (paired jackknife), ``sigma = delta / delta_error``.
    """
    settings = settings or BiasSettings()
    parsed = _splits(splits)
    box = box_size_of(catalog)
    cache = _cache or _XiCache(box, settings)
    if original is None:
        original = measure_populations(catalog, parsed, reference=reference,
                                       settings=settings, label=label, _cache=cache)
    columns = _shuffle_columns(catalog.table, parsed)
    table = shuffle_within_mass_bins(catalog.table, columns, bin_width=bin_width, seed=seed)
    shuffled = measure_populations(Catalog(table, catalog.meta), parsed, reference=reference,
                                   settings=settings, label=f"{label} (shuffled)",
                                   _cache=cache)
    rows = []
    for name, before in original.populations.items():
        after = shuffled.populations[name]
        delta = before.large_scale.copies - after.large_scale.copies
        error = float(np.sqrt(jackknife_covariance(delta[:, None])[0, 0]))
        value = before.large_scale.value - after.large_scale.value
        rows.append({"catalog": label, "population": name, "b": before.large_scale.value,
                     "b_shuffled": after.large_scale.value, "delta": value,
                     "delta_error": error, "sigma": value / error if error > 0 else np.nan})
    return shuffled, pd.DataFrame(rows)


# --------------------------------------------------------------------------- stochasticity


def stochasticity(truth: PopulationSet, mock: PopulationSet,
                  fit_range: tuple[float, float] = DEFAULT_FIT_RANGE) -> pd.DataFrame:
    """The model's stochastic variance against the truth's jackknife variance.

    Per population: ``realizations`` K; ``b_sd``, the standard deviation (ddof 1) of the
    mock's b_LS over its K realisations on the same halos; ``b_truth_error``, the truth's
    jackknife error of b_LS; ``b_variance_ratio = b_sd^2 / b_truth_error^2``; and the same
    for xi averaged over the fit-range shell (``xi_sd``, ``xi_truth_error``,
    ``xi_variance_ratio``). NaN when K < 2.
    """
    rows = []
    weights = fit_weights(truth.reference, fit_range)
    for name, population in mock.populations.items():
        if name not in truth.populations:
            continue
        reference = truth.populations[name]
        k = len(population.large_scale_realizations)
        xi_bar = population.xi_realizations @ weights / weights.sum()
        b_sd = float(np.std(population.large_scale_realizations, ddof=1)) if k > 1 else np.nan
        xi_sd = float(np.std(xi_bar, ddof=1)) if k > 1 else np.nan
        b_error = reference.large_scale.error
        xi_error = float(_weighted_mean(reference.xi, weights).error)
        rows.append({"model": mock.label, "population": name, "realizations": k,
                     "b_sd": b_sd, "b_truth_error": b_error,
                     "b_variance_ratio": b_sd**2 / b_error**2 if b_error > 0 else np.nan,
                     "xi_sd": xi_sd, "xi_truth_error": xi_error,
                     "xi_variance_ratio": xi_sd**2 / xi_error**2 if xi_error > 0 else np.nan})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- comparison


@dataclass
class ClusteringComparison:
    """Truth against one or more mocks, population by population.

    Attributes:
        truth: the truth catalog's :class:`PopulationSet`.
        mocks: ``{model label: PopulationSet}``.
        table: one row per (model, population): ``n_truth, n_mock, b_truth,
            b_truth_error, b_mock, b_mock_error, ratio, ratio_error`` (paired jackknife of
            b_mock / b_truth), ``deviation_sigma = (b_mock - b_truth) / error`` (paired
            jackknife of the difference), ``realizations``; for mocks with K >= 2
            realisations the stochasticity (``b_sd``, ``b_variance_ratio``) and
            ``deviation_sigma_stochastic = (b_mock - b_truth) / (b_sd sqrt(1 + 1/K))``;
            and when measured the assembly-bias columns (``ab_truth``,
            ``ab_truth_error``, ``ab_mock``, ``ab_mock_error``: b - b_shuffled).
        assembly_bias: the shuffle-test rows of every catalog (empty if not run).
        stochasticity: :func:`stochasticity` rows of every mock with K >= 2 realisations.
        settings: the measurement settings.
    """

    truth: PopulationSet
    mocks: dict[str, PopulationSet]
    table: pd.DataFrame
    assembly_bias: pd.DataFrame
    stochasticity: pd.DataFrame
    settings: BiasSettings
    splits: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: tables as lists of records (NaN as None) and every measurement."""
        return {
            "settings": self.settings.to_dict(), "splits": self.splits,
            "table": _records(self.table), "assembly_bias": _records(self.assembly_bias),
            "stochasticity": _records(self.stochasticity),
            "truth": self.truth.to_dict(),
            "mocks": {label: s.to_dict() for label, s in self.mocks.items()},
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for record in frame.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and not math.isfinite(v) else
                        v.item() if isinstance(v, np.generic) else v)
                    for k, v in record.items()})
    return out


def _sigma(difference: float, error: float) -> float:
    """difference / error; 0 for an exact match with zero error, NaN if undefined."""
    if error > 0:
        return difference / error
    return 0.0 if difference == 0 else np.nan


def _paired(first: LargeScaleBias, second: LargeScaleBias, function) -> tuple[float, float]:
    value = float(function(first.value, second.value))
    copies = function(first.copies, second.copies)
    return value, float(np.sqrt(jackknife_covariance(copies[:, None])[0, 0]))


def compare_clustering(
    truth: Catalog, mocks: Mapping[str, Catalog],
    splits: str | Split | Iterable[str | Split] | None = "color:quantiles=4", *,
    reference: Catalog | None = None, settings: BiasSettings | None = None,
    shuffle_seed: int | None = 0, bin_width: float = DEFAULT_MASS_BIN,
    shared_edges: bool = False, progress: Callable[[str], None] | None = None,
) -> ClusteringComparison:
    """Clustering and tracer bias of the truth and each mock, population by population.

    Args:
        truth: the reference catalog (e.g. the simulation), with ``meta.box_size``.
        mocks: ``{label: mock catalog}`` in the same box (usually on the same halos; a
            ``realization`` column = K realisations).
        splits: population specs (:func:`parse_split`).
        reference: the reference population for b(r) (default: every row of each catalog).
        settings: :class:`BiasSettings`.
        shuffle_seed: seed of the assembly-bias shuffle test, ``None`` to skip it.
        bin_width: halo-mass bin width of the shuffle (dex).
        shared_edges: define the mocks' populations with the truth's boundaries (the
            first realisation's) instead of their own quantiles.
        progress: callback receiving a short message at each stage.

    Returns:
        :class:`ClusteringComparison`.
    """
    settings = settings or BiasSettings()
    parsed = _splits(splits)
    box = box_size_of(truth)
    if not mocks:
        raise ClusteringError("compare_clustering needs at least one mock catalog")
    for label, mock in mocks.items():
        if box_size_of(mock) != box:
            raise ClusteringError(f"mock {label!r} box {mock.meta.box_size} Mpc/h differs "
                                  f"from the truth's {box} Mpc/h")
    for catalog in (truth, *mocks.values()):
        _validate(catalog, parsed, settings)
    say = progress or (lambda message: None)
    cache = _XiCache(box, settings)
    say(f"truth: {len(truth):,} rows")
    truth_set = measure_populations(truth, parsed, reference=reference, settings=settings,
                                    label="truth", _cache=cache)
    given = ({spec: edges[0] for spec, edges in truth_set.edges.items()}
             if shared_edges else None)
    mock_sets = {}
    for label, mock in mocks.items():
        say(f"mock {label!r}: {len(mock):,} rows")
        mock_sets[label] = measure_populations(mock, parsed, reference=reference,
                                               settings=settings, label=label,
                                               split_edges=given, _cache=cache)
    ab_rows = []
    if shuffle_seed is not None:
        for label, catalog, measured in [("truth", truth, truth_set),
                                         *((k, mocks[k], v) for k, v in mock_sets.items())]:
            say(f"assembly-bias shuffle: {label}")
            _, rows = assembly_bias(catalog, parsed, reference=reference, settings=settings,
                                    seed=shuffle_seed, bin_width=bin_width, label=label,
                                    original=measured, _cache=cache)
            ab_rows.append(rows)
    ab_table = pd.concat(ab_rows, ignore_index=True) if ab_rows else pd.DataFrame()
    stochastic = [stochasticity(truth_set, s, settings.fit_range)
                  for s in mock_sets.values() if s.realizations > 1]
    stochastic_table = (pd.concat(stochastic, ignore_index=True) if stochastic
                        else pd.DataFrame())
    table = _comparison_table(truth_set, mock_sets, ab_table, stochastic_table)
    return ClusteringComparison(truth_set, mock_sets, table, ab_table, stochastic_table,
                                settings, [s.spec for s in parsed])


def _comparison_table(truth: PopulationSet, mocks: dict[str, PopulationSet],
                      ab: pd.DataFrame, stochastic: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for label, mock in mocks.items():
        for name, population in mock.populations.items():
            true = truth.populations[name]
            b_t, b_m = true.large_scale, population.large_scale
            ratio, ratio_error = _paired(b_m, b_t, np.divide)
            difference, difference_error = _paired(b_m, b_t, np.subtract)
            row = {
                "model": label, "population": name,
                "n_truth": float(true.n_points.mean()), "n_mock": float(
                    population.n_points.mean()),
                "b_truth": b_t.value, "b_truth_error": b_t.error,
                "b_mock": b_m.value, "b_mock_error": b_m.error,
                "ratio": ratio, "ratio_error": ratio_error,
                "deviation_sigma": _sigma(difference, difference_error),
                "realizations": mock.realizations,
            }
            if len(stochastic):
                match = stochastic[(stochastic["model"] == label)
                                   & (stochastic["population"] == name)]
                if len(match):
                    b_sd = float(match["b_sd"].iloc[0])
                    row["b_sd"] = b_sd
                    row["b_variance_ratio"] = float(match["b_variance_ratio"].iloc[0])
                    # Truth = one stochastic draw, mock = mean of K: if the model's
                    # stochasticity is right the difference has variance b_sd^2 (1 + 1/K).
                    k = mock.realizations
                    row["deviation_sigma_stochastic"] = _sigma(
                        difference, b_sd * math.sqrt(1.0 + 1.0 / k))
            if len(ab):
                for who, key in (("truth", "ab_truth"), (label, "ab_mock")):
                    match = ab[(ab["catalog"] == who) & (ab["population"] == name)]
                    row[key] = float(match["delta"].iloc[0])
                    row[f"{key}_error"] = float(match["delta_error"].iloc[0])
            rows.append(row)
    return pd.DataFrame(rows)
