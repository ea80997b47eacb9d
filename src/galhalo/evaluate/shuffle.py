"""The assembly-bias shuffle test.

Galaxy columns are shuffled jointly among halos in narrow ``M_h`` bins (seeded);
populations are redefined on the shuffled catalog and the change of their large-scale
bias, ``b - b_shuffled``, with its paired jackknife error, is the galaxy assembly bias
of that population.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ..catalog import REALIZATION, Catalog
from ..catalog.schema import GALAXY, HALO, POSITION, VELOCITY
from ..clustering import jackknife_covariance
from ..errors import ClusteringError
from .population_clustering import (
    BiasSettings,
    PopulationSet,
    _XiCache,
    measure_populations,
)
from .populations import Split, parse_splits
from .positions import box_size_of

__all__ = ["DEFAULT_MASS_BIN", "assembly_bias", "shuffle_within_mass_bins"]

#: Default width of the halo-mass bins of the shuffle test, dex of M_h.
DEFAULT_MASS_BIN = 0.1


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
    parsed = parse_splits(splits)
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
