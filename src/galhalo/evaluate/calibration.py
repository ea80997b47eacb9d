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

How many draws. With K draws, PIT and coverage are exact for a calibrated model, but a
mis-specified model's are blurred on the scale 1/(K + 1): a true value beyond all K
draws has u in [K / (K + 1), 1] and still counts as inside the central 95% region with
probability (0.975 (K + 1) - K), 72.5% for K = 10. :func:`model_pit` therefore uses the
model's exact CDF where it has one (a ``cdf(condition_table, values, column)`` method:
the truth model; NNgauss' 1-D marginals are Gaussian), and otherwise
:func:`pit_draws` draws: K = TAIL_DRAWS / ((1 - 0.95) / 2) = 800, so that the narrowest
reported tail (2.5% each side of the 95% region) holds about 20 draws per row and a
value beyond the model's 2.5% quantile is counted outside (the quantile's rank
uncertainty, sqrt(K 0.025 0.975) = 4.4 draws, is a fifth of the tail). The method used
is recorded (:func:`pit_method`) and printed in the ``note`` of every PIT and coverage
entry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from ..models.base import Table, column_matrix
from .distributions import Estimate, EvaluationError

#: Bins of the PIT histogram (and its flatness statistic).
PIT_BINS = 10
#: Central quantile regions whose coverage is reported.
LEVELS = (0.68, 0.95)
#: Expected model draws per row beyond each end of the narrowest reported region.
TAIL_DRAWS = 20
#: The ``pit_method`` of a model with an exact conditional CDF.
EXACT_CDF = "exact CDF"
_CHUNK_VALUES = 4_000_000  # most draws (rows x draws x targets) held at once


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


def pit_draws(levels: tuple[float, ...] = LEVELS, tail_draws: int = TAIL_DRAWS) -> int:
    """Model draws per row for the PIT of a model without an exact CDF: enough that the
    narrowest tail of the reported central regions, ``(1 - max(levels)) / 2``, holds
    ``tail_draws`` draws on average: 800 for 95% and 20 draws."""
    tail = (1.0 - max(levels)) / 2.0
    return math.ceil(tail_draws / tail - 1e-9)


def _exact_cdf(model: Any) -> Any:
    cdf = getattr(model, "cdf", None)
    return cdf if callable(cdf) else None


def pit_method(model: Any, n_samples: int | None = None) -> str:
    """How :func:`model_pit` computes this model's PIT: ``"exact CDF"`` (it has a
    ``cdf`` method) or ``"randomised rank among K draws"`` (K = ``n_samples`` or
    :func:`pit_draws`). :func:`conditional_pit` reports the method actually used."""
    if _exact_cdf(model) is not None:
        return EXACT_CDF
    return f"randomised rank among {n_samples or pit_draws()} draws"


def model_pit(model: Any, condition_table: Table, target_table: Table, *,
              draws: np.ndarray | None = None, n_samples: int | None = None,
              seed: int = 0) -> dict[str, np.ndarray]:
    """Conditional PIT of every target column of ``model`` on these rows.

    Uses the model's exact CDF where it has one (a ``cdf(condition_table, values,
    column)`` method, as the truth model has; a ``cdf`` that raises
    ``NotImplementedError`` counts as none); otherwise the randomised rank among
    ``draws`` (shape (K, rows, targets), drawn by the caller) or among ``n_samples``
    fresh draws per row (default :func:`pit_draws`, 800), drawn in chunks so that
    memory stays bounded. :func:`conditional_pit` also says which method was used.

    Returns:
        ``{target column: PIT values (rows,)}``.
    """
    return conditional_pit(model, condition_table, target_table, draws=draws,
                           n_samples=n_samples, seed=seed)[0]


def conditional_pit(model: Any, condition_table: Table, target_table: Table, *,
                    draws: np.ndarray | None = None, n_samples: int | None = None,
                    seed: int = 0) -> tuple[dict[str, np.ndarray], str]:
    """:func:`model_pit` and the method it used (:func:`pit_method`'s wording)."""
    truth = column_matrix(target_table, model.target, "target")
    cdf = _exact_cdf(model)
    if cdf is not None:
        try:
            return {name: np.asarray(cdf(condition_table, truth[:, j], name), dtype=float)
                    for j, name in enumerate(model.target)}, EXACT_CDF
        except NotImplementedError:
            pass
    seeds = np.random.SeedSequence(seed).spawn(len(model.target) + 1)
    if draws is not None:
        below, equal, total = _rank_counts(np.asarray(draws, dtype=float), truth)
    else:
        total = pit_draws() if n_samples is None else n_samples
        if isinstance(total, bool) or int(total) != total or total < 1:
            raise EvaluationError(f"n_samples must be a positive integer, got {n_samples!r}")
        total = int(total)
        chunk = max(1, min(total, _CHUNK_VALUES // max(1, truth.size)))
        below = np.zeros(truth.shape, dtype=np.int64)
        equal = np.zeros(truth.shape, dtype=np.int64)
        starts = range(0, total, chunk)
        states = seeds[-1].generate_state(len(starts))
        for start, state in zip(starts, states, strict=True):
            part = model.sample(condition_table, min(chunk, total - start), int(state))
            counted = _rank_counts(np.asarray(part, dtype=float), truth)
            below += counted[0]
            equal += counted[1]
    pit = {name: _randomised(below[:, j], equal[:, j], total,
                             np.random.default_rng(seeds[j]))
           for j, name in enumerate(model.target)}
    return pit, f"randomised rank among {total} draws"


def _rank_counts(draws: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Draws below and equal to each true value, (rows, targets) each, and K."""
    if draws.ndim != 3 or draws.shape[1:] != truth.shape:
        raise EvaluationError(f"draws have shape {draws.shape}; expected (K, {len(truth)}, "
                              f"{truth.shape[1]})")
    if not np.isfinite(draws).all():
        raise EvaluationError("model draws hold NaN or inf")
    return (draws < truth).sum(axis=0), (draws == truth).sum(axis=0), len(draws)


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
                        levels: tuple[float, ...] = LEVELS,
                        method: str = "") -> dict[str, dict[str, Estimate]]:
    """Flatness and coverage for every column: ``{"pit": {col: Estimate},
    "coverage68": {col: Estimate}, ...}`` (coverage keys from ``levels`` in percent).

    ``method`` (:func:`pit_method`), if given, becomes every entry's ``note``.
    """
    out: dict[str, dict[str, Estimate]] = {"pit": {}}
    for level in levels:
        out[f"coverage{round(100 * level)}"] = {}
    for name, values in pit.items():
        out["pit"][name] = replace(pit_flatness(values, bins), note=method)
        for level in levels:
            out[f"coverage{round(100 * level)}"][name] = replace(coverage(values, level),
                                                                  note=method)
    return out
