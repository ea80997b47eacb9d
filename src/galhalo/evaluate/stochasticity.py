"""Stochasticity of a mock with K realisations on the same halos, against the truth's
jackknife variance."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..clustering import DEFAULT_FIT_RANGE, fit_weights, weighted_mean
from .population_clustering import PopulationSet

__all__ = ["stochasticity"]


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
        xi_error = float(weighted_mean(reference.xi, weights).error)
        rows.append({"model": mock.label, "population": name, "realizations": k,
                     "b_sd": b_sd, "b_truth_error": b_error,
                     "b_variance_ratio": b_sd**2 / b_error**2 if b_error > 0 else np.nan,
                     "xi_sd": xi_sd, "xi_truth_error": xi_error,
                     "xi_variance_ratio": xi_sd**2 / xi_error**2 if xi_error > 0 else np.nan})
    return pd.DataFrame(rows)
