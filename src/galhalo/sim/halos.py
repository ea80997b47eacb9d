"""Halo population of the synthetic universe: masses, positions with assembly bias,
and the secondary properties C_h, S_h, z_h.

Physical picture (docs/universe.md has the full write-up):

* masses are drawn from the Tinker et al. (2008) virial mass function;
* halos are biased tracers of the linear density field: the probability that a halo
  of mass M forms at Lagrangian position q is proportional to
  ``exp(b_L delta_R(q) - b_L^2 sigma_R^2 / 2)`` (a log-normal, always positive
  biasing), with ``delta_R`` the field smoothed on the halo's Lagrangian scale and the
  Lagrangian bias ``b_L = b_Tinker10(M) - 1``; moving the halos with the Zel'dovich
  displacement then gives the Eulerian large-scale bias ``1 + b_L = b(M)``;
* at fixed mass, secondary properties depend on a Gaussian latent vector
  ``(g_z, g_c, g_s)`` with unit variances and fixed correlations. The formation-time
  latent ``g_z`` correlates with the halo's large-scale environment (the field smoothed
  at ``environment_scale``): this is halo assembly bias, strongest at low mass and
  fading above ``assembly_bias_mass``. Because exponential biasing of a Gaussian field
  only shifts the mean of the field at the halo positions, the standardised
  environment is exactly N(0, 1) there and every latent stays exactly N(0, 1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import expit

from ..errors import SimulationError
from .cosmology import Cosmology
from .field import LinearField

#: Sharpness of the soft floor that keeps formation redshifts positive.
_FLOOR_SHARPNESS = 10.0
#: Smallest value the soft floor returns (its input is > -1).
_FLOOR_MINIMUM = float(np.logaddexp(0.0, -_FLOOR_SHARPNESS) / _FLOOR_SHARPNESS)


def soft_floor(x: np.ndarray) -> np.ndarray:
    """Smooth, increasing map of (-1, inf) onto (4.5e-6, inf): ~x above 0.3, ~0 below 0."""
    return np.logaddexp(0.0, _FLOOR_SHARPNESS * np.asarray(x)) / _FLOOR_SHARPNESS


def soft_floor_inverse(y: np.ndarray) -> np.ndarray:
    """Inverse of :func:`soft_floor` for y > 0."""
    y = np.asarray(y, dtype=float)
    scaled = _FLOOR_SHARPNESS * y
    # log(expm1(t)) = t + log1p(-exp(-t)), stable for large t.
    return (scaled + np.log(-np.expm1(-scaled))) / _FLOOR_SHARPNESS


@dataclass(frozen=True)
class HaloModel:
    """Relations between halo mass and the secondary halo properties.

    ``ln(1 + z_h) = formation_ln + formation_slope (M_h - 12) + formation_scatter g_z``,
    softly floored at z_h = 0 (see :func:`soft_floor`);
    ``ln C_h = concentration_ln + concentration_slope (M_h - 12) + concentration_scatter g_c``;
    ``ln S_h = spin_ln + spin_scatter g_s``; the latents ``g`` are standard normal with the
    correlations below. Values are calibrated on the TNG300 central sample
    (REFERENCES.md): median z_h 1.3, median C_h 1.02 (sd 0.12), median spin 0.043.
    """

    log_mass_min: float = 10.5
    log_mass_max: float = 15.5
    formation_ln: float = 0.75
    formation_slope: float = -0.16
    formation_scatter: float = 0.225
    concentration_ln: float = 0.003
    concentration_slope: float = -0.03
    concentration_scatter: float = 0.115
    spin_ln: float = -3.15
    spin_scatter: float = 0.57
    correlation_z_c: float = 0.60
    correlation_z_s: float = 0.0
    correlation_c_s: float = -0.30
    assembly_bias: float = 0.12
    assembly_bias_mass: float = 12.5
    assembly_bias_width: float = 0.3
    environment_scale: float = 4.0

    def __post_init__(self) -> None:
        np.linalg.cholesky(self.latent_correlation)  # raises if not positive definite
        if not 0 <= self.assembly_bias < 1:
            raise SimulationError("assembly_bias is a correlation coefficient in [0, 1)")
        if not self.log_mass_min < self.log_mass_max:
            raise SimulationError("log_mass_min must be below log_mass_max")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @property
    def latent_correlation(self) -> np.ndarray:
        """Correlation matrix of (g_z, g_c, g_s)."""
        return np.array([
            [1.0, self.correlation_z_c, self.correlation_z_s],
            [self.correlation_z_c, 1.0, self.correlation_c_s],
            [self.correlation_z_s, self.correlation_c_s, 1.0],
        ])

    def _log_means(self, log_mass: np.ndarray) -> np.ndarray:
        """Mean ln(1 + z_h), ln C_h, ln S_h at fixed mass, shape (n, 3)."""
        x = np.asarray(log_mass, dtype=float) - 12.0
        return np.stack([
            self.formation_ln + self.formation_slope * x,
            self.concentration_ln + self.concentration_slope * x,
            np.full_like(x, self.spin_ln),
        ], axis=-1)

    @property
    def _log_scatter(self) -> np.ndarray:
        return np.array([self.formation_scatter, self.concentration_scatter, self.spin_scatter])

    def properties(self, log_mass: np.ndarray, latents: np.ndarray) -> np.ndarray:
        """z_h, C_h, S_h (shape (n, 3)) from masses (n,) and latents (n, 3)."""
        values = np.exp(self._log_means(log_mass) + self._log_scatter * latents)
        values[:, 0] = soft_floor(values[:, 0] - 1.0)
        return values

    def latents(self, log_mass: np.ndarray, properties: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`properties`: standardised residuals at fixed mass, (n, 3).

        ``z_h`` below twice the soft floor's minimum (4.5e-6; the model never gets that
        close) is clipped there, so real catalogs with z_h = 0 still get a finite residual.
        """
        properties = np.asarray(properties, dtype=float)
        z_h = np.maximum(properties[:, 0], 2.0 * _FLOOR_MINIMUM)
        logs = np.column_stack([np.log1p(soft_floor_inverse(z_h)), np.log(properties[:, 1:])])
        return (logs - self._log_means(log_mass)) / self._log_scatter

    def assembly_bias_strength(self, log_mass: np.ndarray) -> np.ndarray:
        """Correlation of g_z with the standardised environment at mass M_h."""
        return self.assembly_bias * expit(
            (self.assembly_bias_mass - np.asarray(log_mass)) / self.assembly_bias_width
        )

    def draw_latents(
        self, log_mass: np.ndarray, environment: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Latents (n, 3) given the standardised environment (n,) at each halo."""
        strength = self.assembly_bias_strength(log_mass)
        noise = rng.standard_normal((len(log_mass), 3))
        g_z = strength * environment + np.sqrt(1.0 - strength**2) * noise[:, 0]
        cholesky = np.linalg.cholesky(self.latent_correlation)
        # Lower-triangular factor: its first column reproduces g_z, the rest adds the
        # correlated parts of g_c and g_s.
        standard = np.column_stack([g_z / cholesky[0, 0], noise[:, 1:]])
        return standard @ cholesky.T


def draw_masses(
    cosmology: Cosmology, model: HaloModel, size: int, rng: np.random.Generator,
    redshift: float = 0.0,
) -> np.ndarray:
    """``size`` log10 virial masses from the mass function between the model's limits."""
    grid = np.linspace(model.log_mass_min, model.log_mass_max, 2001)
    density = cosmology.mass_function(grid, redshift)
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1])
                                                  * np.diff(grid))])
    return np.interp(rng.random(size) * cumulative[-1], cumulative, grid)


def expected_count(
    cosmology: Cosmology, model: HaloModel, box: float, redshift: float = 0.0
) -> float:
    """Mean number of halos between the model's mass limits in a box of side ``box``."""
    grid = np.linspace(model.log_mass_min, model.log_mass_max, 2001)
    dn_dlnm = cosmology.mass_function(grid, redshift)
    return float(np.trapezoid(dn_dlnm * np.log(10.0), grid) * box**3)


@dataclass(frozen=True)
class Placement:
    """Where halos formed: Lagrangian positions (n, 3) Mpc/h and standardised environment (n,)."""

    lagrangian: np.ndarray
    environment: np.ndarray


def place_halos(
    field: LinearField, cosmology: Cosmology, model: HaloModel, log_mass: np.ndarray,
    rng: np.random.Generator, redshift: float = 0.0, bin_width: float = 0.05,
) -> Placement:
    """Draw Lagrangian positions for halos of the given masses (log-normal biasing).

    Halos are grouped in mass bins of ``bin_width`` dex; in each, the cell is drawn with
    probability proportional to ``exp(b_L delta_R)`` and the position uniformly within
    it. The environment (field at ``environment_scale``) at the chosen cell is
    standardised with its exact mean and variance under that tilt.
    """
    n = len(log_mass)
    lagrangian = np.empty((n, 3))
    environment = np.empty(n)
    env_field = field.smoothed(model.environment_scale).ravel()
    env_sd = env_field.std()
    edges = np.arange(model.log_mass_min, model.log_mass_max + bin_width, bin_width)
    which = np.clip(np.digitize(log_mass, edges) - 1, 0, len(edges) - 2)
    centres = 0.5 * (edges[1:] + edges[:-1])
    lagrangian_bias = cosmology.halo_bias(centres, redshift) - 1.0
    # Gaussian smoothing radius ~ 0.64 x the top-hat Lagrangian radius, never below half a
    # cell; rounded onto a geometric ladder so that few distinct fields are needed.
    radius = np.maximum(0.64 * cosmology.lagrangian_radius(centres), 0.5 * field.cell)
    ladder = 0.5 * field.cell * 1.25 ** np.round(np.log(radius / (0.5 * field.cell))
                                                 / np.log(1.25))
    env_centred = env_field - env_field.mean()
    covariances: dict[float, float] = {}  # cov(delta_R, environment) per ladder scale
    for index in np.unique(which):
        members = np.flatnonzero(which == index)
        bias = lagrangian_bias[index]
        smoothed = field.smoothed(ladder[index]).ravel()
        if ladder[index] not in covariances:
            covariances[ladder[index]] = np.mean((smoothed - smoothed.mean()) * env_centred)
        covariance = covariances[ladder[index]]
        log_weight = bias * smoothed
        weight = np.exp(log_weight - log_weight.max())
        cumulative = np.cumsum(weight)
        cells = np.searchsorted(cumulative, rng.random(len(members)) * cumulative[-1],
                                side="right")
        cells = np.minimum(cells, len(cumulative) - 1)
        corner = np.stack(np.unravel_index(cells, (field.grid,) * 3), axis=1)
        lagrangian[members] = (corner + rng.random((len(members), 3))) * field.cell
        environment[members] = (env_field[cells] - bias * covariance) / env_sd
    return Placement(lagrangian=lagrangian, environment=environment)
