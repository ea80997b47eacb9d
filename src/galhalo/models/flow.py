"""Conditional normalizing flow: a neural spline flow (zuko) over the scaled targets.

Autoregressive rational-quadratic spline transforms (Durkan et al. 2019) conditioned
on the scaled condition columns, on a standard-normal base. The targets reach the flow
through the shared scaler, whose support maps make the density honest at boundaries:
the stellar-mass cut of a selected sample is a ``softplus`` support, so no probability
leaks below the cut, and ``log_prob`` includes the scaler's exact Jacobian.

Rodrigues et al. (2025) used one spline transform with 12 bins and 3 hidden layers of
219 units; the defaults here use several transforms with random permutations, which fit
the bimodal colour-sSFR plane better at a similar cost. Measured on the default universe
(64k training rows, benchmarks/models.py): coupling transforms (``passes=2``) are as
accurate as fully autoregressive ones (held-out NLL - truth 0.077 vs 0.079 nats) and
sample ~10x faster (2 network passes per transform instead of one per target), and an
exponential moving average of the weights (``average=4`` epochs, 0.998 per step there)
lowers the excess to 0.064 nats; noise regularisation and weight decay did not help.
"""

from __future__ import annotations

from typing import Any, ClassVar

import zuko

from .base import NeuralModel, register
from .networks import TRAINING_DEFAULTS


@register
class FlowModel(NeuralModel):
    """Conditional neural spline flow p(target | condition)."""

    family = "flow"
    defaults: ClassVar[dict[str, Any]] = {
        **TRAINING_DEFAULTS, "average": 4.0,
        "transforms": 4, "bins": 8, "hidden": (128, 128), "passes": 2}

    def build(self, n_condition, n_target):
        hp = self.hyperparameters
        options = {} if hp["passes"] is None else {"passes": int(hp["passes"])}
        return zuko.flows.NSF(features=n_target, context=n_condition,
                              transforms=int(hp["transforms"]), bins=int(hp["bins"]),
                              hidden_features=tuple(int(h) for h in hp["hidden"]),
                              randperm=n_target > 1, **options)

    def scaled_log_prob(self, x, y):
        return self.network(x).log_prob(y)

    def scaled_sample(self, x, n):
        return self.network(x).sample((n,))
