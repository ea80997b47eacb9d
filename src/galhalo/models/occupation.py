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
        "hidden": (64, 64), "poisson": False}

    def __init__(self, **hyperparameters: Any):
        super().__init__(**hyperparameters)
        if not isinstance(self.hyperparameters["poisson"], bool):
            raise ModelError(f"poisson must be true or false, got "
                             f"{self.hyperparameters['poisson']!r}")
        self._log_mean = 0.0

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
