"""Truth against one or more mocks, population by population: large-scale bias, paired
jackknife ratios and deviations, the assembly-bias shuffle and stochasticity."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..catalog import Catalog
from ..clustering import LargeScaleBias, jackknife_covariance
from ..errors import ClusteringError
from .population_clustering import (
    BiasSettings,
    PopulationSet,
    _validate,
    _XiCache,
    measure_populations,
)
from .populations import Split, parse_splits
from .positions import box_size_of
from .shuffle import DEFAULT_MASS_BIN, assembly_bias
from .stochasticity import stochasticity

__all__ = ["ClusteringComparison", "compare_clustering"]


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
    parsed = parse_splits(splits)
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
