"""Shared machinery of the torch families (NNgauss, the flow, NNclass): the scaled
spaces, the one training loop, sampling in chunks and the model directory."""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import ModelError, one_line
from .interface import Table, column_matrix
from .mass_balance import mass_balance_weights
from .scaled import ScaledModel
from .store import (
    ModelFiles,
    StoredModel,
    read_model_directory,
    restore_fit_record,
    write_model_directory,
)
from .training import TrainingConfig, TrainingProblem, train
from .transforms import ColumnScaler

#: Galaxies per network call in ``log_prob`` and ``sample``: enough rows for efficient
#: matrix products, few enough that a layer's activations (16,384 x 219 floats, 14 MB)
#: stay in cache (4x more rows sampled the flow ~1.5x slower on 2 cores).
CHUNK = 16_384


class NeuralModel(ScaledModel):
    """Shared machinery of the torch families: scaling, training, persistence.

    A subclass defines ``build`` (the network), ``scaled_log_prob`` (per-row log-density
    of scaled targets given scaled conditions) and ``scaled_sample``.
    """

    training_keys: ClassVar[tuple[str, ...]] = tuple(TrainingConfig.__dataclass_fields__)
    #: What a saved ``config.json`` without a hyperparameter meant: the value it had
    #: before the key existed (not today's default), so older models rebuild the
    #: network their weights were saved from.
    legacy_values: ClassVar[dict[str, Any]] = {}

    def __init__(self, **hyperparameters: Any):
        super().__init__(**hyperparameters)
        self.training_config = TrainingConfig(
            **{k: self.hyperparameters[k] for k in self.training_keys if k in self.hyperparameters})
        self.network: torch.nn.Module | None = None
        self.history: list[dict[str, float]] = []

    # -- family hooks
    @abstractmethod
    def build(self, n_condition: int, n_target: int) -> torch.nn.Module:
        """A fresh network for these dimensions (uses ``self.hyperparameters``)."""

    @abstractmethod
    def scaled_log_prob(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """log p(y | x) per row, in the scaled space, shape (batch,)."""

    @abstractmethod
    def scaled_sample(self, x: torch.Tensor, n: int) -> torch.Tensor:
        """Draws (n, batch, d) in the scaled space (uses torch's global generator)."""

    def training_log_prob(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """What training maximises per row while the network is in training mode
        (default: ``scaled_log_prob``; an ensemble trains each member on its own)."""
        return self.scaled_log_prob(x, y)

    def scaled_mean(self, x: torch.Tensor) -> torch.Tensor | None:
        """Exact mean in the scaled space if the family has one (then it is in physical
        space only for identity supports), else None."""
        return None

    # -- fitting
    def fit(self, catalog, condition, target, valid=0.2, seed=0, progress=True):
        data = self._prepare_fit(catalog, condition, target, valid, seed)
        problem = self._training_problem(data, seed)
        torch.manual_seed(seed)
        self.network = self.build(len(self.condition), len(self.target))
        self.seed = int(seed)
        self.history = train(self.network, problem.loss, problem.train, problem.valid,
                             self.training_config, seed, progress,
                             valid_loss=problem.valid_loss, weights=self._row_weights(data.x))
        self._after_training(data)
        valid_nll = -float(np.mean(self.log_prob(
            dict(zip(self.condition, data.x_valid.T, strict=True)),
            dict(zip(self.target, data.y_valid.T, strict=True)))))
        self.metrics = {"valid_nll": valid_nll, "epochs": len(self.history),
                        "best_epoch": int(np.argmin([h["valid"] for h in self.history])) + 1,
                        "train_rows": len(data.x), "valid_rows": len(data.x_valid),
                        **({"edges": self.found_edges} if self.found_edges else {}),
                        **({"atoms": self.found_atoms} if self.found_atoms else {}),
                        **self._fit_metrics()}
        return self

    def _row_weights(self, x: np.ndarray) -> np.ndarray | None:
        """Training weights of the rows (physical conditions (n, c)) from the
        hyperparameters ``mass_balance`` and ``mass_balance_by`` (models/mass_balance.py);
        None when ``mass_balance`` is 0 (or the family has no such hyperparameter)."""
        power = self.hyperparameters.get("mass_balance", 0.0)
        if not power:
            return None
        column = self.hyperparameters["mass_balance_by"]
        if column not in self.condition:
            raise ModelError(f"mass_balance_by={column!r} is not a condition column "
                             f"({', '.join(self.condition)}); set mass_balance_by to one of "
                             "them or mass_balance=0")
        return mass_balance_weights(x[:, self.condition.index(column)], power)

    def _training_problem(self, data, seed: int) -> TrainingProblem:
        """What the shared loop fits, from the split of :meth:`_prepare_fit`; runs before
        the network is built (a family may first derive what the network's size depends
        on, e.g. NNclass's classes)."""
        train_scaled = self._scaled(data.x, data.y_model)
        valid_scaled = self._scaled(data.x_valid, data.y_valid_model)
        return TrainingProblem(self.scaled_log_prob_loss, train_scaled[:2], valid_scaled[:2])

    def _after_training(self, data) -> None:
        """Runs once the training loop has restored the best weights, before the fit's
        metrics are computed; ``data`` is :meth:`_prepare_fit`'s split (nothing by
        default)."""

    def _fit_metrics(self) -> dict:
        """Family-specific entries of :attr:`metrics` after a fit (none by default)."""
        return {}

    def scaled_log_prob_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-row NLL; in training mode with the noise regularisation applied."""
        if self.network.training:
            x_noise = float(self.hyperparameters.get("condition_noise", 0.0))
            y_noise = float(self.hyperparameters.get("target_noise", 0.0))
            if x_noise > 0:
                x = x + x_noise * torch.randn_like(x)
            if y_noise > 0:
                y = y + y_noise * torch.randn_like(y)
            return -self.training_log_prob(x, y)
        return -self.scaled_log_prob(x, y)

    def _scaled(self, x: np.ndarray, y: np.ndarray):
        x_scaled = self.condition_scaler.forward(x)[0]
        y_scaled, log_jacobian, inside = self.target_scaler.forward(y)
        return x_scaled.astype(np.float32), y_scaled.astype(np.float32), log_jacobian, inside

    def _condition_tensor(self, condition_table: Table) -> torch.Tensor:
        self._require_fitted()
        x = column_matrix(condition_table, self.condition, "condition")
        return torch.as_tensor(self.condition_scaler.forward(x)[0], dtype=torch.float32)

    # -- using
    def _continuous_log_prob(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x_scaled, y_scaled, log_jacobian, inside = self._scaled(x, y)
        with torch.no_grad():
            scaled = np.concatenate([
                self.scaled_log_prob(torch.as_tensor(x_scaled[i:i + CHUNK]),
                                     torch.as_tensor(y_scaled[i:i + CHUNK])).double().numpy()
                for i in range(0, len(x), CHUNK)])
        result = scaled + log_jacobian
        result[~inside] = -np.inf
        return result

    def sample(self, condition_table, n_per_row=1, seed=0):
        if isinstance(n_per_row, bool) or int(n_per_row) != n_per_row or n_per_row < 1:
            raise ModelError(f"n_per_row must be a positive integer, got {n_per_row}")
        x = self._condition_tensor(condition_table)
        chunk = max(1, CHUNK // int(n_per_row))
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(seed)
            draws = torch.cat([self.scaled_sample(x[i:i + chunk], int(n_per_row))
                               for i in range(0, len(x), chunk)], dim=1)
        return self.target_scaler.snap(self.target_scaler.inverse(draws.double().numpy()))

    def predict(self, condition_table, samples: int = 200, seed: int = 0):
        """Mean of ``samples`` draws per row (exact mean for families that have one)."""
        x = self._condition_tensor(condition_table)
        identity = all(s.kind == "identity" for s in self.target_scaler.supports)
        with torch.no_grad():
            mean = self.scaled_mean(x) if identity else None
        if mean is not None:
            return self.target_scaler.inverse(mean.double().numpy())
        return self.sample(condition_table, samples, seed).mean(axis=0)

    # -- persistence (models/store.py); a family with more state overrides the hooks
    def save(self, directory):
        """Write the model directory atomically: config.json, the network's state dict
        (weights.pt), :meth:`saved_files` and :meth:`write_extra`, history.json."""
        self._require_fitted()
        return write_model_directory(directory, self.config(), self.saved_files(),
                                     self.history, extra=self.write_extra)

    def saved_files(self) -> ModelFiles:
        """The tensors (the network's state dict) and arrays the directory holds."""
        return ModelFiles(tensors=self.network.state_dict())

    def write_extra(self, directory: Path) -> None:
        """Write family files into the (temporary) model ``directory``; checksummed."""

    def restore_saved(self, stored: StoredModel) -> None:
        """Rebuild family state from what :meth:`saved_files` / :meth:`write_extra`
        wrote (after the network and the fit record are restored)."""

    @classmethod
    def load(cls, directory):
        stored = read_model_directory(directory, cls.family)
        config = stored.config
        try:
            model = cls(**{**cls.legacy_values, **config["hyperparameters"]})
            model._set_columns(config["condition"], config["target"])
            model.condition_scaler = ColumnScaler.from_dict(config["condition_scaler"])
            model.target_scaler = ColumnScaler.from_dict(config["target_scaler"])
            model.network = model.build(len(model.condition), len(model.target))
            model.network.load_state_dict(stored.files.tensors, strict=True)
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise ModelError(f"{stored.directory}: cannot rebuild the model "
                             f"({one_line(err)})") from None
        restore_fit_record(model, config, stored.directory)
        model.restore_saved(stored)
        return model
