"""The truth model of a synthetic universe behind the conditional-model interface, and
the check that turns anything else into a model to evaluate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..catalog import Catalog
from ..catalog.hosts import central_values
from ..catalog.schema import GALAXY, HALO, HOST_ID, IS_CENTRAL
from ..models.base import Table, column_matrix, table_of
from ..sim.satellite_truth import SATELLITE_CONDITION
from ..sim.truth import TruthModel
from .distributions import EvaluationError

__all__ = ["COUNT_TARGET", "CountTruth", "TruthConditional", "as_model", "catalog_truth",
           "truth_conditional"]

#: The count target the truth's satellite count law describes.
COUNT_TARGET = ("N_sat",)


class TruthConditional:
    """The truth model of a synthetic universe behind the model interface.

    p(target | halo) for any subset ``target`` of the galaxy columns (others marginalised
    exactly); condition columns are the five halo columns. Offers ``sample``,
    ``log_prob``, ``cdf`` (exact conditional CDF, for the PIT) and ``predict``.

    A table with satellites (``is_central`` false rows) is scored row by row with the
    satellite density, which also reads the sub-halo columns and ``sSFR_central``
    (taken from the centrals' ``sSFR`` when the table has hosts and no such column);
    when they are missing the truth model raises instead of scoring satellites as
    centrals.
    """

    family = "truth"

    def __init__(self, truth: TruthModel, target: Sequence[str] = GALAXY):
        unknown = [name for name in target if name not in GALAXY]
        if unknown or not target:
            raise EvaluationError(f"the truth model describes {', '.join(GALAXY)}; cannot "
                                  f"model {list(target)}")
        self.truth = truth
        self.condition: tuple[str, ...] = HALO
        self.target: tuple[str, ...] = tuple(target)
        self._index = [GALAXY.index(name) for name in self.target]

    def __repr__(self) -> str:
        return f"TruthConditional({', '.join(self.condition)} -> {', '.join(self.target)})"

    def _halos(self, condition_table: Table) -> dict[str, np.ndarray]:
        x = column_matrix(condition_table, self.condition, "condition")
        halos = dict(zip(self.condition, x.T, strict=True))
        table = table_of(condition_table)
        if IS_CENTRAL.name not in table:
            return halos
        halos[IS_CENTRAL.name] = np.asarray(table[IS_CENTRAL.name]).astype(bool)
        for name in SATELLITE_CONDITION:
            if name in table and name not in halos:
                halos[name] = np.asarray(table[name], dtype=float)
        if ("sSFR_central" not in halos and "sSFR" in table and HOST_ID.name in table
                and isinstance(table, pd.DataFrame)):
            halos["sSFR_central"] = central_values(table, "sSFR").astype(float)
        return halos

    def sample(self, condition_table: Table, n_per_row: int = 1,
               seed: int | np.random.Generator = 0) -> np.ndarray:
        """Draws (n_per_row, rows, targets) in physical units."""
        return self.truth.sample(self._halos(condition_table), n_per_row, seed)[..., self._index]

    def log_prob(self, condition_table: Table, target_table: Table) -> np.ndarray:
        """Exact log-density (rows,) of the target columns given the halos."""
        halos = self._halos(condition_table)
        y = column_matrix(target_table, self.target, "target")
        if len(y) != len(halos["M_h"]):
            raise EvaluationError(f"condition has {len(halos['M_h'])} rows but target {len(y)}")
        return self.truth.log_prob(halos, dict(zip(self.target, y.T, strict=True)), self.target)

    def cdf(self, condition_table: Table, values: np.ndarray, column: str) -> np.ndarray:
        """Exact conditional CDF P(column <= value | halo), shape (rows,)."""
        return self.truth.cdf(self._halos(condition_table), values, column)

    def predict(self, condition_table: Table, samples: int = 200, seed: int = 0) -> np.ndarray:
        """Mean of ``samples`` draws per row, (rows, targets)."""
        return self.sample(condition_table, samples, seed).mean(axis=0)


class CountTruth:
    """The exact count law of a universe with satellites, p(N_sat | host), behind the
    model interface, so count models (``occupation``, ``hod``) are scored against it like
    galaxy models against :class:`TruthConditional`. Condition: the host columns the law
    reads (``SatelliteModel.count_condition``: ``M_h, C_h``, or ``M_h`` alone when the
    universe has no occupation assembly bias); target: ``N_sat``. No ``cdf``: the PIT of
    a discrete target is taken from draws (randomised ranks)."""

    family = "truth"
    target: tuple[str, ...] = COUNT_TARGET

    def __init__(self, truth: TruthModel):
        self.truth = truth
        self.law = truth.satellite_model
        self.condition: tuple[str, ...] = self.law.count_condition

    def __repr__(self) -> str:
        return f"CountTruth({', '.join(self.condition)} -> N_sat)"

    def _halos(self, condition_table: Table) -> dict[str, np.ndarray]:
        x = column_matrix(condition_table, self.condition, "condition")
        return dict(zip(self.condition, x.T, strict=True))

    def sample(self, condition_table: Table, n_per_row: int = 1,
               seed: int | np.random.Generator = 0) -> np.ndarray:
        """Draws (n_per_row, rows, 1) of N_sat (integers, as floats)."""
        draws = self.law.satellite_count_sample(self._halos(condition_table), n_per_row, seed)
        return draws[..., None].astype(float)

    def log_prob(self, condition_table: Table, target_table: Table) -> np.ndarray:
        """Exact log P(N_sat | host), shape (rows,)."""
        counts = column_matrix(target_table, self.target, "target")[:, 0]
        return self.law.satellite_count_log_prob(self._halos(condition_table), counts)

    def predict(self, condition_table: Table, samples: int = 200, seed: int = 0) -> np.ndarray:
        """The exact mean E[N_sat | host], (rows, 1)."""
        return self.law.satellite_count_mean(self._halos(condition_table))[:, None]


def truth_conditional(truth: TruthModel, target: Sequence[str]) -> Any:
    """The truth behind the model interface for ``target``: the count law for
    ``N_sat``, else the galaxy density (:class:`TruthConditional`)."""
    if tuple(target) == COUNT_TARGET:
        return CountTruth(truth)
    return TruthConditional(truth, target)


def as_model(model: Any) -> Any:
    """A :class:`TruthModel` becomes a :class:`TruthConditional`; models pass through."""
    if isinstance(model, TruthModel):
        return TruthConditional(model)
    for attribute in ("condition", "target", "sample", "log_prob"):
        if not hasattr(model, attribute):
            raise EvaluationError(f"{type(model).__name__} is not a conditional model (no "
                                  f"{attribute!r})")
    if not model.target:
        raise EvaluationError(f"{model!r} is not fitted")
    return model


def catalog_truth(catalog: Catalog | pd.DataFrame, target: Sequence[str]) -> TruthModel | None:
    """The truth model of a synthetic catalog, if it has one and it covers ``target``."""
    meta_truth = catalog.meta.truth if isinstance(catalog, Catalog) else None
    if meta_truth is None:
        return None
    table = table_of(catalog)
    if any(h not in table for h in HALO):
        return None
    if tuple(target) == COUNT_TARGET:
        return TruthModel.from_dict(meta_truth) if meta_truth.get("satellites") else None
    if any(name not in GALAXY for name in target):
        return None
    return TruthModel.from_dict(meta_truth)
