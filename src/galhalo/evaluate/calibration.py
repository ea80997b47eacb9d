"""Calibration of a conditional density: probability integral transform (PIT), coverage of
central quantile regions, held-out negative log-likelihood.

The PIT of a true value y given its condition h is u = F(y | h), the model's conditional
CDF at y: for a perfectly specified model u is uniform on (0, 1). Without an exact CDF,
K model draws per row give the *randomised rank* u = (r + V (t + 1)) / (K + 1), with r
draws below y, t draws equal to y and V uniform on (0, 1); it is exactly uniform when y
and the draws are exchangeable (a calibrated model), for any K. A u-shaped histogram
means an overconfident (too narrow) model, a hump an underconfident one, a slope a bias.

The *marginal* PIT uses the pooled draws of all rows as one distribution: it checks the
1-D distribution of a column over a selection, not each conditional.

Coverage of the central p region is the fraction of rows with |u - 1/2| <= p / 2.

With K draws, PIT and coverage are exact for a calibrated model, but a mis-specified
model's are blurred on the scale 1/(K + 1): a true value beyond all K draws still lands
in the central 95% region half of the time when K = 20. Deviations are then
underestimated, never invented; use K >~ 50 to measure a 95% coverage deficit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..models.base import Table, column_matrix
from .distributions import Estimate, EvaluationError

#: Bins of the PIT histogram (and its flatness statistic).
PIT_BINS = 10
#: Central quantile regions whose coverage is reported.
LEVELS = (0.68, 0.95)


def _values(x: Any, name: str) -> np.ndarray:
    array = np.asarray(x, dtype=float)
    if array.ndim != 1 or len(array) == 0:
        raise EvaluationError(f"{name} must be a non-empty 1-D array, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise EvaluationError(f"{name}: {int((~np.isfinite(array)).sum())} values are NaN "
                              "or inf")
    return array


def _randomised(below: np.ndarray, equal: np.ndarray, total: int,
                rng: np.random.Generator) -> np.ndarray:
    return (below + rng.random(len(below)) * (equal + 1)) / (total + 1)


def sample_pit(draws: Any, values: Any, seed: int = 0) -> np.ndarray:
    """Conditional PIT from K model draws per row (randomised rank), shape (n,).

    Args:
        draws: (K, n): K draws of one column for each of n rows.
        values: (n,): the true values.
        seed: seed of the tie-breaking uniforms.
    """
    values = _values(values, "values")
    draws = np.asarray(draws, dtype=float)
    if draws.ndim != 2 or draws.shape[1] != len(values):
        raise EvaluationError(f"draws must have shape (K, {len(values)}), got {draws.shape}")
    if not np.isfinite(draws).all():
        raise EvaluationError("model draws hold NaN or inf")
    below = (draws < values).sum(axis=0)
    equal = (draws == values).sum(axis=0)
    return _randomised(below, equal, len(draws), np.random.default_rng(seed))


def marginal_pit(pooled: Any, values: Any, seed: int = 0) -> np.ndarray:
    """Marginal PIT: rank of each true value among all pooled model draws, shape (n,).

    Args:
        pooled: (m,): model draws of one column over the selection (all rows, all draws).
        values: (n,): the true values of the same rows.
    """
    values = _values(values, "values")
    pooled = np.sort(_values(pooled, "pooled draws"))
    below = np.searchsorted(pooled, values, side="left")
    equal = np.searchsorted(pooled, values, side="right") - below
    return _randomised(below, equal, len(pooled), np.random.default_rng(seed))


def model_pit(model: Any, condition_table: Table, target_table: Table, *,
              draws: np.ndarray | None = None, n_samples: int = 20,
              seed: int = 0) -> dict[str, np.ndarray]:
    """Conditional PIT of every target column of ``model`` on these rows.

    Uses the model's exact CDF where it has one (a ``cdf(condition_table, values,
    column)`` method, as the truth model has); otherwise the randomised rank among
    ``draws`` (shape (K, rows, targets), e.g. already drawn for other metrics) or among
    ``n_samples`` fresh draws.

    Returns:
        ``{target column: PIT values (rows,)}``.
    """
    truth = column_matrix(target_table, model.target, "target")
    cdf = getattr(model, "cdf", None)
    if callable(cdf):
        return {name: np.asarray(cdf(condition_table, truth[:, j], name), dtype=float)
                for j, name in enumerate(model.target)}
    if draws is None:
        draws = model.sample(condition_table, n_samples, seed)
    draws = np.asarray(draws, dtype=float)
    if draws.shape[1:] != truth.shape:
        raise EvaluationError(f"draws have shape {draws.shape}; expected (K, {len(truth)}, "
                              f"{truth.shape[1]})")
    seeds = np.random.SeedSequence(seed).spawn(len(model.target))
    return {name: sample_pit(draws[:, :, j], truth[:, j], seeds[j])
            for j, name in enumerate(model.target)}


def pit_histogram(pit: Any, bins: int = PIT_BINS) -> dict[str, Any]:
    """Histogram of PIT values on ``bins`` equal bins of [0, 1], JSON-ready.

    Returns:
        ``{"edges": (bins + 1,), "counts": (bins,), "expected": n / bins,
        "expected_sd": sqrt(n (1/bins)(1 - 1/bins))}``: a flat histogram has every count
        within a few ``expected_sd`` of ``expected``.
    """
    pit = _pit(pit)
    counts = np.histogram(pit, bins=bins, range=(0.0, 1.0))[0]
    p = 1.0 / bins
    return {"edges": np.linspace(0.0, 1.0, bins + 1).tolist(), "counts": counts.tolist(),
            "expected": len(pit) * p, "expected_sd": math.sqrt(len(pit) * p * (1 - p))}


def _pit(pit: Any) -> np.ndarray:
    pit = _values(pit, "PIT values")
    if pit.min() < 0 or pit.max() > 1:
        raise EvaluationError("PIT values must lie in [0, 1]")
    return pit


def pit_flatness(pit: Any, bins: int = PIT_BINS) -> Estimate:
    """Flatness of the PIT histogram: Pearson chi^2 against uniform, per degree of freedom.

    X^2 = sum (O_i - n/B)^2 / (n/B) over B bins; for a calibrated model X^2 / (B - 1) has
    expectation 1 and standard deviation sqrt(2 / (B - 1)) (0.47 for 10 bins).

    Returns:
        :class:`Estimate` with value = X^2 / (B - 1); error = the statistic's standard
        deviation sqrt(2 (k + 2 lambda)) / k (non-central chi^2 with k = B - 1 and
        lambda estimated as max(X^2 - k, 0)); floor = 1, floor_error = 0.
    """
    pit = _pit(pit)
    if bins < 2:
        raise EvaluationError(f"bins must be >= 2, got {bins}")
    counts = np.histogram(pit, bins=bins, range=(0.0, 1.0))[0]
    expected = len(pit) / bins
    chi2 = float(((counts - expected) ** 2).sum() / expected)
    k = bins - 1
    excess = max(chi2 - k, 0.0)
    return Estimate(chi2 / k, math.sqrt(2 * (k + 2 * excess)) / k, 1.0, 0.0)


def coverage(pit: Any, level: float) -> Estimate:
    """Fraction of true values inside the model's central ``level`` quantile region.

    Returns:
        :class:`Estimate` with value = fraction of rows with |u - 1/2| <= level / 2,
        error = binomial standard error, floor = ``level`` (a calibrated model), 0 error.
    """
    pit = _pit(pit)
    if not 0 < level < 1:
        raise EvaluationError(f"coverage level must be in (0, 1), got {level}")
    inside = int((np.abs(pit - 0.5) <= level / 2).sum())
    n = len(pit)
    smoothed = (inside + 0.5) / (n + 1)  # keeps the error > 0 at 0 % or 100 %
    return Estimate(inside / n, math.sqrt(smoothed * (1 - smoothed) / n), level, 0.0)


def _log_prob(log_prob: Any, name: str) -> np.ndarray:
    array = np.asarray(log_prob, dtype=float)
    if array.ndim != 1 or len(array) < 2:
        raise EvaluationError(f"{name} must be 1-D with >= 2 rows, got shape {array.shape}")
    if np.isnan(array).any() or (array == np.inf).any():
        raise EvaluationError(f"{name}: {int((np.isnan(array) | (array == np.inf)).sum())} "
                              "values are NaN or +inf (a broken model?)")
    return array


def nll(log_prob: Any, reference: Any = None) -> Estimate:
    """Mean negative log-likelihood (nats per object) with its standard error.

    Args:
        log_prob: per-row log-density (rows,), e.g. ``model.log_prob`` on held-out rows;
            ``-inf`` (a true value off the model's support) makes the NLL infinite and is
            counted in ``note``.
        reference: the truth's log-density on the same rows, if known: its NLL is the
            floor (the lowest expected NLL any model can reach).
    """
    lp = _log_prob(log_prob, "log_prob")
    off = int(np.isinf(lp).sum())
    if off:
        value, error, note = math.inf, None, f"{off} of {len(lp)} rows off the model's support"
    else:
        value, error, note = -float(lp.mean()), float(lp.std(ddof=1) / math.sqrt(len(lp))), ""
    floor = floor_error = None
    if reference is not None:
        ref = _log_prob(reference, "reference log_prob")
        if len(ref) != len(lp):
            raise EvaluationError(f"log_prob has {len(lp)} rows, reference {len(ref)}")
        if np.isfinite(ref).all():
            floor = -float(ref.mean())
            floor_error = float(ref.std(ddof=1) / math.sqrt(len(ref)))
    return Estimate(value, error, floor, floor_error, note)


def nll_difference(log_prob: Any, reference: Any) -> Estimate:
    """Mean (reference - model) log-density per object: the model's NLL minus the truth's.

    For a reference that is the true density this estimates KL(truth || model) >= 0,
    in nats per object; the error is the standard error of the paired differences.
    floor = 0 (the truth itself), floor_error = 0.
    """
    lp = _log_prob(log_prob, "log_prob")
    ref = _log_prob(reference, "reference log_prob")
    if len(ref) != len(lp):
        raise EvaluationError(f"log_prob has {len(lp)} rows, reference {len(ref)}")
    if not np.isfinite(ref).all():
        raise EvaluationError("the reference log-density is -inf on some rows: not the truth "
                              "of these data")
    off = int(np.isinf(lp).sum())
    if off:
        return Estimate(math.inf, None, 0.0, 0.0,
                        f"{off} of {len(lp)} rows off the model's support")
    diff = ref - lp
    return Estimate(float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(len(diff))), 0.0, 0.0)


def calibration_summary(pit: Mapping[str, np.ndarray], *, bins: int = PIT_BINS,
                        levels: tuple[float, ...] = LEVELS) -> dict[str, dict[str, Estimate]]:
    """Flatness and coverage for every column: ``{"pit": {col: Estimate},
    "coverage68": {col: Estimate}, ...}`` (coverage keys from ``levels`` in percent)."""
    out: dict[str, dict[str, Estimate]] = {"pit": {}}
    for level in levels:
        out[f"coverage{round(100 * level)}"] = {}
    for name, values in pit.items():
        out["pit"][name] = pit_flatness(values, bins)
        for level in levels:
            out[f"coverage{round(100 * level)}"][name] = coverage(values, level)
    return out
