"""The known-truth galaxy model p(galaxy | halo), with an exact log-density.

A central galaxy is star-forming (SF) or quenched (Q). Given the halo, the galaxy
properties ``(smass, color, sSFR, radius)`` follow a two-component Gaussian mixture:

    p(g | h) = sum_k pi_k(h) N(g; mu_k(h), Sigma_k(h)) 1[smass >= cut] / P_sel(h)

* ``pi_Q(h)``: quenched fraction, a logistic function of halo mass, formation time
  (older halos quench more) and environment (dense regions quench low-mass centrals);
* ``mu_k(h)``: the stellar-to-halo-mass relation (a double power law) plus a formation-
  time term, colour and sSFR sequences that depend on the component and on the mean
  stellar mass, and a size-halo-mass relation with a spin term (galaxy assembly bias);
* ``Sigma_k(h) = D(h) R_k D(h)``: correlated scatter with a halo-mass-dependent
  stellar-mass scatter (heteroscedastic);
* the stellar-mass selection ``smass >= cut`` (8.75, the TNG300 sample) is part of the
  model: ``P_sel(h) = sum_k pi_k Phi((mu_k,smass - cut) / sigma_smass)`` renormalises it,
  so ``log_prob`` is the exact density of the selected sample.

Secondary halo properties enter as residuals at fixed mass (``HaloModel.latents``), so
"at fixed halo mass" has one meaning shared with the universe that made the halos.
Every marginal over a subset of the galaxy columns is also exact (Gaussian algebra, with
the selection integrated analytically when ``smass`` is marginalised out).
docs/truth_model.md explains every parameter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, log_ndtr, logsumexp, ndtr, ndtri, ndtri_exp
from scipy.stats import multivariate_normal

from ..catalog.schema import GALAXY, HALO, STELLAR_MASS_CUT
from ..errors import CatalogError, SimulationError
from .halos import HaloModel

COMPONENTS = ("star_forming", "quenched")
_LOG_2PI = np.log(2.0 * np.pi)


@dataclass(frozen=True)
class Component:
    """Mean relations and scatter of one population (SF or Q).

    Means (``s`` = the component's mean stellar mass, M = M_h, z/s-hat = formation-time
    and spin residuals at fixed mass):
    ``color = color_at_10 + color_slope (s - 10)``;
    ``sSFR = ssfr_at_10 + ssfr_slope (s - 10) + ssfr_formation z-hat``;
    ``radius = size relation(M) + radius_offset``;
    ``smass = SHMR(M) + smass_formation z-hat + smass_offset_low_mass w_low(M)``.
    Scatter: standard deviations of colour, sSFR, radius and the correlation matrix of
    (smass, color, sSFR, radius).
    """

    color_at_10: float
    color_slope: float
    ssfr_at_10: float
    ssfr_slope: float
    ssfr_formation: float
    radius_offset: float
    smass_offset_low_mass: float
    color_scatter: float
    ssfr_scatter: float
    radius_scatter: float
    correlation: tuple[tuple[float, ...], ...]

    @property
    def correlation_matrix(self) -> np.ndarray:
        return np.array(self.correlation, dtype=float)


_STAR_FORMING = Component(
    color_at_10=0.68, color_slope=0.14,
    ssfr_at_10=-9.95, ssfr_slope=-0.12, ssfr_formation=-0.10,
    radius_offset=0.0, smass_offset_low_mass=0.0,
    color_scatter=0.17, ssfr_scatter=0.25, radius_scatter=0.13,
    correlation=((1.00, 0.40, -0.30, 0.30),
                 (0.40, 1.00, -0.60, 0.05),
                 (-0.30, -0.60, 1.00, 0.10),
                 (0.30, 0.05, 0.10, 1.00)),
)

_QUENCHED = Component(
    color_at_10=1.09, color_slope=0.03,
    ssfr_at_10=-12.6, ssfr_slope=-0.25, ssfr_formation=0.0,
    radius_offset=-0.04, smass_offset_low_mass=0.30,
    color_scatter=0.055, ssfr_scatter=1.0, radius_scatter=0.14,
    correlation=((1.00, 0.30, -0.20, 0.40),
                 (0.30, 1.00, -0.40, 0.00),
                 (-0.20, -0.40, 1.00, 0.00),
                 (0.40, 0.00, 0.00, 1.00)),
)


@dataclass(frozen=True)
class TruthModel:
    """Parameters of the known-truth galaxy model (defaults calibrated on TNG300 centrals).

    Stellar-to-halo-mass relation (log10, Moster-like double power law):
    ``SHMR(M) = shmr_norm + M - log10(10^(-shmr_low_slope x) + 10^(shmr_high_slope x))``,
    ``x = M - shmr_pivot``; plus ``smass_formation`` dex per unit formation-time residual.
    Stellar-mass scatter: ``smass_scatter_high + (smass_scatter_low - smass_scatter_high)
    sigmoid((smass_scatter_pivot - M) / 0.3)`` dex.
    Low-mass weight: ``w_low(M) = sigmoid((low_mass_pivot - M) / low_mass_width)``.
    Quenched fraction: ``logit pi_Q = (M - quench_mass) / quench_width
    + quench_formation z-hat + w_low(M) (quench_low_mass + quench_environment
    (ln Delta3_h - ln 2))``: beside mass quenching, low-mass quenched centrals in dense
    environments (splashback / stripped halos, which also carry more stellar mass for
    their halo mass: ``smass_offset_low_mass``).
    Size relation: ``radius = radius_at_11 + radius_slope (M - 11) + radius_cluster_slope
    w ln(1 + exp((M - radius_break) / w))`` with ``w = 0.25``, plus ``radius_spin`` per
    unit spin residual.
    """

    stellar_mass_cut: float = STELLAR_MASS_CUT
    shmr_norm: float = -1.445
    shmr_pivot: float = 11.755
    shmr_low_slope: float = 1.2
    shmr_high_slope: float = 0.3705
    smass_formation: float = 0.13
    smass_scatter_low: float = 0.22
    smass_scatter_high: float = 0.16
    smass_scatter_pivot: float = 12.0
    quench_mass: float = 12.0
    quench_width: float = 0.15
    quench_formation: float = 0.6
    quench_low_mass: float = 4.5
    quench_environment: float = 1.5
    low_mass_pivot: float = 11.0
    low_mass_width: float = 0.15
    radius_at_11: float = 0.45
    radius_slope: float = 0.07
    radius_cluster_slope: float = 0.45
    radius_break: float = 12.2
    radius_spin: float = 0.035
    star_forming: Component = _STAR_FORMING
    quenched: Component = _QUENCHED
    halo_model: HaloModel = field(default_factory=HaloModel)

    def __post_init__(self) -> None:
        for component in self.components:
            matrix = component.correlation_matrix
            if matrix.shape != (4, 4) or not np.allclose(matrix, matrix.T):
                raise SimulationError("component correlation must be a symmetric 4x4 matrix")
            np.linalg.cholesky(matrix)

    # ------------------------------------------------------------------ parameters
    @property
    def components(self) -> tuple[Component, Component]:
        return (self.star_forming, self.quenched)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able parameters (stored in the catalog metadata)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> TruthModel:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = set(params) - known
        if unknown:
            raise SimulationError(f"unknown truth-model parameters: {sorted(unknown)}")
        values = dict(params)
        for name in COMPONENTS:
            if name in values and isinstance(values[name], dict):
                component = dict(values[name])
                component["correlation"] = tuple(tuple(row) for row in component["correlation"])
                values[name] = Component(**component)
        if isinstance(values.get("halo_model"), dict):
            values["halo_model"] = HaloModel(**values["halo_model"])
        return cls(**values)

    # ------------------------------------------------------------------ relations
    def shmr(self, log_mass: np.ndarray) -> np.ndarray:
        """Median log10 stellar mass of star-forming centrals at mean formation time."""
        x = log_mass - self.shmr_pivot
        return self.shmr_norm + log_mass - np.log10(
            10.0 ** (-self.shmr_low_slope * x) + 10.0 ** (self.shmr_high_slope * x))

    def smass_scatter(self, log_mass: np.ndarray) -> np.ndarray:
        """Stellar-mass scatter in dex at halo mass M (heteroscedastic)."""
        return self.smass_scatter_high + (self.smass_scatter_low - self.smass_scatter_high) * (
            expit((self.smass_scatter_pivot - log_mass) / 0.3))

    def size_relation(self, log_mass: np.ndarray) -> np.ndarray:
        """Median log10 half-mass radius (kpc/h) at halo mass M."""
        width = 0.25
        return (self.radius_at_11 + self.radius_slope * (log_mass - 11.0)
                + self.radius_cluster_slope * width
                * np.logaddexp(0.0, (log_mass - self.radius_break) / width))

    def quenched_fraction(self, halo: pd.DataFrame | dict[str, np.ndarray]) -> np.ndarray:
        """pi_Q(h) before the stellar-mass selection, shape (n,)."""
        mass, residual, log_delta = self._halo_terms(halo)
        return expit(self._quench_logit(mass, residual, log_delta))

    def low_mass_weight(self, log_mass: np.ndarray) -> np.ndarray:
        """w_low(M): 1 well below ``low_mass_pivot``, 0 well above."""
        return expit((self.low_mass_pivot - log_mass) / self.low_mass_width)

    def _quench_logit(self, mass, residual, log_delta) -> np.ndarray:
        return ((mass - self.quench_mass) / self.quench_width
                + self.quench_formation * residual[:, 0]
                + self.low_mass_weight(mass)
                * (self.quench_low_mass + self.quench_environment * (log_delta - np.log(2.0))))

    def _halo_terms(self, halo) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """M_h (n,), latent residuals (n, 3) in (z_h, C_h, S_h) order, ln Delta3_h (n,)."""
        missing = [name for name in HALO if name not in halo]
        if missing:
            raise CatalogError(f"truth model needs halo columns {missing}")
        mass = np.asarray(halo["M_h"], dtype=float)
        secondary = np.column_stack([np.asarray(halo[name], dtype=float)
                                     for name in ("z_h", "C_h", "S_h")])
        residual = self.halo_model.latents(mass, secondary)
        return mass, residual, np.log(np.asarray(halo["Delta3_h"], dtype=float))

    def conditional(self, halo: pd.DataFrame | dict[str, np.ndarray]) -> _Mixture:
        """The mixture p(galaxy | halo) for each row of ``halo`` (before selection)."""
        mass, residual, log_delta = self._halo_terms(halo)
        logit = self._quench_logit(mass, residual, log_delta)
        log_weights = np.stack([log_expit(-logit), log_expit(logit)], axis=1)
        smass_sd = self.smass_scatter(mass)
        base = self.shmr(mass) + self.smass_formation * residual[:, 0]
        size = self.size_relation(mass) + self.radius_spin * residual[:, 2]
        low_mass = self.low_mass_weight(mass)
        means, scales = [], []
        for component in self.components:
            smass = base + component.smass_offset_low_mass * low_mass
            means.append(np.column_stack([
                smass,
                component.color_at_10 + component.color_slope * (smass - 10.0),
                component.ssfr_at_10 + component.ssfr_slope * (smass - 10.0)
                + component.ssfr_formation * residual[:, 0],
                size + component.radius_offset,
            ]))
            scales.append(np.column_stack([
                smass_sd,
                np.full_like(mass, component.color_scatter),
                np.full_like(mass, component.ssfr_scatter),
                np.full_like(mass, component.radius_scatter),
            ]))
        return _Mixture(
            log_weights=log_weights, means=np.stack(means, axis=1),
            scales=np.stack(scales, axis=1),
            correlations=np.stack([c.correlation_matrix for c in self.components]),
            cut=self.stellar_mass_cut,
        )

    # ------------------------------------------------------------------ public API
    def log_prob(
        self, halo: pd.DataFrame | dict[str, np.ndarray],
        galaxy: pd.DataFrame | dict[str, np.ndarray], columns: tuple[str, ...] | None = None,
    ) -> np.ndarray:
        """Exact log p(galaxy | halo, selected) in the columns' physical units.

        Args:
            halo: table with ``M_h, C_h, S_h, z_h, Delta3_h`` (n rows).
            galaxy: table with the galaxy columns to score (n rows).
            columns: which galaxy columns (any non-empty subset of
                ``smass, color, sSFR, radius``; default: all four). Other columns are
                marginalised out exactly.

        Returns:
            shape (n,): log-density per row, in 1 / (product of the columns' units);
            ``-inf`` where ``smass`` is below the cut.
        """
        columns = GALAXY if columns is None else tuple(columns)
        unknown = [name for name in columns if name not in GALAXY]
        if unknown or not columns:
            raise SimulationError(f"columns must be a non-empty subset of {GALAXY}, got {columns}")
        values = np.column_stack([np.asarray(galaxy[name], dtype=float) for name in columns])
        return self.conditional(halo).log_prob(values, [GALAXY.index(n) for n in columns])

    def cdf(
        self, halo: pd.DataFrame | dict[str, np.ndarray], values: np.ndarray, column: str
    ) -> np.ndarray:
        """Exact conditional CDF P(column <= value | halo, selected), shape (n,).

        For the probability integral transform: the values of a correct sample are
        uniform. ``values`` has shape (n,), in the column's unit.
        """
        if column not in GALAXY:
            raise SimulationError(f"column must be one of {GALAXY}, got {column!r}")
        return self.conditional(halo).cdf(np.asarray(values, dtype=float), GALAXY.index(column))

    def selection_probability(self, halo: pd.DataFrame | dict[str, np.ndarray]) -> np.ndarray:
        """P(smass >= cut | halo), shape (n,)."""
        return np.exp(self.conditional(halo).log_selection())

    def sample(
        self, halo: pd.DataFrame | dict[str, np.ndarray], n: int = 1,
        seed: int | np.random.Generator | None = 0, selected: bool = True,
    ) -> np.ndarray:
        """Draw galaxies for every halo row.

        Args:
            halo: table with the halo columns (rows).
            n: draws per halo.
            seed: integer seed (or a numpy Generator).
            selected: draw from the selected density (smass >= cut; the default, the
                density ``log_prob`` scores) or from the mixture before selection.

        Returns:
            shape (n, rows, 4): ``smass, color, sSFR, radius`` in catalog units.
        """
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise SimulationError(f"n must be a positive integer, got {n}")
        rng = np.random.default_rng(seed)
        mixture = self.conditional(halo)
        rows = mixture.log_weights.shape[0]
        draws = mixture.repeat(int(n)).sample(rng, selected)
        return draws.reshape(int(n), rows, -1)


def log_expit(x: np.ndarray) -> np.ndarray:
    """log(sigmoid(x)) without overflow."""
    return -np.logaddexp(0.0, -x)


@dataclass(frozen=True)
class _Mixture:
    """Per-row two-component Gaussian mixture with a lower cut on dimension 0.

    Shapes: log_weights (n, K); means, scales (n, K, D); correlations (K, D, D).
    """

    log_weights: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    correlations: np.ndarray
    cut: float

    def repeat(self, n: int) -> _Mixture:
        """The same rows tiled ``n`` times (row ``i`` of copy ``j`` at ``j * rows + i``)."""
        return _Mixture(
            log_weights=np.tile(self.log_weights, (n, 1)), means=np.tile(self.means, (n, 1, 1)),
            scales=np.tile(self.scales, (n, 1, 1)), correlations=self.correlations, cut=self.cut)

    def _log_tail(self) -> np.ndarray:
        """log P(dim 0 >= cut | component), shape (n, K)."""
        return log_ndtr((self.means[..., 0] - self.cut) / self.scales[..., 0])

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
