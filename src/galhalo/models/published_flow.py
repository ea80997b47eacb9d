"""The normalizing flow of Rodrigues et al. 2025 (A&A 698, A3) on TNG300 centrals, as a
baseline family: ``flow_rodrigues25``, named after the paper as an astronomer cites it.

The published model (REFERENCES.md, "Normalizing flow [R25]"), built with Pyro's
``conditional_spline_autoregressive``: ONE conditional spline autoregressive transform
(a masked autoregressive network, not coupling) with 12 bins of linear-rational splines
(Pyro's default ``order="linear"``; Dolatabadi, Erfani & Leckie 2020) and 3 hidden
layers of 219 ReLU units, on a diagonal Gaussian base N(0, 0.2^2) (standard deviation
0.2), with every condition and target column min-max scaled onto [-1, 1] (no support
maps: the columns as given). It is trained here by galhalo's one loop (AdamW, plateau
schedule, early stopping; models/training.py) like every neural family, and saved and
loaded the same way.

What differs from Pyro, and why it does not change the function class: Pyro's
transform maps the base to the data (one network pass to sample, a sequential inverse
for the density); zuko's masked autoregressive transform maps the data to the base (one
pass for the density, a sequential inverse to sample). The inverse of a linear-rational
spline is again a linear-rational spline, so both describe the same densities. The
spline acts on [-bound, bound] (``bound`` 3, Pyro's default) and is the identity outside,
with slope 1 at the bound: together with the Gaussian base the density is defined and
smooth on the whole real line, so held-out rows outside the training range (min-max
scaled beyond [-1, 1]) get a finite, if small, density. ``log_prob`` is in physical units:
the min-max scaler's Jacobian (minus the sum of ln(scale)) is added exactly.

The machinery is the ``flow`` family's (:class:`~.flow.FlowModel`): log_prob,
sampling (zuko's sampler: the fast one of models/flow_sampling.py knows only the
rational-quadratic spline), persistence. Only ``build`` and the defaults differ.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, ClassVar

import torch
import zuko
from torch import Tensor
from zuko.distributions import DiagNormal
from zuko.flows.autoregressive import MaskedAutoregressiveTransform
from zuko.transforms import MonotonicRQSTransform
from zuko.utils import broadcast

from .base import ModelError, register
from .flow import FlowModel
from .networks import TRAINING_DEFAULTS

#: Smallest share of a bin left of its interior knot (keeps both halves of a bin).
MIN_LAMBDA = 0.025


class LinearRationalSplineTransform(MonotonicRQSTransform):
    """A monotonic linear-rational spline on [-bound, bound], the identity outside
    (Dolatabadi et al. 2020; the ``order="linear"`` splines of Pyro).

    The knots (x_k, y_k) and knot derivatives d_k are the rational-quadratic spline's
    (same parametrisation, boundary derivatives 1); each bin is split at a fraction
    lambda of its width into two pieces y = (a + b t) / (c + e t), t the position in
    the bin, continuous in value and derivative at the split, with weights w_a = 1,
    w_b = sqrt(d_k / d_{k+1}), w_c = (lambda d_k + (1 - lambda) w_b d_{k+1}) / s_k
    (s_k the bin's slope) and the split's height y_c, the w-weighted mean of y_k and
    y_{k+1}. Inverse in closed form.

    Arguments:
        widths, heights: unconstrained bin widths and heights, (*, K).
        derivatives: unconstrained interior knot derivatives, (*, K - 1).
        lambdas: unconstrained split positions, (*, K).
        bound: the spline's (co)domain bound.
    """

    def __init__(self, widths: Tensor, heights: Tensor, derivatives: Tensor,
                 lambdas: Tensor, bound: float = 3.0, **kwargs: Any) -> None:
        super().__init__(widths, heights, derivatives, bound=bound, **kwargs)
        self.lambdas = MIN_LAMBDA + (1 - 2 * MIN_LAMBDA) * torch.sigmoid(lambdas)

    def _pieces(self, k: Tensor) -> tuple[Tensor, ...]:
        """Per element: (mask, x0, width, y0, y1, y_c, lambda, w_b, w_c) of bin ``k``."""
        mask, x0, x1, y0, y1, d0, d1, s = self.bin(k)
        index, lambdas = broadcast((k % self.bins)[..., None], self.lambdas, ignore=1)
        lam = lambdas.gather(-1, index).squeeze(-1)
        w_b = torch.sqrt(d0 / d1)
        w_c = (lam * d0 + (1 - lam) * w_b * d1) / s
        y_c = ((1 - lam) * y0 + lam * w_b * y1) / ((1 - lam) + lam * w_b)
        return mask, x0, x1 - x0, y0, y1, y_c, lam, w_b, w_c

    def call_and_ladj(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k = self.searchsorted(self.horizontal, x) - 1
        mask, x0, width, y0, y1, y_c, lam, w_b, w_c = self._pieces(k)
        t = mask * (x - x0) / width
        left = t <= lam
        numerator = torch.where(left, y0 * (lam - t) + w_c * y_c * t,
                                w_c * y_c * (1 - t) + w_b * y1 * (t - lam))
        denominator = torch.where(left, (lam - t) + w_c * t,
                                  w_c * (1 - t) + w_b * (t - lam))
        slope = torch.where(left, w_c * lam * (y_c - y0), w_b * w_c * (1 - lam) * (y1 - y_c))
        ladj = torch.log(slope / width) - 2 * torch.log(denominator)
        return torch.where(mask, numerator / denominator, x), mask * ladj

    def _call(self, x: Tensor) -> Tensor:
        return self.call_and_ladj(x)[0]

    def _inverse(self, y: Tensor) -> Tensor:
        k = self.searchsorted(self.vertical, y) - 1
        mask, x0, width, y0, y1, y_c, lam, w_b, w_c = self._pieces(k)
        y_ = torch.where(mask, y, y_c)
        left = y_ <= y_c
        numerator = torch.where(left, lam * (y0 - y_),
                                (w_c - lam * w_b) * y_ + lam * w_b * y1 - w_c * y_c)
        denominator = torch.where(left, (w_c - 1) * y_ + y0 - w_c * y_c,
                                  (w_c - w_b) * y_ + w_b * y1 - w_c * y_c)
        return torch.where(mask, x0 + width * numerator / denominator, y)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return self.call_and_ladj(x)[1]


@register
class PublishedFlowModel(FlowModel):
    """Rodrigues et al. 2025's TNG300 flow: one conditional linear-rational spline
    autoregressive transform (12 bins, 3 x 219 hidden units) on N(0, 0.2^2), min-max
    scaled columns; p(target | condition) like every family."""

    family = "flow_rodrigues25"
    defaults: ClassVar[dict[str, Any]] = {
        **TRAINING_DEFAULTS, "bins": 12, "hidden": (219, 219, 219), "base_scale": 0.2,
        "bound": 3.0, "scaling": "minmax", "supports": "none"}
    legacy_values: ClassVar[dict[str, Any]] = {}

    def build(self, n_condition: int, n_target: int) -> torch.nn.Module:
        hp = self.hyperparameters
        bins, scale, bound = int(hp["bins"]), float(hp["base_scale"]), float(hp["bound"])
        if bins < 2 or not scale > 0 or not bound > 0 or not math.isfinite(scale * bound):
            raise ModelError(f"flow_rodrigues25 needs bins >= 2, base_scale > 0 and bound "
                             f"> 0; got {bins}, {hp['base_scale']}, {hp['bound']}")
        transform = MaskedAutoregressiveTransform(
            features=n_target, context=n_condition, passes=None,
            univariate=partial(LinearRationalSplineTransform, bound=bound),
            shapes=[(bins,), (bins,), (bins - 1,), (bins,)],
            hidden_features=tuple(int(h) for h in hp["hidden"]))
        base = zuko.flows.UnconditionalDistribution(
            DiagNormal, torch.zeros(n_target), torch.full((n_target,), scale), buffer=True)
        return zuko.flows.Flow([transform], base)


__all__ = ["MIN_LAMBDA", "LinearRationalSplineTransform", "PublishedFlowModel"]
