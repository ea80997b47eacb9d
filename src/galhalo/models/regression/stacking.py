"""The regressors by name, a target's fitted regressors, and their linear stacking over
out-of-fold predictions (de Santi et al. 2022)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ...errors import ModelError
from ..interface import MINIMUM_TRAIN_ROWS
from .boosted_trees import LightGBMRegressor
from .extra_trees import ExtraTreesRegressor
from .knn import KNNRegressor
from .mlp import MLPRegressor
from .regressor import Regressor, member_seed

#: The regressors a model can combine, by name.
REGRESSORS = ("knn", "extra_trees", "lightgbm", "mlp")
KINDS: dict[str, type[Regressor]] = {
    cls.kind: cls for cls in (KNNRegressor, ExtraTreesRegressor, LightGBMRegressor, MLPRegressor)}
STACK_DEFAULTS: dict[str, Any] = {"members": REGRESSORS, "folds": 5}


class TargetFit:
    """The regressors of one target and, when stacked, their linear combination
    ``weights[0] + sum_i weights[i + 1] * prediction_i`` (else the single regressor)."""

    def __init__(self, members: dict[str, Regressor], weights: np.ndarray | None):
        self.members, self.weights = members, weights

    def member_predictions(self, x: np.ndarray) -> np.ndarray:
        """Scaled predictions of every member, (rows, members)."""
        return np.column_stack([member.predict(x) for member in self.members.values()])

    def predict(self, x: np.ndarray) -> np.ndarray:
        predictions = self.member_predictions(x)
        if self.weights is None:
            return predictions[:, 0]
        return self.weights[0] + predictions @ self.weights[1:]


def fit_stack(x: np.ndarray, z: np.ndarray, kinds: tuple[str, ...], hyper: Mapping[str, Any],
              seed: int, key: int) -> np.ndarray:
    """Linear stacking weights (intercept first, (1 + len(kinds),)) of the regressors
    ``kinds`` on one target: each is fitted on K - 1 folds (K = ``folds``, a seeded
    random partition of the rows) and predicts the remaining one; the out-of-fold
    predictions (rows, len(kinds)) are regressed on ``z`` by least squares. ``key``
    (the target's index) and ``seed`` give every fit its own seed."""
    folds = int(hyper["folds"])
    if len(x) < 2 * folds:
        raise ModelError(f"{len(x)} training rows are too few for {folds}-fold stacking")
    parts = np.array_split(np.random.default_rng(member_seed(seed, key, 2)).permutation(len(x)),
                           folds)
    out_of_fold = np.empty((len(x), len(kinds)))
    for fold, held_out in enumerate(parts, start=1):
        rows = np.ones(len(x), dtype=bool)
        rows[held_out] = False
        for i, kind in enumerate(kinds):
            regressor = KINDS[kind].fit(x[rows], z[rows], hyper,
                                        member_seed(seed, key, 1, REGRESSORS.index(kind), fold),
                                        progress=False)
            out_of_fold[held_out, i] = regressor.predict(x[held_out])
    design = np.column_stack([np.ones(len(x)), out_of_fold])
    weights, *_ = np.linalg.lstsq(design, z, rcond=None)
    return weights



def stack_minimum_rows(kinds: tuple[str, ...], hyper: Mapping[str, Any]) -> int:
    """Fewest rows :func:`fit_stack` and the final fits accept: at least two per fold,
    and every fold's complement (the rows each member is fitted on) as many as the
    members need."""
    folds = int(hyper["folds"])
    member = max(KINDS[kind].minimum_rows(hyper) for kind in kinds)
    rows = max(2 * folds, member, MINIMUM_TRAIN_ROWS)
    while rows - math.ceil(rows / folds) < member:
        rows += 1
    return rows


def parse_members(members: Any) -> tuple[str, ...]:
    """Regressor names ("knn,lightgbm" or a sequence) -> tuple, each known, no repeats."""
    names = tuple(m.strip() for m in members.split(",")) if isinstance(members, str) \
        else tuple(members)
    unknown = [name for name in names if name not in REGRESSORS]
    if unknown or not names:
        raise ModelError(f"unknown regressor {unknown[0] if unknown else '(none given)'!r}; "
                         f"known: {', '.join(REGRESSORS)}")
    if len(set(names)) != len(names):
        raise ModelError(f"regressors repeated in members: {', '.join(names)}")
    return names

