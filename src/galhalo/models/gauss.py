"""NNgauss: an MLP predicting the mean and full covariance of a multivariate normal.

The network maps the scaled condition to ``d`` means and the ``d (d + 1) / 2`` entries of
a lower-triangular Cholesky factor whose diagonal is ``softplus(raw) + floor``, so the
covariance is always positive definite; the loss is the exact multivariate-normal
negative log-likelihood (as in Rodrigues et al. 2025, with SiLU units and AdamW).
A Gaussian in the scaled space is a Gaussian in physical space only for identity
supports; with a bounded target (the stellar-mass cut) it is the corresponding
transformed normal, and ``log_prob`` accounts for the Jacobian exactly.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from scipy import special

from ..errors import ModelError
from .base import NeuralModel, Table, register
from .networks import TRAINING_DEFAULTS, mlp


class _GaussNetwork(torch.nn.Module):
    def __init__(self, n_condition: int, n_target: int, hidden: tuple[int, ...], floor: float):
        super().__init__()
        self.n_target = n_target
        self.floor = floor
        self.body = mlp(n_condition, hidden, n_target + n_target * (n_target + 1) // 2)
        rows, cols = torch.tril_indices(n_target, n_target)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.body(x)
        d = self.n_target
        mean, entries = out[:, :d], out[:, d:]
        tril = torch.zeros(len(x), d, d, dtype=out.dtype)
        tril[:, self.rows, self.cols] = entries
        diagonal = torch.nn.functional.softplus(torch.diagonal(tril, dim1=1, dim2=2)) + self.floor
        tril = torch.tril(tril, diagonal=-1) + torch.diag_embed(diagonal)
        return mean, tril


@register
class GaussModel(NeuralModel):
    """NNgauss: p(target | condition) = N(mu(condition), L L^T) in the scaled space."""

    family = "gauss"
    defaults: ClassVar[dict[str, Any]] = {
        **TRAINING_DEFAULTS, "hidden": (256, 256, 256), "floor": 1e-3}

    def build(self, n_condition, n_target):
        return _GaussNetwork(n_condition, n_target, tuple(self.hyperparameters["hidden"]),
                             float(self.hyperparameters["floor"]))

    def _distribution(self, x):
        mean, tril = self.network(x)
        return torch.distributions.MultivariateNormal(mean, scale_tril=tril)

    def scaled_log_prob(self, x, y):
        return self._distribution(x).log_prob(y)

    def scaled_sample(self, x, n):
        return self._distribution(x).sample((n,))

    def scaled_mean(self, x):
        return self.network(x)[0]

    def cdf(self, condition_table: Table, values: np.ndarray, column: str) -> np.ndarray:
        """Exact P(column <= value | condition), shape (rows,), ``values`` shape (rows,) in
        the column's physical unit.

        The column's marginal is Gaussian in the scaled space, and the map from physical to
        scaled values is increasing, so the CDF is the normal CDF at the mapped value (0 at
        or below a bounded column's lower edge). Discrete (dequantised) columns have no
        closed form here: ``NotImplementedError``, and the evaluation uses draws instead.
        """
        self._require_fitted()
        if column not in self.target:
            raise ModelError(f"column {column!r} is not a target of this model "
                             f"({', '.join(self.target)})")
        j = self.target.index(column)
        if j in self.target_scaler.discrete:
            raise NotImplementedError(f"no closed-form CDF for the discrete column {column!r}")
        with torch.no_grad():
            mean, tril = self.network(self._condition_tensor(condition_table))
        sd = torch.linalg.vector_norm(tril[:, j, :], dim=1).double().numpy()
        values = np.asarray(values, dtype=float)
        support = self.target_scaler.supports[j]
        u, _ = support.forward(values)
        z = (u - self.target_scaler.mean[j]) / self.target_scaler.scale[j]
        probability = special.ndtr((z - mean[:, j].double().numpy()) / sd)
        return np.where(support.inside(values), probability, 0.0)

