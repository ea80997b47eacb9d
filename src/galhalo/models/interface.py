"""The conditional-density interface every model family implements, and its input checks.

A model learns p(target | condition) where condition and target are any disjoint lists
of catalog columns: halo -> galaxy (the usual direction) and galaxy -> halo are the
same code path. Every family offers

* ``fit(catalog, condition, target, valid=0.2, seed=0)``;
* ``log_prob(condition_table, target_table)``: per-row log-density **in the targets'
  physical units** (comparable across families and with the truth model);
* ``sample(condition_table, n_per_row, seed)``: array (n_per_row, rows, targets);
* ``predict(condition_table)``: a point estimate per row, (rows, targets);
* ``save(directory)`` / ``load(directory)``: ``config.json`` + tensors, never pickles
  (``models/store.py``).

``model(condition_table)`` returns a :class:`Conditioned` object with ``sample`` and
``log_prob``, in the spirit of zuko's ``flow(context)``.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..catalog import Catalog
from ..catalog.schema import parse_column_list
from ..errors import ModelError

Table = pd.DataFrame | Catalog | Mapping[str, Any]


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


# ----------------------------------------------------------------------------- row counts
#: Fewest validation rows a fit accepts: their mean NLL drives early stopping and the
#: reported ``valid_nll``; fewer makes both a coin toss.
MINIMUM_VALID_ROWS = 5
#: Fewest training rows a fit accepts: the scalers standardise every column with the
#: training rows' mean and standard deviation, and a model of a few points is no fit.
MINIMUM_TRAIN_ROWS = 10


def validation_size(rows: int, valid: float) -> int:
    """Rows a seeded split of ``rows`` rows holds out for a ``valid`` fraction."""
    return max(1, round(valid * rows))


def check_valid_fraction(valid: float) -> float:
    if isinstance(valid, bool) or not isinstance(valid, numbers.Real) or not 0 < valid < 1:
        raise ModelError(f"valid must be a fraction in (0, 1) or a Catalog, got {valid!r}")
    return float(valid)


def rows_needed(valid: float, train_rows: int, valid_rows: int) -> int:
    """Fewest rows whose seeded split (:func:`split_rows`) leaves at least
    ``train_rows`` training and ``valid_rows`` validation rows."""
    valid = check_valid_fraction(valid)
    rows = max(train_rows + valid_rows, math.ceil((valid_rows - 0.5) / valid),
               math.ceil((train_rows - 0.5) / (1 - valid)))
    while (validation_size(rows, valid) < valid_rows
           or rows - validation_size(rows, valid) < train_rows):
        rows += 1
    return rows


def split_rows(rows: int, valid: float, seed: int, train_rows: int = MINIMUM_TRAIN_ROWS,
               valid_rows: int = MINIMUM_VALID_ROWS, what: str = "this model"
               ) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of ``rows`` rows into (training indices, validation indices), the
    validation part :func:`validation_size` rows.

    Raises:
        ModelError: ``valid`` is not a fraction, or the split would leave fewer than
            ``train_rows`` training or ``valid_rows`` validation rows (the message names
            the row count and the minimum).
    """
    needed = rows_needed(valid, train_rows, valid_rows)
    if rows < needed:
        raise ModelError(f"{rows} rows are too few to fit {what}: it needs at least {needed} "
                         f"({train_rows} to train and {valid_rows} to validate with "
                         f"valid={valid})")
    order = np.random.default_rng(seed).permutation(rows)
    n_valid = validation_size(rows, valid)
    return order[n_valid:], order[:n_valid]


# ----------------------------------------------------------------------------- interface
class ConditionalModel(ABC):
    """A learned conditional density p(target | condition) over named catalog columns."""

    family: ClassVar[str]
    #: Hyperparameters and their defaults; the constructor accepts exactly these.
    defaults: ClassVar[dict[str, Any]] = {}
    #: What the target columns hold: ``"continuous"`` (galaxy or halo properties) or
    #: ``"count"`` (one column of integers >= 0, e.g. ``N_sat``: exact discrete
    #: ``log_prob``, integer samples).
    target_kind: ClassVar[str] = "continuous"

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

    def row_minimums(self, n_target: int = 1) -> tuple[int, int]:
        """(fewest training rows, fewest validation rows) a fit of ``n_target`` targets
        accepts; families with more needs (kNN's neighbours, folds) raise them."""
        return MINIMUM_TRAIN_ROWS, MINIMUM_VALID_ROWS

    def minimum_rows(self, valid: float = 0.2, n_target: int = 1) -> int:
        """Fewest catalog rows ``fit`` accepts with a ``valid`` fraction held out."""
        return rows_needed(valid, *self.row_minimums(n_target))

    def check_row_counts(self, train_rows: int, valid_rows: int) -> None:
        """Refuse a given training / validation table too small to fit (ModelError
        naming the count and the minimum)."""
        need_train, need_valid = self.row_minimums(len(self.target))
        if train_rows < need_train:
            raise ModelError(f"the training table has {train_rows} rows; a {self.family} "
                             f"model needs at least {need_train}")
        if valid_rows < need_valid:
            raise ModelError(f"the validation table has {valid_rows} rows; a {self.family} "
                             f"model needs at least {need_valid}")

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
