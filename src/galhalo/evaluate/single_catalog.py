"""Clustering of one catalog without mocks: xi(r), b(r) and b_LS of every population
and, optionally, its assembly-bias shuffle test, in the same
:class:`~.clustering_comparison.ClusteringComparison` form as a comparison (with no
mocks), so that the same writers and figures serve both."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd

from ..catalog import Catalog
from .clustering_comparison import ClusteringComparison
from .population_clustering import BiasSettings, _validate, _XiCache, measure_populations
from .populations import Split, parse_splits
from .positions import box_size_of
from .shuffle import DEFAULT_MASS_BIN, assembly_bias

__all__ = ["measure_catalog"]


def measure_catalog(
    catalog: Catalog, splits: str | Split | Iterable[str | Split] | None = "color:quantiles=4",
    *, reference: Catalog | None = None, settings: BiasSettings | None = None,
    shuffle_seed: int | None = 0, bin_width: float = DEFAULT_MASS_BIN,
    progress: Callable[[str], None] | None = None, label: str = "truth",
) -> ClusteringComparison:
    """Every population of one catalog, as a comparison without mocks.

    Args as :func:`~.clustering_comparison.compare_clustering`. The ``table`` has one
    row per population: ``population, n_truth, b_truth, b_truth_error`` and with the
    shuffle ``ab_truth, ab_truth_error`` (b - b_shuffled and its paired jackknife error).
    """
    settings = settings or BiasSettings()
    parsed = parse_splits(splits)
    _validate(catalog, parsed, settings)
    say = progress or (lambda message: None)
    cache = _XiCache(box_size_of(catalog), settings)
    say(f"{label}: {len(catalog):,} rows")
    measured = measure_populations(catalog, parsed, reference=reference, settings=settings,
                                   label=label, _cache=cache)
    ab_table = pd.DataFrame()
    if shuffle_seed is not None:
        say(f"assembly-bias shuffle: {label}")
        _, ab_table = assembly_bias(catalog, parsed, reference=reference, settings=settings,
                                    seed=shuffle_seed, bin_width=bin_width, label=label,
                                    original=measured, _cache=cache)
    rows = []
    for name, population in measured.populations.items():
        row = {"population": name, "n_truth": float(population.n_points.mean()),
               "b_truth": population.large_scale.value,
               "b_truth_error": population.large_scale.error}
        if len(ab_table):
            match = ab_table[ab_table["population"] == name]
            row["ab_truth"] = float(match["delta"].iloc[0])
            row["ab_truth_error"] = float(match["delta_error"].iloc[0])
        rows.append(row)
    return ClusteringComparison(measured, {}, pd.DataFrame(rows), ab_table, pd.DataFrame(),
                                settings, [s.spec for s in parsed])
