"""The conditional-density interface shared by every model family, and its registry.

A model learns p(target | condition) where condition and target are any disjoint lists
of catalog columns: halo -> galaxy (the usual direction) and galaxy -> halo are the
same code path. Every family offers

* ``fit(catalog, condition, target, valid=0.2, seed=0)``;
* ``log_prob(condition_table, target_table)``: per-row log-density **in the targets'
  physical units** (comparable across families and with the truth model);
* ``sample(condition_table, n_per_row, seed)``: array (n_per_row, rows, targets);
* ``predict(condition_table)``: a point estimate per row, (rows, targets);
* ``save(directory)`` / ``load(directory)``: ``config.json`` + tensors, never pickles.

``model(condition_table)`` returns a :class:`Conditioned` object with ``sample`` and
``log_prob``, in the spirit of zuko's ``flow(context)``.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from .. import __version__
from ..catalog import Catalog
from ..columns import parse_column_list
from ..errors import ModelError
from ..files import atomic_directory, check_writable, dumps_json
from .training import TrainingConfig, train
from .transforms import ColumnScaler, default_supports, detect_grid, stellar_mass_cut_of

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.pt"
HISTORY_FILE = "history.json"

Table = pd.DataFrame | Catalog | Mapping[str, Any]
#: Points per grid cell (and generator) of the lattice rule that integrates a model's
#: density over the cells of discrete targets.
LATTICE_POINTS = 8
LATTICE_GENERATOR = 3



# ----------------------------------------------------------------------------- registry
FAMILIES: dict[str, type[ConditionalModel]] = {}


def register(cls: type[ConditionalModel]) -> type[ConditionalModel]:
    """Class decorator: make a family available by its ``family`` name."""
    FAMILIES[cls.family] = cls
    return cls


def model_family(name: str) -> type[ConditionalModel]:
    """The model class registered as ``name``; a clear error listing the known names."""
    _import_families()
    try:
        return FAMILIES[name]
    except KeyError:
        raise ModelError(f"unknown model family {name!r}; known: {', '.join(sorted(FAMILIES))}"
                         ) from None


def _import_families() -> None:
    from . import classifier, flow, gauss, regression  # noqa: F401  (registration side effect)


def load_model(directory: str | Path) -> ConditionalModel:
    """Load any saved model: the family is read from its ``config.json``."""
    config = _read_config(Path(directory))
    return model_family(config["family"]).load(directory)


# ----------------------------------------------------------------------------- inputs
def table_of(table: Table) -> pd.DataFrame | Mapping[str, Any]:
    return table.table if isinstance(table, Catalog) else table


def column_matrix(table: Table, names: tuple[str, ...], role: str) -> np.ndarray:
    """Columns ``names`` of a table as a finite float64 array (rows, len(names)).

    Raises :class:`ModelError` naming missing columns, or the column and row count of
    NaN/inf values; ``role`` ("condition", "target") goes into the message.
    """
    data = table_of(table)
    missing = [name for name in names if name not in data]
    if missing:
        raise ModelError(f"{role} columns {missing} are missing from the table "
                         f"(it has: {', '.join(map(str, data.keys()))})")
    columns = []
    for name in names:
        try:
            values = np.asarray(data[name], dtype=float)
        except (TypeError, ValueError):
            raise ModelError(f"{role} column {name!r} is not numeric") from None
        bad = ~np.isfinite(values)
        if bad.any():
            raise ModelError(f"{role} column {name!r}: {bad.sum()} of {len(values)} rows are "
                             f"NaN or inf (first at row {int(np.flatnonzero(bad)[0])})")
        columns.append(values)
    matrix = np.column_stack(columns) if columns else np.empty((0, 0))
    if len(matrix) == 0:
        raise ModelError(f"the {role} table has no rows")
    return matrix


def check_columns(condition, target) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Parse condition and target column lists ("M_h,C_h" or sequences); they must be
    known, non-empty and disjoint."""
    condition, target = parse_column_list(condition), parse_column_list(target)
    overlap = sorted(set(condition) & set(target))
    if overlap:
        raise ModelError(f"columns {overlap} are both condition and target")
    return condition, target


def _split(n: int, valid: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if not 0 < valid < 1:
        raise ModelError(f"valid must be a fraction in (0, 1) or a Catalog, got {valid}")
    order = np.random.default_rng(seed).permutation(n)
    n_valid = max(1, round(valid * n))
    if n - n_valid < 2:
        raise ModelError(f"{n} rows are too few to train and validate")
    return order[n_valid:], order[:n_valid]


def _read_config(directory: Path) -> dict[str, Any]:
    path = directory / CONFIG_FILE
    if not directory.is_dir():
        raise ModelError(f"{directory}: not a model directory")
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelError(f"{directory}: no {CONFIG_FILE}; not a galhalo model") from None
    except (OSError, ValueError) as err:
        raise ModelError(f"{path}: unreadable ({err})") from None
    if not isinstance(config, dict) or "family" not in config:
        raise ModelError(f"{path}: not a galhalo model config (no 'family')")
    saved = str(config.get("galhalo_version", "?"))
    if saved.split(".")[:2] != __version__.split(".")[:2]:
        raise ModelError(f"{directory}: saved by galhalo {saved}, this is galhalo "
                         f"{__version__}; retrain the model (formats differ between versions)")
    return config


# ----------------------------------------------------------------------------- interface
class ConditionalModel(ABC):
    """A learned conditional density p(target | condition) over named catalog columns."""

    family: ClassVar[str]
    #: Hyperparameters and their defaults; the constructor accepts exactly these.
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **hyperparameters: Any):
        unknown = sorted(set(hyperparameters) - set(self.defaults))
        if unknown:
            raise ModelError(f"unknown {self.family} hyperparameters {unknown}; "
                             f"known: {sorted(self.defaults)}")
        self.hyperparameters = {**self.defaults, **hyperparameters}
        self.condition: tuple[str, ...] = ()
        self.target: tuple[str, ...] = ()
        self.metrics: dict[str, float] = {}
        self.seed: int | None = None

    def __repr__(self) -> str:
        state = (f"{', '.join(self.condition)} -> {', '.join(self.target)}" if self.fitted
                 else "not fitted")
        return f"{type(self).__name__}({state})"

    @property
    def fitted(self) -> bool:
        return bool(self.target)

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise ModelError(f"this {self.family} model is not fitted yet: call fit() or load()")

    def _set_columns(self, condition, target) -> None:
        self.condition, self.target = check_columns(condition, target)

    def __call__(self, condition_table: Table) -> Conditioned:
        return Conditioned(self, condition_table)

    @abstractmethod
    def fit(self, catalog: Catalog | pd.DataFrame, condition, target,
            valid: float | Catalog = 0.2, seed: int = 0, progress: bool = True
            ) -> ConditionalModel:
        """Learn p(target | condition) from the rows of ``catalog``."""

    @abstractmethod
    def log_prob(self, condition_table: Table, target_table: Table) -> np.ndarray:
        """Per-row log-density (rows,) in the targets' physical units; -inf off-support."""

    @abstractmethod
    def sample(self, condition_table: Table, n_per_row: int = 1, seed: int = 0) -> np.ndarray:
        """Draws of shape (n_per_row, rows, targets) in physical units."""

    @abstractmethod
    def predict(self, condition_table: Table) -> np.ndarray:
        """A point estimate per row, (rows, targets)."""

    @abstractmethod
    def save(self, directory: str | Path) -> Path:
        """Write the model directory atomically."""

    @classmethod
    @abstractmethod
    def load(cls, directory: str | Path) -> ConditionalModel:
        """Read a model directory written by :meth:`save`."""


class Conditioned:
    """A model bound to condition rows: ``model(halos).sample(10)``, ``.log_prob(galaxies)``."""

    def __init__(self, model: ConditionalModel, condition_table: Table):
        self.model = model
        self.condition_table = condition_table

    def sample(self, n_per_row: int = 1, seed: int = 0) -> np.ndarray:
        return self.model.sample(self.condition_table, n_per_row, seed)

    def log_prob(self, target_table: Table) -> np.ndarray:
        return self.model.log_prob(self.condition_table, target_table)


# ----------------------------------------------------------------------------- scaled families
@dataclass
class FitData:
    """The rows of one fit, physical units: conditions ``x`` (rows, c), targets ``y``
    (rows, d) as read, and ``y_model``: ``y`` with discrete targets dequantised (what the
    model learns); the same for the validation rows."""

    x: np.ndarray
    y: np.ndarray
    y_model: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    y_valid_model: np.ndarray


class ScaledModel(ConditionalModel):
    """Families that model the targets through the shared :class:`ColumnScaler`: the
    split, the scalers, discrete-target grids and their dequantisation at fit time, and
    ``log_prob`` with a probability per grid value for discrete targets. A subclass
    defines ``_continuous_log_prob`` (physical arrays, scaler Jacobian included)."""

    def __init__(self, **hyperparameters: Any):
        super().__init__(**hyperparameters)
        self.condition_scaler: ColumnScaler | None = None
        self.target_scaler: ColumnScaler | None = None

    def _prepare_fit(self, catalog, condition, target, valid, seed: int) -> FitData:
        """Set the columns and fit the scalers on the training split; the split is a
        seeded ``valid`` fraction or the given validation table."""
        self._set_columns(condition, target)
        frame = table_of(catalog)
        x = column_matrix(frame, self.condition, "condition")
        y = column_matrix(frame, self.target, "target")
        if isinstance(valid, Catalog | pd.DataFrame):
            x_valid = column_matrix(valid, self.condition, "validation condition")
            y_valid = column_matrix(valid, self.target, "validation target")
        else:
            train_rows, valid_rows = _split(len(x), valid, seed)
            x, x_valid, y, y_valid = x[train_rows], x[valid_rows], y[train_rows], y[valid_rows]
        truth = catalog.meta.truth if isinstance(catalog, Catalog) else None
        smass = y[:, self.target.index("smass")] if "smass" in self.target else None
        cut = stellar_mass_cut_of(truth, smass)
        try:
            self.condition_scaler = ColumnScaler.fit(
                self.condition, x, default_supports(self.condition, cut))
            self.target_scaler = ColumnScaler.fit(self.target, y,
                                                  default_supports(self.target, cut),
                                                  self._target_grids(y))
            # Discrete targets are spread over their grid cells once, with the fit's seed.
            rng = np.random.default_rng(seed)
            y_model = self.target_scaler.dequantise(y, rng)
            y_valid_model = self.target_scaler.dequantise(y_valid, rng)
        except ValueError as err:
            raise ModelError(str(err)) from None
        return FitData(x, y, y_model, x_valid, y_valid, y_valid_model)

    def _target_grids(self, y: np.ndarray) -> list[np.ndarray | None]:
        """Grids of the discrete target columns, by the ``dequantise`` hyperparameter:
        "auto" (detect), "none", or a list of column names to treat as discrete."""
        setting = self.hyperparameters.get("dequantise", "auto")
        if setting == "none":
            return [None] * len(self.target)
        if setting == "auto":
            return [detect_grid(column) for column in y.T]
        names = parse_column_list(setting)
        unknown = sorted(set(names) - set(self.target))
        if unknown:
            raise ModelError(f"dequantise names {unknown}, which are not targets "
                             f"({', '.join(self.target)})")
        return [np.unique(column) if name in names else None
                for name, column in zip(self.target, y.T, strict=True)]

    def config(self) -> dict[str, Any]:
        """What ``config.json`` holds: family, version, hyperparameters, columns,
        scalers, seed and validation metrics (families add their own keys)."""
        self._require_fitted()
        return {
            "family": self.family, "galhalo_version": __version__,
            "hyperparameters": self.hyperparameters,
            "condition": list(self.condition), "target": list(self.target),
            "condition_scaler": self.condition_scaler.to_dict(),
            "target_scaler": self.target_scaler.to_dict(),
            "seed": self.seed, "metrics": self.metrics,
        }

    @abstractmethod
    def _continuous_log_prob(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """log-density (rows,) of physical targets ``y`` given conditions ``x``."""

    def log_prob(self, condition_table, target_table):
        self._require_fitted()
        x = column_matrix(condition_table, self.condition, "condition")
        y = column_matrix(target_table, self.target, "target")
        if len(x) != len(y):
            raise ModelError(f"condition has {len(x)} rows but target has {len(y)}")
        discrete = self.target_scaler.discrete
        if not discrete:
            return self._continuous_log_prob(x, y)
        # A discrete column has a probability per grid value: the integral of the model's
        # density over the value's cell, by a rank-1 lattice rule over the cells.
        try:
            cells = self.target_scaler.cells(y)
        except ValueError as err:
            raise ModelError(str(err)) from None
        terms = []
        for k in range(LATTICE_POINTS):
            y_k = y.copy()
            for i, j in enumerate(discrete):
                low, width = cells[j]
                fraction = ((k * LATTICE_GENERATOR ** i) % LATTICE_POINTS + 0.5) / LATTICE_POINTS
                y_k[:, j] = low + fraction * width
            terms.append(self._continuous_log_prob(x, y_k))
        log_width = sum(np.log(cells[j][1]) for j in discrete)
        return np.logaddexp.reduce(terms, axis=0) - np.log(LATTICE_POINTS) + log_width


# ----------------------------------------------------------------------------- neural families
class NeuralModel(ScaledModel):
    """Shared machinery of the torch families: scaling, training, persistence.

    A subclass defines ``build`` (the network), ``scaled_log_prob`` (per-row log-density
    of scaled targets given scaled conditions) and ``scaled_sample``.
    """

    training_keys: ClassVar[tuple[str, ...]] = tuple(TrainingConfig.__dataclass_fields__)

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
        loss, train_data, valid_data = self._training_problem(data, seed)
        torch.manual_seed(seed)
        self.network = self.build(len(self.condition), len(self.target))
        self.seed = int(seed)
        self.history = train(self.network, loss, train_data, valid_data,
                             self.training_config, seed, progress)
        valid_nll = -float(np.mean(self.log_prob(
            dict(zip(self.condition, data.x_valid.T, strict=True)),
            dict(zip(self.target, data.y_valid.T, strict=True)))))
        self.metrics = {"valid_nll": valid_nll, "epochs": len(self.history),
                        "best_epoch": int(np.argmin([h["valid"] for h in self.history])) + 1,
                        "train_rows": len(data.x), "valid_rows": len(data.x_valid),
                        **self._fit_metrics()}
        return self

    def _training_problem(self, data, seed: int):
        """(loss, training (x, y), validation (x, y)) for the shared loop, from the split
        of :meth:`_prepare_fit`; runs before the network is built (a family may first
        derive what the network's size depends on, e.g. NNclass's classes)."""
        train_scaled = self._scaled(data.x, data.y_model)
        valid_scaled = self._scaled(data.x_valid, data.y_valid_model)
        return self.scaled_log_prob_loss, train_scaled[:2], valid_scaled[:2]

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
                self.scaled_log_prob(torch.as_tensor(x_scaled[i:i + 65536]),
                                     torch.as_tensor(y_scaled[i:i + 65536])).double().numpy()
                for i in range(0, len(x), 65536)])
        result = scaled + log_jacobian
        result[~inside] = -np.inf
        return result

    def sample(self, condition_table, n_per_row=1, seed=0):
        if isinstance(n_per_row, bool) or int(n_per_row) != n_per_row or n_per_row < 1:
            raise ModelError(f"n_per_row must be a positive integer, got {n_per_row}")
        x = self._condition_tensor(condition_table)
        chunk = max(1, 65536 // int(n_per_row))
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

    # -- persistence
    def save(self, directory):
        self._require_fitted()
        return save_network_directory(directory, self.network, self.config(), self.history)

    @classmethod
    def load(cls, directory):
        directory = Path(directory)
        config = read_network_config(directory, cls.family)
        try:
            model = cls(**config["hyperparameters"])
            model._set_columns(config["condition"], config["target"])
            model.condition_scaler = ColumnScaler.from_dict(config["condition_scaler"])
            model.target_scaler = ColumnScaler.from_dict(config["target_scaler"])
            model.network = model.build(len(model.condition), len(model.target))
            load_weights(model.network, directory)
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise ModelError(f"{directory}: cannot rebuild the model ({err})") from None
        restore_fit_record(model, config, directory)
        return model


# ----------------------------------------------------------------------------- torch model dirs
def save_network_directory(directory: str | Path, network: torch.nn.Module, config: dict,
                           history: list) -> Path:
    """Write a model directory atomically: ``weights.pt`` (the state dict), ``config.json``
    (``config`` plus the weights' sha256) and ``history.json``; returns its path."""
    target = check_writable(directory, directory=True)
    with atomic_directory(target) as tmp:
        weights = tmp / WEIGHTS_FILE
        torch.save(network.state_dict(), weights)
        config = {**config, "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}
        (tmp / CONFIG_FILE).write_text(dumps_json(config))
        (tmp / HISTORY_FILE).write_text(dumps_json(history))
    return target


def read_network_config(directory: Path, family: str) -> dict:
    """``config.json`` of a directory written by :func:`save_network_directory`, after
    checking the family and that the weights file matches its recorded checksum."""
    config = _read_config(directory)
    if config["family"] != family:
        raise ModelError(f"{directory} holds a {config['family']!r} model, not {family!r}")
    weights = directory / WEIGHTS_FILE
    try:
        content = weights.read_bytes()
    except OSError as err:
        raise ModelError(f"{weights}: cannot read the weights ({err})") from None
    if hashlib.sha256(content).hexdigest() != config.get("weights_sha256"):
        raise ModelError(f"{weights}: checksum differs from config.json: the weights "
                         "file was modified or truncated")
    return config


def load_weights(network: torch.nn.Module, directory: Path) -> None:
    """Load ``weights.pt`` (tensors only: ``weights_only=True``) into ``network``, strictly."""
    state = torch.load(directory / WEIGHTS_FILE, weights_only=True, map_location="cpu")
    network.load_state_dict(state, strict=True)


def restore_fit_record(model: Any, config: dict, directory: Path) -> None:
    """After loading: evaluation mode, and the seed, metrics and loss history saved with
    the model (``history.json``; empty when absent)."""
    model.network.eval()
    model.seed = config.get("seed")
    model.metrics = config.get("metrics", {})
    history = directory / HISTORY_FILE
    model.history = json.loads(history.read_text()) if history.exists() else []
