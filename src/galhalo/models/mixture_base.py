"""A conditional Gaussian-mixture base for the flow family (``components`` > 1).

The default flow maps every galaxy onto one standard normal: a bimodal conditional
distribution (star-forming and quenched galaxies at the same halo mass, with a sparse
green valley between them) must then be torn apart by the spline transforms, which
spend their bins on the valley and smear the narrow quenched sequence. With a mixture
base the flow's latent density is itself multimodal,

    p(z | halo) = sum_k w_k(halo) N(z; mu_k(halo), diag sigma_k(halo)^2),

so each population can sit in its own component with a weight that follows the halo
(the quenched fraction rising with mass), and the transforms only have to shape each
mode. The density stays exact: ``log_prob`` is the flow's change of variables on this
base (a log-sum-exp over the K components), and sampling draws a component per galaxy
and then a Gaussian point. One network (an MLP on the scaled conditions, the flow's
hidden sizes) gives the K weights, means and scales; it costs about one more transform.

The component means start spread over the latent space (drawn from N(0, 1) with the
global torch generator, so a seed fixes them) and the scales at 1; training moves them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from zuko.distributions import DiagNormal, Mixture
from zuko.lazy import LazyDistribution

from .networks import mlp

#: Smallest component scale (latent units), so no component collapses onto a point.
MIN_SCALE = 1e-3


class ConditionalGaussianMixture(LazyDistribution):
    """p(z | c): a mixture of ``components`` diagonal Gaussians in ``features``
    dimensions whose weights, means and scales are an MLP of the context c
    (``context`` columns, hidden layers ``hidden``)."""

    def __init__(self, features: int, context: int, components: int,
                 hidden: tuple[int, ...]):
        super().__init__()
        if components < 2:
            raise ValueError(f"a mixture base needs >= 2 components, got {components}")
        self.features, self.components = features, components
        self.network = mlp(context, hidden, components * (1 + 2 * features))
        output = self.network[-1]
        with torch.no_grad():
            output.weight.mul_(0.1)
            output.bias.zero_()
            means = output.bias[components:components * (1 + features)]
            means.copy_(torch.randn(components * features))
            scales = output.bias[components * (1 + features):]
            scales.fill_(math.log(math.expm1(1.0 - MIN_SCALE)))

    def forward(self, c: torch.Tensor) -> Mixture:
        """The mixture given contexts c (batch, context): batch shape (batch,)."""
        k, d = self.components, self.features
        logits, means, scales = self.network(c).split([k, k * d, k * d], dim=-1)
        means = means.unflatten(-1, (k, d))
        scales = F.softplus(scales.unflatten(-1, (k, d))) + MIN_SCALE
        return Mixture(DiagNormal(means, scales), logits)


__all__ = ["MIN_SCALE", "ConditionalGaussianMixture"]
