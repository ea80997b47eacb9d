"""Scores of posterior moments against the true parameters: pure functions of arrays.

Every function takes ``truth``, ``mean`` and (where needed) ``std`` of shape
(boxes, parameters) (or (boxes,) for one parameter) and returns one value per
parameter, shape (parameters,):

* :func:`r2`: coefficient of determination of the posterior mean, 1 - SS_res / SS_tot;
* :func:`mean_relative_error`: < |mean - truth| / |truth| > (accuracy);
* :func:`mean_relative_uncertainty`: < std / |mean| > (precision; the relative error
  epsilon of [dS23]);
* :func:`chi2`: < (truth - mean)^2 / std^2 >, 1 for calibrated Gaussian posteriors;
* :func:`coverage`: fraction of boxes with |truth - mean| <= k std; for calibrated
  Gaussian posteriors erf(k / sqrt 2): 0.683 (k = 1), 0.954 (k = 2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .graphs import CosmoError

__all__ = ["chi2", "coverage", "expected_coverage", "mean_relative_error",
           "mean_relative_uncertainty", "posterior_metrics", "r2"]


def _matrix(name: str, values: Any) -> np.ndarray:
    array = np.array(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0:
        raise CosmoError(f"{name} must have shape (boxes, parameters) with boxes >= 1, "
                         f"got {array.shape}")
    if not np.isfinite(array).all():
        raise CosmoError(f"{name} holds NaN or inf values")
    return array


def _pair(truth: Any, mean: Any) -> tuple[np.ndarray, np.ndarray]:
    truth, mean = _matrix("truth", truth), _matrix("mean", mean)
    if truth.shape != mean.shape:
        raise CosmoError(f"truth {truth.shape} and mean {mean.shape} differ in shape")
    return truth, mean


def _std(std: Any, shape: tuple[int, ...]) -> np.ndarray:
    std = _matrix("std", std)
    if std.shape != shape:
        raise CosmoError(f"std {std.shape} and mean {shape} differ in shape")
    if (std <= 0).any():
        raise CosmoError(f"std must be > 0; {(std <= 0).sum()} values are not")
    return std


def r2(truth: Any, mean: Any) -> np.ndarray:
    """1 - sum (truth - mean)^2 / sum (truth - <truth>)^2 per parameter; needs >= 2
    distinct true values."""
    truth, mean = _pair(truth, mean)
    total = ((truth - truth.mean(axis=0)) ** 2).sum(axis=0)
    if (total == 0).any():
        raise CosmoError("R^2 needs at least two distinct true values per parameter")
    return 1.0 - ((truth - mean) ** 2).sum(axis=0) / total


def mean_relative_error(truth: Any, mean: Any) -> np.ndarray:
    """< |mean - truth| / |truth| > per parameter; truth must be nonzero."""
    truth, mean = _pair(truth, mean)
    if (truth == 0).any():
        raise CosmoError("the mean relative error needs nonzero true values")
    return np.mean(np.abs(mean - truth) / np.abs(truth), axis=0)


def mean_relative_uncertainty(mean: Any, std: Any) -> np.ndarray:
    """< std / |mean| > per parameter; means must be nonzero."""
    mean = _matrix("mean", mean)
    std = _std(std, mean.shape)
    if (mean == 0).any():
        raise CosmoError("the mean relative uncertainty needs nonzero posterior means")
    return np.mean(std / np.abs(mean), axis=0)


def chi2(truth: Any, mean: Any, std: Any) -> np.ndarray:
    """< ((truth - mean) / std)^2 > per parameter."""
    truth, mean = _pair(truth, mean)
    return np.mean(((truth - mean) / _std(std, mean.shape)) ** 2, axis=0)


def coverage(truth: Any, mean: Any, std: Any, k: float = 1.0) -> np.ndarray:
    """Fraction of boxes with |truth - mean| <= k std, per parameter."""
    if not (math.isfinite(k) and k > 0):
        raise CosmoError(f"k must be finite and > 0, got {k}")
    truth, mean = _pair(truth, mean)
    return np.mean(np.abs(truth - mean) <= k * _std(std, mean.shape), axis=0)


def expected_coverage(k: float) -> float:
    """Coverage of the +-k sigma interval of a Gaussian: erf(k / sqrt 2)."""
    return math.erf(k / math.sqrt(2.0))


def posterior_metrics(truth: Any, mean: Any, std: Any, names: Sequence[str]
                      ) -> dict[str, dict[str, float]]:
    """All scores by parameter name: ``{name: {r2, mean_relative_error,
    mean_relative_uncertainty, rmse, chi2, coverage_1sigma, coverage_2sigma, boxes}}``."""
    truth, mean = _pair(truth, mean)
    names = list(names)
    if len(names) != truth.shape[1]:
        raise CosmoError(f"{len(names)} parameter names for {truth.shape[1]} parameters")
    columns = {
        "r2": r2(truth, mean),
        "mean_relative_error": mean_relative_error(truth, mean),
        "mean_relative_uncertainty": mean_relative_uncertainty(mean, std),
        "rmse": np.sqrt(np.mean((truth - mean) ** 2, axis=0)),
        "chi2": chi2(truth, mean, std),
        "coverage_1sigma": coverage(truth, mean, std, 1.0),
        "coverage_2sigma": coverage(truth, mean, std, 2.0),
    }
    return {name: {**{key: float(values[j]) for key, values in columns.items()},
                   "boxes": len(truth)}
            for j, name in enumerate(names)}
