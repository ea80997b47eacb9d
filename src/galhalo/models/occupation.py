"""Occupation: p(N | condition) for one integer count target (e.g. ``N_sat`` per host).

An MLP (SiLU) maps the scaled condition (the one :class:`ColumnScaler`; host columns,
optionally the central galaxy's) to the mean ``mu(x) = exp(raw_0 + log_mean)`` and the
dispersion ``alpha(x) = softplus(raw_1 - 2) + 1e-6`` of a negative binomial

    P(N = n | x) = Gamma(n + k) / (Gamma(k) n!) (k / (k + mu))^k (mu / (k + mu))^n,

``k = 1 / alpha``, mean ``mu`` and variance ``mu + alpha mu^2``: free to be
super-Poisson, Poisson as ``alpha -> 0`` (``poisson=True`` fixes ``alpha = 0`` and the
law is exactly Poisson). ``log_mean`` (a buffer, saved with the weights) is the log of
the training rows' mean count, so the fit starts at the right level. ``log_prob`` is
the exact pmf in nats per row (float64, ``torch.lgamma``), not a density: a count has
no unit. ``sample`` draws int64 counts exactly, as a gamma-Poisson mixture (Poisson of
a Gamma(k, k / mu) rate) with the seed. The training loop, the store and the condition
scaling are the shared ones; the count is never dequantised (the target "scaler" is the
identity) and ``target_noise`` / ``dequantise`` are not hyperparameters of this family.

**Balance.** Early stopping halts the network where the validation NLL, dominated by the
many hosts with few satellites, is best, before the rare massive hosts are fitted: the
mean count there came out 5-10% below the training hosts' own (docs/models.md).
With ``balance=True`` (the default) the fit ends with Wüthrich (2020)'s bias
regularisation ("Bias regularization in neural network models for general insurance
pricing", Eur. Actuar. J. 10, 179): the log-mean row of the output layer (weights and
bias) is refitted by maximum likelihood on every fit row, training and validation,
with the hidden features and the dispersion held fixed. That problem is concave (a
negative binomial of known shape with a log link is log-concave in its linear
predictor), so Newton's method solves it, and at its optimum the score of every output weight
vanishes: the mean is balanced against the realised counts along every hidden feature,
the bias's score being sum_i (n_i - mu_i) / (1 + alpha_i mu_i) = 0 (for Poisson,
sum_i n_i = sum_i mu_i exactly). ``metrics["balance"]`` records the NLL before and after.

The target must be one column of integers >= 0, and the rows one per host: a table
with satellite rows (``is_central`` false) is refused at fit, since a host's count
would be repeated on each of its galaxies (use ``catalog.centrals()``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from ..catalog import Catalog
from ..errors import ModelError
from .interface import Table, column_matrix, table_of
from .networks import TRAINING_DEFAULTS, mlp
from .neural import NeuralModel
from .registry import register
from .transforms import ColumnScaler, Support

#: Smallest dispersion alpha = 1 / k of the free model: variance mu + 1e-6 mu^2 is
#: Poisson for any count galhalo meets, and k <= 1e6 keeps lgamma(n + k) - lgamma(k)
#: accurate in float64.
ALPHA_FLOOR = 1e-6
#: The dispersion head starts near softplus(-2) = 0.13 (raw output 0).
ALPHA_SHIFT = 2.0
#: |log mu| above which the mean is clamped (mu within e^-30 .. e^30).
LOG_MEAN_LIMIT = 30.0


def count_matrix(table: Table, names: tuple[str, ...], role: str = "target") -> np.ndarray:
    """The count column of ``table`` as float64 (rows, 1) holding integers >= 0.

    Raises:
        ModelError: not one column, a missing / non-numeric / NaN column (as
            :func:`column_matrix`), or a value that is negative or not an integer (the
            message names the column, the first bad row and its value).
    """
    if len(names) != 1:
        raise ModelError(f"an occupation model takes one count {role} column, got "
                         f"{len(names)}: {', '.join(names)}")
    values = column_matrix(table, names, role)
    bad = (values[:, 0] < 0) | (values[:, 0] != np.round(values[:, 0]))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ModelError(f"{role} column {names[0]!r} must hold counts (integers >= 0): "
                         f"{bad.sum()} rows are not, e.g. row {row} = {float(values[row, 0])!r}")
    return values


def negative_binomial_log_prob(counts: torch.Tensor, log_mean: torch.Tensor,
                               alpha: torch.Tensor | None) -> torch.Tensor:
    """log P(N = counts) of a negative binomial with mean ``exp(log_mean)`` and variance
    mean + alpha mean^2 (``alpha`` None: Poisson), float64, shape of ``counts``."""
    counts, log_mean = counts.double(), log_mean.double()
    mean = torch.exp(log_mean)
    if alpha is None:
        return counts * log_mean - mean - torch.lgamma(counts + 1)
    alpha = alpha.double()
    shape = 1.0 / alpha
    log_1p = torch.log1p(alpha * mean)
    return (torch.lgamma(counts + shape) - torch.lgamma(shape) - torch.lgamma(counts + 1)
            - shape * log_1p + counts * (log_mean + torch.log(alpha) - log_1p))


#: Newton iterations of the balance step at most, and the Newton decrement (nats per
#: row) below which it has converged.
BALANCE_ITERATIONS, BALANCE_TOLERANCE = 50, 1e-12


def balance_output_layer(network: _OccupationNetwork, x: torch.Tensor,
                         counts: torch.Tensor) -> dict[str, Any]:
    """Refit the log-mean row of ``network``'s output layer (weights and bias) by
    maximum likelihood on scaled conditions ``x`` (rows, c) and ``counts`` (rows,), the
    hidden features and the dispersion held fixed; in place.

    Newton's method with step halving on the concave log-likelihood
    l_i = n_i eta_i - (n_i + k_i) log(k_i + e^eta_i) (k = 1 / alpha; Poisson:
    n_i eta_i - e^eta_i), whose score per row is (n - mu) / (1 + alpha mu) and
    curvature -mu (1 + alpha n) / (1 + alpha mu)^2. Returns the mean NLL per row (nats)
    before and after and the iterations used; the layer is left unchanged (and
    ``applied`` false) if the refit does not lower the NLL.
    """
    output = network.body[-1]
    with torch.no_grad():
        features = network.body[:-1](x).double()
        _, alpha = network(x)
    alpha = torch.zeros(len(x), dtype=torch.float64) if alpha is None else alpha.double()
    design = torch.cat([features, torch.ones(len(features), 1, dtype=torch.float64)], 1)
    counts = counts.double()
    offset = float(network.log_mean)
    weights = torch.cat([output.weight[0], output.bias[:1]]).detach().double()
    poisson = network.poisson

    def nll(w: torch.Tensor) -> float:
        return -float(negative_binomial_log_prob(counts, design @ w + offset,
                                                 None if poisson else alpha).mean())

    before = current = nll(weights)
    iterations = 0
    for iterations in range(1, BALANCE_ITERATIONS + 1):  # noqa: B007 (reported)
        mean = torch.exp(torch.clamp(design @ weights + offset, max=LOG_MEAN_LIMIT))
        score = design.T @ ((counts - mean) / (1 + alpha * mean))
        curvature = mean * (1 + alpha * counts) / (1 + alpha * mean) ** 2
        hessian = design.T @ (curvature[:, None] * design)
        step = torch.linalg.solve(hessian + 1e-10 * torch.eye(len(weights),
                                                              dtype=torch.float64), score)
        decrement = float(score @ step) / len(counts)
        if decrement < BALANCE_TOLERANCE:
            break
        size = 1.0
        while size > 1e-6:
            trial = weights + size * step
            value = nll(trial)
            if np.isfinite(value) and value <= current:
                weights, current = trial, value
                break
            size /= 2
        else:
            break
    applied = bool(np.isfinite(current) and current < before)
    if applied:
        with torch.no_grad():
            output.weight[0] = weights[:-1].to(output.weight.dtype)
            output.bias[0] = weights[-1].to(output.bias.dtype)
    return {"nll_before": before, "nll_after": current if applied else before,
            "iterations": iterations, "applied": applied}


class _OccupationNetwork(torch.nn.Module):
    """Scaled condition (B, c) -> (log mean (B,), dispersion alpha (B,) or None)."""

    def __init__(self, n_condition: int, hidden: tuple[int, ...], poisson: bool,
                 log_mean: float = 0.0):
        super().__init__()
        self.poisson = poisson
        self.body = mlp(n_condition, hidden, 1 if poisson else 2)
        self.register_buffer("log_mean", torch.tensor(float(log_mean)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = self.body(x)
        log_mean = torch.clamp(out[:, 0] + self.log_mean, -LOG_MEAN_LIMIT, LOG_MEAN_LIMIT)
        if self.poisson:
            return log_mean, None
        alpha = torch.nn.functional.softplus(out[:, 1] - ALPHA_SHIFT) + ALPHA_FLOOR
        return log_mean, alpha


@register
class OccupationModel(NeuralModel):
    """p(N | condition): a negative binomial whose mean and dispersion an MLP predicts
    (module docstring)."""

    family = "occupation"
    #: What the target is: one column of integer counts (the registry-wide tests feed
    #: such a family count data).
    target_kind: ClassVar[str] = "count"
    defaults: ClassVar[dict[str, Any]] = {
        **{key: value for key, value in TRAINING_DEFAULTS.items()
           if key not in ("target_noise", "dequantise")},
        "hidden": (64, 64), "poisson": False, "balance": True}

    def __init__(self, **hyperparameters: Any):
        super().__init__(**hyperparameters)
        for name in ("poisson", "balance"):
            if not isinstance(self.hyperparameters[name], bool):
                raise ModelError(f"{name} must be true or false, got "
                                 f"{self.hyperparameters[name]!r}")
        self._log_mean = 0.0
        self._balance: dict[str, Any] | None = None

    # -- family hooks
    def build(self, n_condition, n_target):
        return _OccupationNetwork(n_condition, tuple(self.hyperparameters["hidden"]),
                                  self.hyperparameters["poisson"], self._log_mean)

    def scaled_log_prob(self, x, y):
        log_mean, alpha = self.network(x)
        return negative_binomial_log_prob(y[:, 0], log_mean, alpha)

    def scaled_sample(self, x, n):
        log_mean, alpha = self.network(x)
        rate = torch.exp(log_mean.double()).expand(n, -1)
        if alpha is not None:
            shape = (1.0 / alpha.double()).expand(n, -1)
            rate = torch.distributions.Gamma(shape, shape / rate).sample()
        return torch.poisson(rate)[..., None]

    def scaled_mean(self, x):
        return torch.exp(self.network(x)[0].double())[:, None]

    # -- fitting: the shared split and condition scaler; counts checked, not scaled
    def _prepare_fit(self, catalog, condition, target, valid, seed):
        self._set_columns(condition, target)
        given = isinstance(valid, Catalog | pd.DataFrame)
        tables = [("", catalog)] + ([("validation ", valid)] if given else [])
        for role, table in tables:
            count_matrix(table, self.target, f"{role}target")
            frame = table_of(table)
            if "is_central" in frame:
                satellites = int((~np.asarray(frame["is_central"], dtype=bool)).sum())
                if satellites:
                    raise ModelError(
                        f"the {role}table has {satellites} satellite rows: an occupation "
                        "model needs one row per host (catalog.centrals(), or --galaxies "
                        "centrals)")
        data = super()._prepare_fit(catalog, condition, target, valid, seed)
        self.target_scaler = ColumnScaler(self.target, [Support()], np.zeros(1), np.ones(1))
        self._log_mean = float(np.log(max(data.y.mean(), ALPHA_FLOOR)))
        return data

    def _after_training(self, data):
        """The balance step (module docstring) on every fit row, if ``balance``."""
        self._balance = None
        if not self.hyperparameters["balance"]:
            return
        x = np.concatenate([data.x, data.x_valid])
        counts = np.concatenate([data.y, data.y_valid])[:, 0]
        self.network.eval()
        self._balance = balance_output_layer(
            self.network, self._condition_tensor(dict(zip(self.condition, x.T, strict=True))),
            torch.as_tensor(counts))

    def _fit_metrics(self):
        return {} if self._balance is None else {"balance": self._balance}

    def _target_grids(self, y):
        return [None]  # a count is modelled by its pmf, never dequantised

    # -- using
    def log_prob(self, condition_table: Table, target_table: Table) -> np.ndarray:
        """log P(N = n | condition) per row (rows,), nats; counts must be integers >= 0."""
        self._require_fitted()
        x = column_matrix(condition_table, self.condition, "condition")
        y = count_matrix(target_table, self.target)
        if len(x) != len(y):
            raise ModelError(f"condition has {len(x)} rows but target has {len(y)}")
        return self._continuous_log_prob(x, y)

    def sample(self, condition_table: Table, n_per_row: int = 1, seed: int = 0) -> np.ndarray:
        """Counts drawn exactly from the model, int64 (n_per_row, rows, 1)."""
        return np.rint(super().sample(condition_table, n_per_row, seed)).astype(np.int64)

    def parameters_of(self, condition_table: Table) -> tuple[np.ndarray, np.ndarray]:
        """(mean mu, dispersion alpha) per row, float64 (rows,) each; alpha = 0 for the
        Poisson model (variance = mu + alpha mu^2)."""
        x = self._condition_tensor(condition_table)
        with torch.no_grad():
            log_mean, alpha = self.network(x)
        mean = torch.exp(log_mean.double()).numpy()
        return mean, (np.zeros_like(mean) if alpha is None else alpha.double().numpy())

    def mean(self, condition_table: Table) -> np.ndarray:
        """E[N | condition] per row, (rows,)."""
        return self.parameters_of(condition_table)[0]

    def variance(self, condition_table: Table) -> np.ndarray:
        """Var[N | condition] = mu + alpha mu^2 per row, (rows,)."""
        mean, alpha = self.parameters_of(condition_table)
        return mean + alpha * mean**2
