"""Distances between a model's samples and a reference sample, with error bars and a
noise floor. Pure functions of arrays.

Two-sample statistics (``a`` = model draws, ``b`` = reference, e.g. the catalog's true
galaxies; rows are objects, columns are target dimensions):

* :func:`ks_1d`: Kolmogorov–Smirnov statistic sup |F_a - F_b| of one column (scipy);
* :func:`wasserstein_1d`: Wasserstein-1 distance of one column, in the column's unit;
* :func:`ks_2d`: Fasano–Franceschini 2-D KS statistic of two columns;
* :func:`energy_distance`: energy distance in any number of columns (2 for a target
  pair, all targets for the joint test), on columns divided by ``scale``;
* :func:`classifier_two_sample`: held-out ROC AUC of a classifier trained to tell ``a``
  from ``b`` (0.5 = indistinguishable), with its standard error;
* :func:`pearson_r`: Pearson correlation of paired values (the published "PCC": a
  sampled galaxy property against the true one of the same halo).

:class:`Estimate` carries a value, its standard error and the *noise floor*: the value
the same statistic takes for a perfect model. :func:`repeated_estimate` obtains all four
numbers by repeated sampling: the statistic of each of R model draws against the
reference (value = mean, error = standard error of the mean), and of R independent
draws of the truth against the same reference (the floor), or, without a truth, of
split halves of the reference rescaled to the full sample size.

The costlier statistics (:func:`ks_2d`, O(n log^2 n); :func:`energy_distance`,
O(n^2)) subsample each input to ``max_points`` rows above that size (seeded; the same
rows of ``a`` and ``b`` when they have equal length, i.e. are paired by halo). Their
value, and its noise floor, then refer to samples of ``max_points`` rows: a floor
computed the same way keeps the comparison fair.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial.distance import cdist

from ..errors import EvaluationError

#: Default subsample cap of the O(n^2) energy distance (rows per sample).
MAX_POINTS = 1000
#: Default subsample cap of the 2-D KS statistic (O(n log^2 n)).
KS2D_POINTS = 2000
#: Rows per class used to train the two-sample classifier (a cap; the rest is held out).
MAX_TRAIN_ROWS = 5000
_BLOCK = 2_000_000  # pairwise entries computed at once (memory ~16 MB)



# ----------------------------------------------------------------------------- estimates
@dataclass(frozen=True)
class Estimate:
    """A statistic with its standard error and the value a perfect model would get.

    Attributes:
        value: the statistic (for repeated draws: their mean).
        error: standard error of ``value`` (None when it cannot be estimated).
        floor: the noise floor: expected value of the statistic for a perfect model
            (two independent truth draws, split halves of the reference, or analytic).
            None when unknown. For PCC it is a ceiling: the truth's own correlation.
        floor_error: standard error of ``floor`` (0 for an analytic floor).
        note: anything a reader must know (e.g. rows off the model's support).
    """

    value: float
    error: float | None = None
    floor: float | None = None
    floor_error: float | None = None
    note: str = ""

    @property
    def z(self) -> float | None:
        """(value - floor) / combined standard error: |z| >~ 3 is a real difference."""
        if self.floor is None or self.error is None or not math.isfinite(self.value):
            return None
        spread = math.hypot(self.error, self.floor_error or 0.0)
        return (self.value - self.floor) / spread if spread > 0 else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``value, error, floor, floor_error, z`` (non-finite -> None)."""
        out = {"value": _finite(self.value), "error": _finite(self.error),
               "floor": _finite(self.floor), "floor_error": _finite(self.floor_error),
               "z": _finite(self.z)}
        if self.note:
            out["note"] = self.note
        return out


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


# ----------------------------------------------------------------------------- input checks
def as_sample(x: Any, name: str = "sample", min_rows: int = 2) -> np.ndarray:
    """``x`` as a finite float64 array (rows, dims); 1-D input becomes one column."""
    try:
        array = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise EvaluationError(f"{name} is not numeric") from None
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise EvaluationError(f"{name} must be 1-D or 2-D (rows, dims), got shape {array.shape}")
    if len(array) < min_rows:
        raise EvaluationError(f"{name} has {len(array)} rows; at least {min_rows} are needed")
    bad = ~np.isfinite(array).all(axis=1)
    if bad.any():
        raise EvaluationError(f"{name}: {bad.sum()} of {len(array)} rows hold NaN or inf "
                              f"(first at row {int(np.flatnonzero(bad)[0])})")
    return array


def _pair(a: Any, b: Any, dims: int | None = None, paired: bool = False,
          min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    a, b = as_sample(a, "first sample", min_rows), as_sample(b, "second sample", min_rows)
    if a.shape[1] != b.shape[1]:
        raise EvaluationError(f"samples have different dimensions: {a.shape[1]} and "
                              f"{b.shape[1]} columns")
    if dims is not None and a.shape[1] != dims:
        raise EvaluationError(f"expected {dims} column(s) per sample, got {a.shape[1]}")
    if paired and len(a) != len(b):
        raise EvaluationError(f"paired samples need equal lengths, got {len(a)} and {len(b)}")
    return a, b


def subsample(a: np.ndarray, b: np.ndarray, max_points: int | None,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` rows of each sample, drawn without replacement (seeded).

    Equal-length samples keep the same rows (pairs stay paired).
    """
    if max_points is None or (len(a) <= max_points and len(b) <= max_points):
        return a, b
    if max_points < 2:
        raise EvaluationError(f"max_points must be >= 2, got {max_points}")
    rng = np.random.default_rng(seed)
    if len(a) == len(b):
        rows = np.sort(rng.choice(len(a), max_points, replace=False))
        return a[rows], b[rows]
    pick = [np.sort(rng.choice(len(x), max_points, replace=False)) if len(x) > max_points
            else slice(None) for x in (a, b)]
    return a[pick[0]], b[pick[1]]


# ----------------------------------------------------------------------------- statistics
def ks_1d(a: Any, b: Any) -> float:
    """Two-sample Kolmogorov–Smirnov statistic max |F_a - F_b| of 1-D samples (in [0, 1])."""
    a, b = _pair(a, b, dims=1)
    return float(stats.ks_2samp(a[:, 0], b[:, 0], method="asymp").statistic)


def wasserstein_1d(a: Any, b: Any) -> float:
    """Wasserstein-1 (earth mover's) distance of 1-D samples, in the values' unit."""
    a, b = _pair(a, b, dims=1)
    return float(stats.wasserstein_distance(a[:, 0], b[:, 0]))


def lower_left_counts(origins: np.ndarray, points: np.ndarray) -> np.ndarray:
    """#{points p with p.x <= x0 and p.y <= y0} for every origin (x0, y0), shape (m,).

    Offline 2-D dominance counting in O(N log^2 N) for N = m + n: order everything by
    x (points before origins on equal x), then, as in a bottom-up merge sort, for every
    level count the points in each left half-block whose y rank is <= that of each
    origin in the matching right half-block (one sort and two binary searches per level).
    """
    n, m = len(points), len(origins)
    xs = np.concatenate([points[:, 0], origins[:, 0]])
    is_origin = np.concatenate([np.zeros(n, dtype=bool), np.ones(m, dtype=bool)])
    order = np.lexsort((is_origin, xs))
    y_rank = np.unique(np.concatenate([points[:, 1], origins[:, 1]]),
                       return_inverse=True)[1][order]
    origin = is_origin[order]
    total = n + m
    position = np.arange(total)
    counts = np.zeros(total, dtype=np.int64)
    half = 1
    while half < total:
        block = position // (2 * half)
        right = position % (2 * half) >= half
        left_points = ~right & ~origin
        keys = np.sort(block[left_points] * (total + 1) + y_rank[left_points])
        query = right & origin
        base = block[query] * (total + 1)
        counts[query] += (np.searchsorted(keys, base + y_rank[query], side="right")
                          - np.searchsorted(keys, base, side="left"))
        half *= 2
    out = np.empty(m, dtype=np.int64)
    out[order[origin] - n] = counts[origin]
    return out


def _quadrant_fractions(origins: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Fractions of ``points`` in the four quadrants around each origin, shape (m, 4).

    Quadrants (as in Numerical Recipes' ``quadct``): x > x0 and y > y0; x <= x0 and
    y > y0; x <= x0 and y <= y0; x > x0 and y <= y0.
    """
    n = len(points)
    lower_left = lower_left_counts(origins, points)
    left = np.searchsorted(np.sort(points[:, 0]), origins[:, 0], side="right")
    below = np.searchsorted(np.sort(points[:, 1]), origins[:, 1], side="right")
    quadrants = np.column_stack([n - left - below + lower_left, left - lower_left,
                                 lower_left, below - lower_left])
    return quadrants / n


def ks_2d(a: Any, b: Any, *, max_points: int | None = KS2D_POINTS, seed: int = 0) -> float:
    """Fasano–Franceschini two-sample 2-D KS statistic (in [0, 1]).

    For every point of ``a`` taken as origin, the largest difference between the
    fractions of ``a`` and of ``b`` in any of the four quadrants around it (D_a); the same
    with the points of ``b`` as origins (D_b); the statistic is (D_a + D_b) / 2 (as in
    Numerical Recipes' ``ks2d2s``). Cost O(n log^2 n) (:func:`lower_left_counts`):
    ~30 ms for 2000 rows per sample, ~0.5 s for 20000; each sample is first subsampled
    to ``max_points`` rows.

    Args:
        a, b: samples of shape (rows, 2).
        max_points: subsample cap (None: use every row).
        seed: subsampling seed.
    """
    a, b = subsample(*_pair(a, b, dims=2), max_points, seed)

    def largest(origins: np.ndarray) -> float:
        return float(np.abs(_quadrant_fractions(origins, a)
                            - _quadrant_fractions(origins, b)).max())

    return 0.5 * (largest(a) + largest(b))


def _mean_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs (x_i, y_j), blocked to bound memory."""
    step = max(1, _BLOCK // max(len(y), 1))
    total = sum(float(cdist(x[i:i + step], y).sum()) for i in range(0, len(x), step))
    return total / (len(x) * len(y))


def energy_distance(a: Any, b: Any, *, scale: Any = None, max_points: int | None = MAX_POINTS,
                    seed: int = 0) -> float:
    """Energy distance sqrt(2 E|A-B| - E|A-A'| - E|B-B'|) between two samples.

    The expectations are over all pairs of the empirical samples (V-statistic, so the
    result is >= 0 and is exactly scipy's ``energy_distance`` in 1-D). Columns are
    divided by ``scale`` first, so the result is in units of ``scale``.

    Args:
        a, b: samples (rows, dims).
        scale: per-column scale (dims,); default: the standard deviation of ``b``.
        max_points: subsample cap per sample (None: every row; cost O(n^2)).
        seed: subsampling seed.
    """
    a, b = _pair(a, b)
    scale = np.std(b, axis=0) if scale is None else np.broadcast_to(
        np.asarray(scale, dtype=float), (a.shape[1],))
    if not (np.isfinite(scale).all() and (scale > 0).all()):
        raise EvaluationError(f"energy distance needs positive finite column scales, got "
                              f"{np.asarray(scale).tolist()} (a constant column?)")
    a, b = subsample(a / scale, b / scale, max_points, seed)
    squared = 2 * _mean_distance(a, b) - _mean_distance(a, a) - _mean_distance(b, b)
    return math.sqrt(max(squared, 0.0))


def pearson_r(a: Any, b: Any) -> float:
    """Pearson correlation of paired 1-D values (e.g. sampled vs true, per halo)."""
    a, b = _pair(a, b, dims=1, paired=True, min_rows=3)
    a, b = a[:, 0] - a[:, 0].mean(), b[:, 0] - b[:, 0].mean()
    norm = math.sqrt(float(a @ a) * float(b @ b))
    if norm == 0:
        raise EvaluationError("Pearson correlation of a constant sample is undefined")
    return float(np.clip(a @ b / norm, -1.0, 1.0))


def auc_standard_error(auc: float, n_a: int, n_b: int) -> float:
    """Standard error of a ROC AUC from n_a and n_b scored points (Hanley & McNeil 1982).

    At auc = 0.5 this is the exact null value sqrt((n_a + n_b + 1) / (12 n_a n_b)).
    """
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (auc * (1 - auc) + (n_a - 1) * (q1 - auc**2) + (n_b - 1) * (q2 - auc**2))
    return math.sqrt(max(variance, 0.0) / (n_a * n_b))


def classifier_two_sample(a: Any, b: Any, *, seed: int = 0, max_train: int = MAX_TRAIN_ROWS,
                          test_fraction: float = 0.5) -> Estimate:
    """Classifier two-sample test: held-out ROC AUC of a classifier telling ``a`` from ``b``.

    A gradient-boosted tree classifier (scikit-learn ``HistGradientBoostingClassifier``,
    100 trees of 15 leaves, one thread, seeded) is trained on a ``1 - test_fraction``
    share of each sample (at most ``max_train`` rows each) and scores the other rows.
    Equal-length samples are split by row (a halo's model and true galaxy fall in the
    same part).

    Returns:
        :class:`Estimate` with value = AUC (0.5: indistinguishable; 1: perfectly told
        apart), error = its Hanley–McNeil standard error, floor = 0.5 exactly (the
        expected held-out AUC for identical distributions), floor_error = 0.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    a, b = _pair(a, b, min_rows=8)
    if not 0 < test_fraction < 1:
        raise EvaluationError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    order_a = rng.permutation(len(a))
    order_b = order_a if len(a) == len(b) else rng.permutation(len(b))
    split_a, split_b = (round((1 - test_fraction) * len(x)) for x in (a, b))
    train_a, test_a = order_a[:min(max_train, split_a)], order_a[split_a:]
    train_b, test_b = order_b[:min(max_train, split_b)], order_b[split_b:]
    features = np.concatenate([a[train_a], b[train_b]])
    labels = np.concatenate([np.zeros(len(train_a)), np.ones(len(train_b))])
    classifier = HistGradientBoostingClassifier(max_iter=100, max_leaf_nodes=15,
                                                early_stopping=False,
                                                random_state=int(rng.integers(2**31)))
    # One thread: the OpenMP pool of two threads is several times slower on a busy machine.
    with threadpool_limits(1):
        classifier.fit(features, labels)
        scores = classifier.predict_proba(np.concatenate([a[test_a], b[test_b]]))[:, 1]
    truth = np.concatenate([np.zeros(len(test_a)), np.ones(len(test_b))])
    auc = float(roc_auc_score(truth, scores))
    return Estimate(auc, auc_standard_error(auc, len(test_a), len(test_b)), 0.5, 0.0)


# ----------------------------------------------------------------------------- estimators
Statistic = Callable[[np.ndarray, np.ndarray], float]


def _mean_and_error(values: Sequence[float]) -> tuple[float, float | None]:
    values = np.asarray(values, dtype=float)
    error = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None
    return float(values.mean()), error


def _stack(draws: Any, name: str) -> np.ndarray:
    array = np.asarray(draws, dtype=float)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise EvaluationError(f"{name} must have shape (repeats, rows[, dims]), "
                              f"got {array.shape}")
    return array


def repeated_estimate(statistic: Statistic, draws: Any, reference: Any,
                      floor_draws: Any = None, *, null_exponent: float | None = 0.5,
                      max_points: int | None = None, seed: int = 0) -> Estimate:
    """A statistic between model draws and a reference, with error bar and noise floor.

    Args:
        statistic: ``f(sample, reference) -> float`` (e.g. :func:`ks_1d`).
        draws: R model draws, shape (R, n, dims) (or (R, n) for one column); R >= 2.
        reference: the reference sample (n_ref, dims), e.g. the true galaxies.
        floor_draws: R' independent draws of the truth, shape (R', n, dims), for the
            floor (each scored against ``reference`` like a model draw). None: without a
            truth, the floor is the statistic between two random halves of
            ``reference`` (R splits, seeded), multiplied by
            ``(s_full / s_half) ** null_exponent`` with ``s = 1/n_1 + 1/n_2`` the sizes
            the statistic sees (capped at ``max_points``): KS, Wasserstein-1 and energy
            distances shrink as ``s ** 0.5`` between identical distributions. This floor
            is an average over references while the value is conditional on the one
            reference given, so its error is the spread of a single split, not the
            standard error of the mean.
        null_exponent: that exponent; None: no floor without a truth (e.g. PCC).
        max_points: the statistic's own subsample cap (only for the rescaling).
        seed: seed of the split halves.

    Returns:
        :class:`Estimate`: value and floor are means over the draws, errors their
        standard errors (but see split halves). A perfect model has value == floor
        within the errors.
    """
    draws = _stack(draws, "draws")
    reference = as_sample(reference, "reference")
    if len(draws) < 2:
        raise EvaluationError(f"repeated_estimate needs at least 2 draws, got {len(draws)}")
    value, error = _mean_and_error([statistic(d, reference) for d in draws])
    if floor_draws is not None:
        floor, floor_error = _mean_and_error(
            [statistic(d, reference) for d in _stack(floor_draws, "floor_draws")])
        return Estimate(value, error, floor, floor_error)
    if null_exponent is None or len(reference) < 4:
        return Estimate(value, error)
    rng = np.random.default_rng(seed)

    def size(n: int) -> int:
        return n if max_points is None else min(n, max_points)

    half = len(reference) // 2
    factor = ((1 / size(len(draws[0])) + 1 / size(len(reference)))
              / (1 / size(half) + 1 / size(len(reference) - half))) ** null_exponent
    floors = []
    for _ in range(len(draws)):
        order = rng.permutation(len(reference))
        floors.append(factor * statistic(reference[order[:half]], reference[order[half:]]))
    # The value is conditional on this one reference sample, the split-half floor is not:
    # its error is the spread of one split (~ how far the reference moves the value).
    return Estimate(value, error, float(np.mean(floors)), float(np.std(floors, ddof=1)),
                    note="floor from split halves")
