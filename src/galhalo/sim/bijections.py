"""Elementwise monotone bijections with exact log-Jacobians, and a Gaussian mixture
pushed through them (the latent-space machinery of the ``tng_hard`` truth preset).

A :class:`TransformedMixture` is a :class:`~galhalo.sim.mixture.Mixture` of latent
Gaussians ``y`` and one increasing bijection per dimension, ``x_d = T_d(y_d)``, whose
parameters may differ per row (shape (n,)) but are shared by the components of a row.
Because the map is elementwise and increasing:

* the density of any subset A of the dimensions is the latent marginal at
  ``T_A^-1(x_A)`` times ``prod_{d in A} dT_d^-1/dx_d`` (exact);
* the cut ``x_0 >= cut`` is the latent cut ``y_0 >= T_0^-1(cut)`` (analytic selection);
* the CDF of one dimension is the latent CDF at ``T_d^-1(x)``;
* sampling draws latent values and maps them forward.

It offers the interface of ``Mixture`` (``log_weights``, ``repeat``, ``log_selection``,
``log_prob``, ``cdf``, ``sample``), so ``TruthModel`` uses either unchanged.
Bijections (parameters are floats or arrays of shape (n,)):

* :class:`SinhArcsinh` ``x = c + s [S((y - c) / s) - S(0)]``, ``S(v) = sinh((asinh v +
  skew) / tail)`` (Jones & Pewsey 2009): skewness and tail weight, identity at
  ``skew = 0, tail = 1``;
* :class:`Ceiling` ``x = top - w softplus((top - y) / w)``: identity far below ``top``,
  saturating just under it (support ``x < top``);
* :class:`Floor` ``x = bottom + w softplus((y - bottom) / w)``: the mirror image
  (support ``x > bottom``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .mixture import Mixture

__all__ = ["Ceiling", "Floor", "SinhArcsinh", "TransformedMixture"]

#: Latent value standing for "beyond the support" in CDFs (standardised units are
#: far smaller; ndtr of it is exactly 0 or 1).
_FAR = 1e6


def _tile(value, n: int):
    return value if np.ndim(value) == 0 else np.tile(value, n)


def _log_softplus_slope(b: np.ndarray) -> np.ndarray:
    """-log(1 - exp(-b)) for b > 0: log dy/dx of the softplus saturations."""
    return -np.log(-np.expm1(-b))


@dataclass(frozen=True)
class SinhArcsinh:
    """Sinh-arcsinh map about ``center`` in units of ``scale`` (support: all reals)."""

    center: float | np.ndarray
    scale: float | np.ndarray
    skew: float | np.ndarray
    tail: float | np.ndarray

    def repeat(self, n: int) -> SinhArcsinh:
        return SinhArcsinh(*(_tile(getattr(self, f), n)
                             for f in ("center", "scale", "skew", "tail")))

    def _shift(self):
        return np.sinh(self.skew / self.tail)

    def forward(self, y: np.ndarray) -> np.ndarray:
        v = (y - self.center) / self.scale
        s = np.sinh((np.arcsinh(v) + self.skew) / self.tail)
        return self.center + self.scale * (s - self._shift())

    def inverse(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(y, log dy/dx, inside support), each of x's shape."""
        w = (x - self.center) / self.scale + self._shift()
        a = self.tail * np.arcsinh(w) - self.skew
        y = self.center + self.scale * np.sinh(a)
        log_det = (np.log(self.tail) + np.logaddexp(a, -a) - np.log(2.0)
                   - 0.5 * np.log1p(w * w))
        return y, log_det, np.ones(np.shape(x), dtype=bool)


@dataclass(frozen=True)
class Ceiling:
    """Soft saturation from below at ``top`` over a width ``width`` (support x < top):
    the mirror image of :class:`Floor`, ``forward(y) = -Floor(-top, width).forward(-y)``
    (negation is exact, so the two share one set of formulas bit for bit)."""

    top: float | np.ndarray
    width: float | np.ndarray

    def repeat(self, n: int) -> Ceiling:
        return Ceiling(_tile(self.top, n), _tile(self.width, n))

    def _mirror(self) -> Floor:
        return Floor(-self.top, self.width)

    def forward(self, y: np.ndarray) -> np.ndarray:
        return -self._mirror().forward(-np.asarray(y))

    def inverse(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        y, log_det, inside = self._mirror().inverse(-np.asarray(x))
        return -y, log_det, inside


@dataclass(frozen=True)
class Floor:
    """Soft saturation from above at ``bottom`` over ``width`` (support x > bottom)."""

    bottom: float | np.ndarray
    width: float | np.ndarray

    def repeat(self, n: int) -> Floor:
        return Floor(_tile(self.bottom, n), _tile(self.width, n))

    def forward(self, y: np.ndarray) -> np.ndarray:
        return self.bottom + self.width * np.logaddexp(0.0, (y - self.bottom) / self.width)

    def inverse(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        b = (x - self.bottom) / self.width
        inside = b > 0
        b = np.where(inside, b, 1.0)
        log_det = _log_softplus_slope(b)
        y = self.bottom + self.width * (b - log_det)
        return np.where(inside, y, -_FAR), log_det, inside


@dataclass(frozen=True)
class TransformedMixture:
    """A latent :class:`Mixture` (its cut in latent units) and one increasing bijection
    per dimension, shared by the components; same interface as ``Mixture``."""

    latent: Mixture
    transforms: tuple

    @property
    def log_weights(self) -> np.ndarray:
        return self.latent.log_weights

    def repeat(self, n: int) -> TransformedMixture:
        return replace(self, latent=self.latent.repeat(n),
                       transforms=tuple(t.repeat(n) for t in self.transforms))

    def log_selection(self) -> np.ndarray:
        return self.latent.log_selection()

    def _latent(self, values: np.ndarray, dims: list[int]):
        latent = np.empty(values.shape)
        log_det = np.zeros(len(values))
        inside = np.ones(len(values), dtype=bool)
        for j, dim in enumerate(dims):
            latent[:, j], jacobian, ok = self.transforms[dim].inverse(values[:, j])
            log_det += np.where(ok, jacobian, 0.0)
            inside &= ok
        return latent, log_det, inside

    def log_prob(self, values: np.ndarray, dims: list[int]) -> np.ndarray:
        """log density of ``values`` (n, len(dims)) in dimensions ``dims``."""
        latent, log_det, inside = self._latent(np.asarray(values, dtype=float), dims)
        out = self.latent.log_prob(np.where(inside[:, None], latent, 0.0), dims) + log_det
        out[~inside] = -np.inf
        return out

    def cdf(self, values: np.ndarray, dim: int) -> np.ndarray:
        """P(dimension ``dim`` <= values | selected) per row; values shape (n,)."""
        latent, _, _ = self.transforms[dim].inverse(np.asarray(values, dtype=float))
        return self.latent.cdf(np.clip(latent, -_FAR, _FAR), dim)

    def sample(self, rng: np.random.Generator, selected: bool) -> np.ndarray:
        """One draw per row, shape (n, D)."""
        latent = self.latent.sample(rng, selected)
        return np.column_stack([t.forward(latent[:, d]) for d, t in enumerate(self.transforms)])
