"""Tracer bias from two correlation functions with the same jackknife copies.

* Relative bias ``b(r) = sqrt(xi_pop(r) / xi_ref(r))``, NaN where the ratio is not
  positive.
* Large-scale bias ``b_LS^2 = sum_i w_i xi_pop,i / sum_i w_i xi_ref,i`` over the bins
  inside the fit range (default 10-40 Mpc/h) with ``w_i = max(xi_ref,i, 0) /
  sigma_ref,i^2``: the weighted least-squares fit of ``xi_pop = b^2 xi_ref``, weights
  from the reference alone (so a truth and a mock on the same halos share them).

Every quantity is computed on the full sample and on each jackknife copy (same cubes for
population and reference, weights fixed), so its error is the jackknife error of the
ratio itself. Separations in Mpc/h.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ClusteringError
from .correlation import Correlation
from .jackknife import jackknife_covariance

__all__ = [
    "DEFAULT_FIT_RANGE",
    "LargeScaleBias",
    "fit_bins",
    "fit_weights",
    "large_scale_bias",
    "relative_bias",
    "weighted_mean",
]

#: Default large-scale bias fit range, Mpc/h.
DEFAULT_FIT_RANGE = (10.0, 40.0)
_RELATIVE = 1e-9  # tolerance when matching bin edges to the fit range


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


def fit_bins(edges: np.ndarray, fit_range: tuple[float, float]) -> np.ndarray:
    """Boolean mask (bins,) of the separation bins (``edges`` (bins + 1,), Mpc/h) lying
    fully inside ``fit_range`` (r_min, r_max), Mpc/h.

    Raises:
        ClusteringError: a fit range that is not 0 < r_min < r_max, or holds no bin.
    """
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
    inside = fit_bins(xi_reference.edges, fit_range)
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


def weighted_mean(correlation: Correlation, weights: np.ndarray) -> Correlation:
    """The statistic averaged over its bins with ``weights`` (bins,), on the value and
    every jackknife copy: a scalar :class:`Correlation` ``"xi_bar"`` (value shape ())."""
    return correlation.combine(None, lambda a: a @ weights / weights.sum(), "xi_bar")
