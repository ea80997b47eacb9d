"""xi(r), b(r) and b_LS of every population of a catalog, per realisation.

The reference population is every row of the catalog (all halos hosting a galaxy)
unless another reference catalog is given. A mock with K realisations (a
``realization`` column) is measured per realisation; its xi (value and jackknife
copies) is the mean over realisations, and the spread of the per-realisation values
measures the model's stochasticity (:mod:`.stochasticity`). Estimators:
:mod:`galhalo.clustering`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..catalog import REALIZATION, Catalog
from ..clustering import (
    DEFAULT_FIT_RANGE,
    DEFAULT_JACKKNIFE,
    DEFAULT_R_EDGES,
    DEFAULT_THREADS,
    MIN_POINTS,
    Correlation,
    LargeScaleBias,
    check_edges,
    check_jackknife,
    fit_bins,
    large_scale_bias,
    mean_over_realizations,
    relative_bias,
    xi,
)
from ..errors import ClusteringError
from .populations import Split, parse_splits
from .positions import box_size_of, catalog_positions

__all__ = ["BiasSettings", "PopulationClustering", "PopulationSet", "measure_populations"]


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
        fit_bins(np.asarray(self.edges, dtype=float), self.fit_range)

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


def _validate(catalog: Catalog, splits: list[Split], settings: BiasSettings,
              ) -> list[pd.DataFrame]:
    """Check box, bins and split columns before any pair counting; the realisations."""
    box = box_size_of(catalog)
    check_edges(settings.edges)
    check_jackknife(box, float(settings.edges[-1]), settings.jackknife, settings.nthreads)
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
    parsed = parse_splits(splits)
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
