"""Permutation feature importance of each condition column of a conditional model.

Shuffling one condition column across rows breaks its link with the targets while
keeping its distribution. How much the model gets worse measures how much it relies on
that column:

* ``log_likelihood``: drop of the held-out mean log-density (nats per object);
* ``pcc``: drop of the Pearson correlation between sampled and true target values.

Each of ``repeats`` rounds uses a fresh permutation; for PCC the round also draws with a
fresh sampling seed, and uses the same seed for the intact and the shuffled condition
(common random numbers: the drop then reflects the column, not sampling noise). Value =
mean drop over rounds, error = its standard error over rounds (the evaluation rows are
fixed; a column the model ignores gets exactly 0 +- 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..models.base import Table, column_matrix
from .distributions import Estimate, EvaluationError, pearson_r

SCORES = ("log_likelihood", "pcc")


def _mean_log_prob(model: Any, condition: pd.DataFrame, target: pd.DataFrame) -> float:
    lp = np.asarray(model.log_prob(condition, target), dtype=float)
    if np.isnan(lp).any():
        raise EvaluationError("the model returned NaN log-densities")
    return float(lp.mean())


def _pcc(model: Any, condition: pd.DataFrame, truth: np.ndarray, seed: int) -> np.ndarray:
    draw = np.asarray(model.sample(condition, 1, seed), dtype=float)[0]
    return np.array([pearson_r(draw[:, j], truth[:, j]) for j in range(truth.shape[1])])


def _estimate(drops: list[float]) -> Estimate:
    drops = np.asarray(drops, dtype=float)
    return Estimate(float(drops.mean()), float(drops.std(ddof=1) / np.sqrt(len(drops))))


def permutation_importance(model: Any, table: Table, *, columns: Sequence[str] | None = None,
                           repeats: int = 5, seed: int = 0, max_rows: int | None = 5000,
                           scores: Sequence[str] = SCORES) -> dict[str, Any]:
    """Drop in held-out log-likelihood and in PCC when each condition column is shuffled.

    Args:
        model: a fitted :class:`~galhalo.models.base.ConditionalModel` (or anything with
            ``condition``, ``target``, ``log_prob`` and ``sample``).
        table: held-out rows with the model's condition and target columns.
        columns: condition columns to shuffle (default: all of ``model.condition``).
        repeats: rounds per column (>= 2, for the error bar).
        seed: seed of the row subset, the permutations and the sampling.
        max_rows: use a random subset of at most this many rows (None: all).
        scores: any of ``"log_likelihood"``, ``"pcc"``.

    Returns:
        ``{"log_likelihood": {column: Estimate}, "pcc": {target: {column: Estimate}},
        "baseline": {"log_likelihood": float, "pcc": {target: float}}, "rows": int}``
        (only the requested scores). A larger drop means a more important column; the
        estimates have no floor (0 means "not used").
    """
    unknown = sorted(set(scores) - set(SCORES))
    if unknown or not scores:
        raise EvaluationError(f"unknown importance scores {unknown}; known: {list(SCORES)}")
    if isinstance(repeats, bool) or int(repeats) != repeats or repeats < 2:
        raise EvaluationError(f"repeats must be an integer >= 2, got {repeats}")
    columns = tuple(model.condition if columns is None else columns)
    strange = [c for c in columns if c not in model.condition]
    if strange or not columns:
        raise EvaluationError(f"columns {strange or '[]'} are not condition columns of the "
                              f"model ({', '.join(model.condition)})")
    x = column_matrix(table, tuple(model.condition), "condition")
    y = column_matrix(table, tuple(model.target), "target")
    if len(x) != len(y) or len(x) < 3:
        raise EvaluationError(f"need >= 3 rows with condition and target, got {len(x)}")
    rng = np.random.default_rng(seed)
    if max_rows is not None and len(x) > max_rows:
        rows = np.sort(rng.choice(len(x), max_rows, replace=False))
        x, y = x[rows], y[rows]
    condition = pd.DataFrame(x, columns=list(model.condition))
    target = pd.DataFrame(y, columns=list(model.target))
    sample_seeds = [int(s) for s in rng.integers(2**31, size=int(repeats))]

    out: dict[str, Any] = {"rows": len(x), "baseline": {}}
    if "log_likelihood" in scores:
        base = _mean_log_prob(model, condition, target)
        out["baseline"]["log_likelihood"] = base
        out["log_likelihood"] = {}
    if "pcc" in scores:
        base_pcc = [_pcc(model, condition, y, s) for s in sample_seeds]
        out["baseline"]["pcc"] = dict(zip(model.target, np.mean(base_pcc, axis=0).tolist(),
                                          strict=True))
        out["pcc"] = {name: {} for name in model.target}
    for column in columns:
        ll_drops, pcc_drops = [], []
        for r in range(int(repeats)):
            shuffled = condition.copy()
            shuffled[column] = rng.permutation(shuffled[column].to_numpy())
            if "log_likelihood" in scores:
                ll_drops.append(base - _mean_log_prob(model, shuffled, target))
            if "pcc" in scores:
                pcc_drops.append(base_pcc[r] - _pcc(model, shuffled, y, sample_seeds[r]))
        if "log_likelihood" in scores:
            out["log_likelihood"][column] = _estimate(ll_drops)
        if "pcc" in scores:
            drops = np.array(pcc_drops)
            for j, name in enumerate(model.target):
                out["pcc"][name][column] = _estimate(drops[:, j].tolist())
    return out
