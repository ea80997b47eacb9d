"""The ``tng_hard`` galaxy truth: a harder, TNG300-like p(galaxy | halo), still exact.

Four populations of centrals, each a Gaussian in a latent space (the same mean
relations and the same correlated-scatter form as the classic ``TruthModel``):
star-forming (SF), green valley (GV), the quenched sequence (Q) and "dead" galaxies
with no resolved star formation (D). Their weights depend on the halo::

    L_p  = (M_h - quench_mass) / quench_width + quench_formation z-hat
           + w_low(M) [quench_low_mass + quench_environment (ln Delta3_h - ln 2)]
    L_gv = gv_base - ((M_h - gv_peak) / gv_width)^2
    L_d  = dead_base + dead_mass (M_h - 12.5) + dead_formation z-hat
    p     = (1 - active_high h(M)) s(L_p)          (passive; s = sigmoid)
    pi_SF = (1 - p) s(-L_gv),  pi_GV = (1 - p) s(L_gv),
    pi_Q  = p s(-L_d),         pi_D  = p s(L_d)

(``h(M)`` below: a few per cent of massive centrals stay active, as in TNG300.)

The latent draw ``y`` is then pushed through one increasing bijection per column,
shared by the four populations of a row (``bijections.TransformedMixture``):

* smass: sinh-arcsinh about ``SHMR(M) + smass_formation z-hat`` in units of the
  stellar-mass scatter, with skewness and tail weight that change with halo mass
  (shape, not only width, is heteroscedastic);
* color: a red ceiling ``color_ceiling`` (soft saturation over
  ``color_ceiling_width``): a sharp red sequence piled up under it;
* sSFR: a floor ``ssfr_floor`` (width ``ssfr_floor_width``) under which no galaxy
  lies: the dead population piles up above it with its own shape;
* radius: sinh-arcsinh about the size relation, skewed and heavy-tailed in massive
  halos.

Every map is elementwise and monotone, so ``log_prob`` (any subset of the columns),
the selection ``smass >= cut`` (a per-row latent cut), ``cdf`` and ``sample`` stay
exact. Satellites use the SF and Q latent sequences as the classic model's
(``satellite_components``) with this model's SHMR and size relation.
docs/truth_model.md §7 gives the math and every parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy.special import expit

from .bijections import Ceiling, Floor, SinhArcsinh, TransformedMixture
from .mixture import Mixture, log_expit
from .truth import Component, TruthModel

__all__ = ["HARD_COMPONENTS", "HardTruthModel"]

HARD_COMPONENTS = ("star_forming", "green_valley", "quenched", "dead")

_HARD_STAR_FORMING = Component(
    color_at_10=0.67, color_slope=0.09,
    ssfr_at_10=-9.93, ssfr_slope=-0.14, ssfr_formation=-0.10,
    radius_offset=0.01, smass_offset_low_mass=0.0,
    color_scatter=0.19, ssfr_scatter=0.24, radius_scatter=0.11,
    correlation=((1.00, 0.25, -0.30, 0.30),
                 (0.25, 1.00, -0.80, 0.05),
                 (-0.30, -0.80, 1.00, 0.10),
                 (0.30, 0.05, 0.10, 1.00)),
)

_HARD_GREEN_VALLEY = Component(
    color_at_10=0.88, color_slope=0.06,
    ssfr_at_10=-10.75, ssfr_slope=-0.25, ssfr_formation=-0.05,
    radius_offset=-0.01, smass_offset_low_mass=0.15,
    color_scatter=0.07, ssfr_scatter=0.30, radius_scatter=0.13,
    correlation=((1.00, 0.30, -0.30, 0.30),
                 (0.30, 1.00, -0.75, 0.00),
                 (-0.30, -0.75, 1.00, 0.05),
                 (0.30, 0.00, 0.05, 1.00)),
)

_HARD_QUENCHED = Component(
    color_at_10=1.11, color_slope=0.03,
    ssfr_at_10=-12.6, ssfr_slope=-0.30, ssfr_formation=0.0,
    radius_offset=-0.04, smass_offset_low_mass=0.30,
    color_scatter=0.04, ssfr_scatter=0.50, radius_scatter=0.13,
    correlation=((1.00, 0.35, -0.25, 0.40),
                 (0.35, 1.00, -0.55, 0.00),
                 (-0.25, -0.55, 1.00, 0.00),
                 (0.40, 0.00, 0.00, 1.00)),
)

_HARD_DEAD = Component(
    color_at_10=1.14, color_slope=0.02,
    ssfr_at_10=-14.0, ssfr_slope=-0.30, ssfr_formation=0.0,
    radius_offset=-0.06, smass_offset_low_mass=0.30,
    color_scatter=0.05, ssfr_scatter=0.60, radius_scatter=0.15,
    correlation=((1.00, 0.20, -0.10, 0.45),
                 (0.20, 1.00, -0.20, 0.00),
                 (-0.10, -0.20, 1.00, 0.00),
                 (0.45, 0.00, 0.00, 1.00)),
)


@dataclass(frozen=True)
class HardTruthModel(TruthModel):
    """The ``tng_hard`` preset (module docstring). Inherits the classic relations (SHMR,
    scatter, size relation, low-mass weight, halo residuals, satellite routing) and
    adds the green-valley and dead populations, their weights and the bijections.

    Shape functions of halo mass: ``h(M) = sigmoid((M - shape_pivot) / shape_width)``;
    ``skew(M) = skew_low + (skew_high - skew_low) h(M)``, likewise the tail weights
    (1: Gaussian tails; < 1: heavier).
    """

    shmr_high_slope: float = 0.33
    smass_scatter_high: float = 0.10
    quench_mass: float = 12.03
    quench_width: float = 0.13
    quench_low_mass: float = 8.0
    quench_environment: float = 1.8
    radius_at_11: float = 0.44
    radius_slope: float = 0.10
    radius_cluster_slope: float = 0.40
    radius_break: float = 12.1
    radius_spin: float = 0.03
    green_valley: Component = _HARD_GREEN_VALLEY
    dead: Component = _HARD_DEAD
    star_forming: Component = _HARD_STAR_FORMING
    quenched: Component = _HARD_QUENCHED
    gv_base: float = -1.5
    gv_peak: float = 12.1
    gv_width: float = 0.35
    dead_base: float = -0.2
    dead_mass: float = 1.2
    dead_formation: float = 0.4
    active_high: float = 0.04
    color_ceiling: float = 1.19
    color_ceiling_width: float = 0.03
    ssfr_floor: float = -15.0
    ssfr_floor_width: float = 0.25
    shape_pivot: float = 12.5
    shape_width: float = 0.3
    smass_skew_low: float = 0.25
    smass_skew_high: float = -0.30
    smass_tail_low: float = 1.0
    smass_tail_high: float = 0.85
    radius_skew_low: float = 0.15
    radius_skew_high: float = 0.25
    radius_tail_low: float = 1.0
    radius_tail_high: float = 0.8
    radius_shape_scale: float = 0.13

    preset: ClassVar[str] = "tng_hard"
    component_fields: ClassVar[tuple[str, ...]] = HARD_COMPONENTS

    # ------------------------------------------------------------------ relations
    def high_mass_weight(self, log_mass: np.ndarray) -> np.ndarray:
        """h(M): 0 well below ``shape_pivot``, 1 well above."""
        return expit((log_mass - self.shape_pivot) / self.shape_width)

    def log_weights(self, halo: pd.DataFrame | dict[str, np.ndarray]) -> np.ndarray:
        """log pi_k(h) before selection, shape (n, 4) in ``HARD_COMPONENTS`` order."""
        mass, residual, log_delta = self._halo_terms(halo)
        return self._log_weights(mass, residual, log_delta)

    def _log_weights(self, mass, residual, log_delta) -> np.ndarray:
        logit = self._quench_logit(mass, residual, log_delta)
        green = self.gv_base - ((mass - self.gv_peak) / self.gv_width) ** 2
        dead = (self.dead_base + self.dead_mass * (mass - 12.5)
                + self.dead_formation * residual[:, 0])
        # p = (1 - a h(M)) sigmoid(L_p); 1 - p = sigmoid(-L_p) + a h(M) sigmoid(L_p)
        rejuvenated = self.active_high * self.high_mass_weight(mass)
        with np.errstate(divide="ignore"):
            passive = np.log1p(-rejuvenated) + log_expit(logit)
            active = np.logaddexp(log_expit(-logit), np.log(rejuvenated) + log_expit(logit))
        return np.stack([active + log_expit(-green), active + log_expit(green),
                         passive + log_expit(-dead), passive + log_expit(dead)], axis=1)

    def quenched_fraction(self, halo: pd.DataFrame | dict[str, np.ndarray]) -> np.ndarray:
        """pi_Q + pi_D (the passive populations) before selection, shape (n,)."""
        return np.exp(self.log_weights(halo)[:, 2:]).sum(axis=1)

    def transforms(self, mass: np.ndarray, residual: np.ndarray) -> tuple:
        """The four per-row bijections (smass, color, sSFR, radius) at these halos."""
        high = self.high_mass_weight(mass)
        return (
            SinhArcsinh(center=self.shmr(mass) + self.smass_formation * residual[:, 0],
                        scale=self.smass_scatter(mass),
                        skew=self.smass_skew_low + (self.smass_skew_high
                                                    - self.smass_skew_low) * high,
                        tail=self.smass_tail_low + (self.smass_tail_high
                                                    - self.smass_tail_low) * high),
            Ceiling(self.color_ceiling, self.color_ceiling_width),
            Floor(self.ssfr_floor, self.ssfr_floor_width),
            SinhArcsinh(center=self.size_relation(mass) + self.radius_spin * residual[:, 2],
                        scale=np.full_like(mass, self.radius_shape_scale),
                        skew=self.radius_skew_low + (self.radius_skew_high
                                                     - self.radius_skew_low) * high,
                        tail=self.radius_tail_low + (self.radius_tail_high
                                                     - self.radius_tail_low) * high),
        )

    def conditional(self, halo: pd.DataFrame | dict[str, np.ndarray]) -> TransformedMixture:
        """The transformed mixture p(galaxy | halo) per row (before selection); its
        latent cut is the smass bijection's inverse of ``stellar_mass_cut``."""
        mass, residual, log_delta = self._halo_terms(halo)
        classic = TruthModel.conditional(self, halo)
        transforms = self.transforms(mass, residual)
        latent_cut, _, _ = transforms[0].inverse(np.full_like(mass, self.stellar_mass_cut))
        latent = Mixture(log_weights=self._log_weights(mass, residual, log_delta),
                         means=classic.means, scales=classic.scales,
                         correlations=classic.correlations, cut=latent_cut)
        return TransformedMixture(latent=latent, transforms=transforms)
