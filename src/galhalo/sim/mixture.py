"""Per-row Gaussian mixtures truncated at a lower cut on the first dimension.

The exact density machinery shared by the central truth (``truth.py``) and the
satellite truth (``satellite_truth.py``): log-density of any subset of the dimensions
(the cut integrated out analytically when dimension 0 is hidden), the conditional CDF
of one dimension, the selection probability and rejection-free truncated sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr, logsumexp, ndtr, ndtri, ndtri_exp
from scipy.stats import multivariate_normal

from ..errors import SimulationError

__all__ = ["Mixture", "log_expit"]

_LOG_2PI = np.log(2.0 * np.pi)


def log_expit(x: np.ndarray) -> np.ndarray:
    """log(sigmoid(x)) without overflow."""
    return -np.logaddexp(0.0, -x)


@dataclass(frozen=True)
class Mixture:
    """Per-row K-component Gaussian mixture with a lower cut on dimension 0.

    Shapes: log_weights (n, K); means, scales (n, K, D); correlations (K, D, D); cut a
    float, or shape (n,) for a per-row cut (the same for every component of a row).
    """

    log_weights: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    correlations: np.ndarray
    cut: float | np.ndarray

    def repeat(self, n: int) -> Mixture:
        """The same rows tiled ``n`` times (row ``i`` of copy ``j`` at ``j * rows + i``)."""
        return Mixture(
            log_weights=np.tile(self.log_weights, (n, 1)), means=np.tile(self.means, (n, 1, 1)),
            scales=np.tile(self.scales, (n, 1, 1)), correlations=self.correlations,
            cut=self.cut if np.ndim(self.cut) == 0 else np.tile(self.cut, n))

    def _log_tail(self) -> np.ndarray:
        """log P(dim 0 >= cut | component), shape (n, K)."""
        cut = self.cut if np.ndim(self.cut) == 0 else np.asarray(self.cut)[:, None]
        return log_ndtr((self.means[..., 0] - cut) / self.scales[..., 0])

    def log_selection(self) -> np.ndarray:
        return logsumexp(self.log_weights + self._log_tail(), axis=1)

    def log_prob(self, values: np.ndarray, dims: list[int]) -> np.ndarray:
        """log density of ``values`` (n, len(dims)) in dimensions ``dims``."""
        per_component = np.empty(self.log_weights.shape)
        for k in range(self.log_weights.shape[1]):
            mean = self.means[:, k, dims]
            scale = self.scales[:, k, dims]
            corr = self.correlations[k][np.ix_(dims, dims)]
            standard = (values - mean) / scale
            inverse = np.linalg.inv(corr)
            _, log_det = np.linalg.slogdet(corr)
            quadratic = np.einsum("ni,ij,nj->n", standard, inverse, standard)
            log_density = (-0.5 * (quadratic + log_det + len(dims) * _LOG_2PI)
                           - np.log(scale).sum(axis=1))
            if 0 not in dims:
                # Integrate the selection over the hidden stellar mass: its conditional
                # given the shown dimensions is Gaussian.
                cross = self.correlations[k][0, dims]
                cond_mean = standard @ (inverse @ cross)
                cond_var = 1.0 - cross @ inverse @ cross
                threshold = (self.cut - self.means[:, k, 0]) / self.scales[:, k, 0]
                log_density = log_density + log_ndtr((cond_mean - threshold)
                                                     / np.sqrt(cond_var))
            per_component[:, k] = log_density
        log_prob = logsumexp(self.log_weights + per_component, axis=1) - self.log_selection()
        if 0 in dims:
            log_prob[values[:, dims.index(0)] < self.cut] = -np.inf
        return log_prob

    def cdf(self, values: np.ndarray, dim: int) -> np.ndarray:
        """P(dimension ``dim`` <= values | selected) per row; values shape (n,)."""
        total = np.zeros(len(values))
        for k in range(self.log_weights.shape[1]):
            standard = (values - self.means[:, k, dim]) / self.scales[:, k, dim]
            threshold = (self.cut - self.means[:, k, 0]) / self.scales[:, k, 0]
            if dim == 0:
                below_and_selected = np.clip(ndtr(standard) - ndtr(threshold), 0.0, None)
            else:
                # P(X <= x, S >= cut) = P(X <= x) - P(X <= x, S < cut): bivariate normal.
                rho = self.correlations[k][0, dim]
                bivariate = multivariate_normal(cov=[[1.0, rho], [rho, 1.0]], abseps=1e-10,
                                                releps=1e-10)
                both_below = bivariate.cdf(np.column_stack([standard, threshold]))
                below_and_selected = np.clip(ndtr(standard) - both_below, 0.0, None)
            total += np.exp(self.log_weights[:, k]) * below_and_selected
        return np.clip(total / np.exp(self.log_selection()), 0.0, 1.0)

    def sample(self, rng: np.random.Generator, selected: bool) -> np.ndarray:
        """One draw per row, shape (n, D); truncated at the cut when ``selected``."""
        n, n_components, dims = self.means.shape
        log_weights = self.log_weights + (self._log_tail() if selected else 0.0)
        if selected:
            hopeless = ~np.isfinite(logsumexp(log_weights, axis=1))
            if hopeless.any():
                raise SimulationError(
                    f"{hopeless.sum()} halos have no chance of hosting a galaxy above the "
                    f"stellar-mass cut {self.cut}: the selected density is undefined there")
        probability = np.exp(log_weights - logsumexp(log_weights, axis=1, keepdims=True))
        choice = (rng.random(n)[:, None] > np.cumsum(probability, axis=1)).sum(axis=1)
        choice = np.minimum(choice, n_components - 1)
        rows = np.arange(n)
        mean = self.means[rows, choice]
        scale = self.scales[rows, choice]
        uniform = rng.random(n)
        if selected:
            # Inverse CDF of the standard normal tail above the (standardised) cut.
            threshold = (self.cut - mean[:, 0]) / scale[:, 0]
            # Inverted in log space: exact even where the tail probability underflows.
            head = -ndtri_exp(np.log1p(-uniform) + log_ndtr(-threshold))
        else:
            head = ndtri(uniform)
        standard = np.empty((n, dims))
        standard[:, 0] = head
        noise = rng.standard_normal((n, dims - 1))
        for k in range(n_components):
            rows_k = choice == k
            corr = self.correlations[k]
            cross = corr[1:, 0]
            cond_cov = corr[1:, 1:] - np.outer(cross, cross)
            chol = np.linalg.cholesky(cond_cov)
            standard[rows_k, 1:] = np.outer(head[rows_k], cross) + noise[rows_k] @ chol.T
        return mean + scale * standard
