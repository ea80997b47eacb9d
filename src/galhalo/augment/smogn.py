"""SMOGN over-sampling for imbalanced regression (Branco, Torgo & Ribeiro 2017), vectorised.

The method, as published and as implemented by the reference ``smogn`` package:

1. **Relevance** φ(y) ∈ [0, 1] of every target value: a monotone piecewise-cubic Hermite
   interpolant through control points (y, φ, slope). Automatic control points come from
   the box plot of y (coefficient 1.5): φ = 1 at a whisker end beyond which there are
   outliers, φ = 0 at the median (and at min / max when a side has no outliers).
2. **Bins**: sort the rows by y; a bin is a maximal run of consecutive rows that are all
   rare (φ ≥ threshold) or all common (φ < threshold).
3. **Target size per bin**: ``"balance"`` gives every bin b = round(n / bins) rows;
   ``"extreme"`` gives bin i about b² / n_i rows (rescaled so that the total stays
   n · b · bins / Σ b² / n_j), the package's formula, rounded the package's way. A bin
   below its target is over-sampled: all its rows are kept and synthetic rows are
   added; a bin above it is under-sampled (rows drawn without replacement; with
   ``undersample=False`` all rows are kept).
4. **Synthetic rows** (SMOGN = SMOTER + Gaussian noise), built within one bin: every
   row of the bin seeds ⌊(target − n_i) / n_i⌋ synthetic rows and a random subset
   (without replacement) one more. Each synthetic row draws one of the seed's k nearest
   neighbours in the bin (Euclidean distance over the feature *and* target columns,
   unscaled, as in the package). If that neighbour is closer than half the median
   distance from the seed to the rows of its bin, the new row lies at a uniform random
   point of the segment seed → neighbour (features and target alike: SMOTER);
   otherwise it is the seed plus Gaussian noise with standard deviation
   min(pert, that half-median distance) × the bin's standard deviation of each column.

Deliberate differences from the ``smogn`` 0.1.2 package (its bugs, documented in
docs/smogn.md): the target of an interpolated row is interpolated with the same weight
as the features (the package's weights read the wrong column); under-sampling keeps
the drawn rows (the package drops them from the whole table and keeps everything
else); over-sampled bins keep their original rows; a bin with fewer than k + 1 rows
draws among the neighbours it has; for bins above :data:`EXACT_MEDIAN_MAX_ROWS` rows
the median distance is estimated from :data:`MEDIAN_SAMPLE` random rows of the bin;
synthetic values are clipped to each column's observed range (so physical bounds hold;
the package clips at 0 only); φ left of the first control point extends linearly with
the end slope like on the right (the package returns 1 there) and is clipped to
[0, 1].

Everything is numpy / scipy: a KD-tree per over-sampled bin, no Python loop over rows.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

from ..errors import SmognError

__all__ = [
    "EXACT_MEDIAN_MAX_ROWS",
    "MEDIAN_SAMPLE",
    "MODES",
    "SmognError",
    "SmognResult",
    "augment",
    "automatic_control_points",
    "check_control_points",
    "relevance",
    "smogn",
]

#: Sampling strategies of the reference package.
MODES = ("balance", "extreme")
#: Bins up to this many rows get the exact median distance of each seed to its bin.
EXACT_MEDIAN_MAX_ROWS = 2048
#: Larger bins estimate it from this many random rows of the bin (odd: one middle
#: value). The sample median's standard error is about 1.25 / sqrt(MEDIAN_SAMPLE) = 5.5 %
#: of the spread (sd) of the seed's distances to its bin.
MEDIAN_SAMPLE = 511
#: Distances evaluated per chunk when computing median distances (memory bound).
_CHUNK_DISTANCES = 1 << 22



# --------------------------------------------------------------------------- relevance


def _finite_vector(values: object, name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise SmognError(f"{name} must be numeric: {err}") from None
    if array.ndim != 1:
        raise SmognError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise SmognError(f"{name} is empty")
    bad = ~np.isfinite(array)
    if bad.any():
        raise SmognError(f"{name}: {int(bad.sum())} of {array.size} values are NaN or inf "
                         f"(first at position {int(np.flatnonzero(bad)[0])})")
    return array


def _box_plot(y: np.ndarray, coefficient: float) -> tuple[float, float, float, bool, bool]:
    """(lower whisker, median, upper whisker, outliers below?, outliers above?).

    Quartiles with the ``midpoint`` rule (R's ``boxplot.stats`` as in the package);
    whiskers are the most extreme observations within coefficient × IQR of the hinges.
    """
    q1, median, q3 = np.quantile(y, [0.25, 0.5, 0.75], method="midpoint")
    spread = coefficient * (q3 - q1)
    lower = float(y[y >= q1 - spread].min())
    upper = float(y[y <= q3 + spread].max())
    return lower, float(median), upper, bool((y < lower).any()), bool((y > upper).any())


def automatic_control_points(y: np.ndarray, coefficient: float = 1.5) -> np.ndarray:
    """Control points from the box plot of ``y`` (the package's ``phi_extremes``, "both").

    Args:
        y: target values, shape (n,), finite, not all equal.
        coefficient: whisker length in interquartile ranges (> 0).

    Returns:
        Array (m, 3) of rows (y, φ, slope), m = 2 or 3: (lower whisker, 1, 0) if some
        values lie below it, else (min y, 0, 0); then (median, 0, 0) unless it equals
        min y; then (upper whisker, 1, 0) if some values lie above it, else (max y, 0, 0)
        unless the median equals max y.

    Raises:
        SmognError: ``y`` is empty, not finite or constant; ``coefficient`` <= 0; or the
            box plot is degenerate (zero interquartile range with outliers), so the
            points are not strictly increasing: pass control points by hand.
    """
    y = _finite_vector(y, "y")
    coefficient = _positive(coefficient, "coefficient")
    low, high = float(y.min()), float(y.max())
    if low == high:
        raise SmognError(f"y is constant ({low:g}): no relevance can be derived from it")
    lower, median, upper, below, above = _box_plot(y, coefficient)
    points = [(lower, 1.0, 0.0) if below else (low, 0.0, 0.0)]
    if median != low:
        points.append((median, 0.0, 0.0))
    if above:
        points.append((upper, 1.0, 0.0))
    elif median != high:
        points.append((high, 0.0, 0.0))
    array = np.array(points, dtype=np.float64)
    if np.any(np.diff(array[:, 0]) <= 0):
        raise SmognError(
            f"the box plot of y is degenerate (whiskers {lower:g} and {upper:g}, median "
            f"{median:g}: zero interquartile range), so automatic control points are not "
            "strictly increasing; pass control_points (y, phi, slope) explicitly")
    return array


def check_control_points(control_points: object) -> np.ndarray:
    """Validate control points; return them as a float64 array of shape (m, 3).

    Args:
        control_points: m >= 2 rows (y, φ, slope): y strictly increasing, φ in [0, 1],
            all finite. The slope is dφ/dy at the point (adjusted for monotonicity).

    Raises:
        SmognError: naming the first offending row.
    """
    try:
        points = np.array(control_points, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise SmognError(f"control_points must be a numeric (m, 3) array: {err}") from None
    if points.ndim != 2 or points.shape[1] != 3:
        raise SmognError(f"control_points must have shape (m, 3), rows (y, phi, slope); "
                         f"got shape {points.shape}")
    if points.shape[0] < 2:
        raise SmognError(f"control_points needs at least 2 rows, got {points.shape[0]}")
    bad = ~np.isfinite(points).all(axis=1)
    if bad.any():
        raise SmognError(f"control_points row {int(np.flatnonzero(bad)[0])} is not finite: "
                         f"{points[bad][0].tolist()}")
    outside = (points[:, 1] < 0) | (points[:, 1] > 1)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise SmognError(f"control_points row {row}: phi = {points[row, 1]:g} is outside [0, 1]")
    steps = np.diff(points[:, 0])
    if np.any(steps <= 0):
        row = int(np.flatnonzero(steps <= 0)[0]) + 1
        raise SmognError(
            f"control_points must be sorted by strictly increasing y: row {row} has "
            f"y = {points[row, 0]:g} after y = {points[row - 1, 0]:g} in row {row - 1}")
    return points


def _monotone_slopes(x: np.ndarray, phi: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """Hermite slopes adjusted for monotonicity (Fritsch & Carlson 1980, as in UBL).

    Walks the m - 1 intervals in order (a loop over control points, not rows): a flat
    interval forces zero slopes at both ends; a slope whose sign disagrees with the
    interval's secant is mirrored; slopes (α, β) · secant outside the monotone region
    are scaled back onto the circle α² + β² = 9.
    """
    slopes = slope.astype(np.float64, copy=True)
    secant = np.diff(phi) / np.diff(x)
    for i, s in enumerate(secant):
        if s == 0:
            slopes[i] = slopes[i + 1] = 0.0
            continue
        if slopes[i] != 0 and slopes[i] / s < 0:
            slopes[i] = -slopes[i]
        if slopes[i + 1] != 0 and slopes[i + 1] / s < 0:
            slopes[i + 1] = -slopes[i + 1]
        alpha, beta = slopes[i] / s, slopes[i + 1] / s
        first, second = 2 * alpha + beta - 3, alpha + 2 * beta - 3
        if first > 0 and second > 0 and alpha * (first + second) < first * first:
            tau = 3 * s / math.sqrt(alpha * alpha + beta * beta)
            slopes[i], slopes[i + 1] = tau * alpha, tau * beta
    return slopes


def relevance(y: np.ndarray, control_points: np.ndarray | None = None,
              coefficient: float = 1.5) -> np.ndarray:
    """The relevance φ(y) ∈ [0, 1] of each target value.

    Args:
        y: target values, shape (n,), finite.
        control_points: (m, 3) rows (y, φ, slope), see :func:`check_control_points`;
            ``None``: :func:`automatic_control_points` of ``y`` itself.
        coefficient: box-plot whisker length for the automatic points.

    Returns:
        φ, shape (n,), float64. Between control points: the cubic Hermite interpolant with
        monotonicity-adjusted slopes; beyond the last (first) point: linear in the end
        slope; everything clipped to [0, 1].
    """
    values = _finite_vector(y, "y")
    points = (automatic_control_points(values, coefficient) if control_points is None
              else check_control_points(control_points))
    x, phi = points[:, 0], points[:, 1]
    slopes = _monotone_slopes(x, phi, points[:, 2])
    width = np.diff(x)
    secant = np.diff(phi) / width
    quadratic = (3 * secant - 2 * slopes[:-1] - slopes[1:]) / width
    cubic = (slopes[:-1] - 2 * secant + slopes[1:]) / width**2
    interval = np.clip(np.searchsorted(x, values, side="right") - 1, 0, len(x) - 2)
    s = values - x[interval]
    result = phi[interval] + s * (slopes[interval] + s * (quadratic[interval]
                                                          + s * cubic[interval]))
    right = values >= x[-1]
    result[right] = phi[-1] + slopes[-1] * (values[right] - x[-1])
    left = values < x[0]
    result[left] = phi[0] + slopes[0] * (values[left] - x[0])
    return np.clip(result, 0.0, 1.0)


# --------------------------------------------------------------------------- input checks


def _positive(value: object, name: str, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SmognError(f"{name} must be a real number, got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and number > 0 and (upper is None or number <= upper)):
        where = "> 0" if upper is None else f"in (0, {upper:g}]"
        raise SmognError(f"{name} must be {where}, got {value!r}")
    return number


def _is_numeric(series: pd.Series) -> bool:
    dtype = series.dtype
    return (ptypes.is_numeric_dtype(dtype) and not ptypes.is_bool_dtype(dtype)
            and not ptypes.is_complex_dtype(dtype))


def _columns(table: object, target: object, features: Sequence[str] | None) -> list[str]:
    """The columns SMOGN works on (features and target), in the table's column order."""
    if not isinstance(table, pd.DataFrame):
        raise SmognError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    if table.columns.duplicated().any():
        repeated = sorted(map(str, set(table.columns[table.columns.duplicated()])))
        raise SmognError(f"column names appear more than once: {', '.join(repeated)}")
    if not isinstance(target, str) or target not in table.columns:
        raise SmognError(f"target column {target!r} is not in the table "
                         f"(columns: {', '.join(map(str, table.columns)) or 'none'})")
    if features is None:
        chosen = [name for name in table.columns if name != target]
    else:
        if isinstance(features, str):
            raise SmognError(f"features must be a sequence of column names, got the string "
                             f"{features!r} (use [{features!r}])")
        chosen = list(features)
        missing = [name for name in chosen if name not in table.columns]
        if missing:
            raise SmognError(f"feature columns {', '.join(map(repr, missing))} are not in the "
                             f"table (columns: {', '.join(map(str, table.columns))})")
        if target in chosen:
            raise SmognError(f"the target {target!r} must not be listed among the features")
        if len(set(chosen)) != len(chosen):
            raise SmognError(f"features name a column more than once: {chosen}")
    if not chosen:
        raise SmognError("no feature columns: SMOGN needs at least one besides the target")
    wanted = {*chosen, target}
    names = [name for name in table.columns if name in wanted]
    text = [f"{name!r} ({table[name].dtype})" for name in names if not _is_numeric(table[name])]
    if text:
        hint = ("drop them or pass features=[...] naming numeric columns" if features is None
                else "convert or drop them")
        which = f"column {text[0]} is" if len(text) == 1 else f"columns {', '.join(text)} are"
        raise SmognError(f"{which} not numeric; SMOGN here handles numeric (non-boolean) "
                         f"columns only: {hint}")
    return names


def _matrix(table: pd.DataFrame, names: list[str]) -> np.ndarray:
    data = table[names].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(data)
    if bad.any():
        column = int(np.flatnonzero(bad.any(axis=0))[0])
        rows = bad[:, column]
        raise SmognError(f"column {names[column]!r}: {int(rows.sum())} of {len(rows)} rows "
                         f"are NaN or inf (first at row {int(np.flatnonzero(rows)[0])}); "
                         "drop or fill them first")
    return data


def _check_integer(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise SmognError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- bins


def _bins(rare: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows by increasing y, and the start of each run of equal rarity in that order.

    Returns ``order`` (n,) and ``starts`` (bins,); bin i is ``order[starts[i]:starts[i+1]]``.
    """
    order = np.argsort(y, kind="stable")
    flags = rare[order]
    starts = np.flatnonzero(np.r_[True, flags[1:] != flags[:-1]])
    return order, starts


def _bin_targets(sizes: np.ndarray, mode: str) -> np.ndarray:
    """Rows each bin should end with (before the ``undersample=False`` exception)."""
    n, count = int(sizes.sum()), len(sizes)
    share = round(n / count)
    if mode == "balance":
        return np.full(count, share, dtype=np.int64)
    # "extreme", the package's (and UBL's) rounding: objective to 2 decimals, ratio to 1.
    weights = [share * share / size for size in sizes.tolist()]
    scale = count * share / sum(weights)
    ratios = [round(round(w * scale, 2) / size, 1) for w, size in zip(weights, sizes.tolist(),
                                                                       strict=True)]
    return np.array([math.floor(r * size + 1e-9) for r, size in zip(ratios, sizes.tolist(),
                                                                       strict=True)],
                    dtype=np.int64)


# --------------------------------------------------------------------------- synthesis


def _half_median_distance(points: np.ndarray, seeds: np.ndarray,
                          rng: np.random.Generator) -> np.ndarray:
    """Half the median Euclidean distance from each seed row to the rows of its bin.

    Exact (the seed itself included, as in the package) up to
    :data:`EXACT_MEDIAN_MAX_ROWS` rows; beyond, against :data:`MEDIAN_SAMPLE` rows drawn
    without replacement. Computed in chunks; returns shape (len(seeds),).
    """
    rows = len(points)
    others = (points if rows <= EXACT_MEDIAN_MAX_ROWS
              else points[np.sort(rng.choice(rows, min(MEDIAN_SAMPLE, rows), replace=False))])
    # The median of squared distances, then the root (monotone): no square root per pair.
    low, high = (len(others) - 1) // 2, len(others) // 2
    kth = low if low == high else [low, high]
    chunk = max(1, _CHUNK_DISTANCES // len(others))
    half = np.empty(len(seeds))
    for start in range(0, len(seeds), chunk):
        squared = cdist(points[seeds[start:start + chunk]], others, "sqeuclidean")
        middle = np.partition(squared, kth, axis=1)
        half[start:start + chunk] = 0.25 * (np.sqrt(middle[:, low]) + np.sqrt(middle[:, high]))
    return half


@dataclass(frozen=True)
class _Synthetic:
    rows: np.ndarray        # (count, d)
    seed: np.ndarray        # (count,) bin-local row of the seed
    neighbour: np.ndarray   # (count,) bin-local row of the partner, -1 for a noise case


def _synthesize(points: np.ndarray, count: int, k: int, pert: float,
                rng: np.random.Generator) -> _Synthetic:
    """``count`` synthetic rows from the rows ``points`` (m, d) of one bin."""
    m, d = points.shape
    per_row, extra = divmod(count, m)
    seeds = np.concatenate([np.repeat(np.arange(m), per_row),
                            np.sort(rng.choice(m, extra, replace=False))])
    used, position = np.unique(seeds, return_inverse=True)
    half = _half_median_distance(points, used, rng)
    neighbours = min(k, m - 1)
    slot = rng.integers(max(neighbours, 1), size=count)
    u = rng.random(count)
    noise = rng.standard_normal((count, d))
    partner = np.full(count, -1, dtype=np.int64)
    if neighbours > 0:
        distance, index = cKDTree(points).query(points[used], k=neighbours + 1, workers=-1)
        # Drop the seed itself from its neighbour list (or the farthest if duplicates hid it).
        self_hit = index == used[:, None]
        self_hit[~self_hit.any(axis=1), -1] = True
        keep = np.argsort(self_hit, axis=1, kind="stable")[:, :neighbours]
        distance = np.take_along_axis(distance, keep, axis=1)
        index = np.take_along_axis(index, keep, axis=1)
        chosen = index[position, slot]
        safe = distance[position, slot] < half[position]
        partner[safe] = chosen[safe]
    safe = partner >= 0
    origin = points[seeds]
    rows = origin + noise * (points.std(axis=0) * np.minimum(pert, half[position])[:, None])
    rows[safe] = origin[safe] + u[safe, None] * (points[partner[safe]] - origin[safe])
    return _Synthetic(rows, seeds, partner)


# --------------------------------------------------------------------------- main


@dataclass(frozen=True)
class SmognResult:
    """The augmented table and how it was made.

    Attributes:
        table: augmented table (rows_out, columns): the kept original rows in their
            input order, then the synthetic rows bin by bin; fresh RangeIndex; the
            target and feature columns only, with their input dtypes.
        synthetic: bool (rows_out,), True for synthetic rows.
        source: int (rows_out,), input row position (0-based) of each kept original
            row, or of the seed of each synthetic row.
        neighbour: int (rows_out,), input row position of the neighbour a synthetic row
            was interpolated towards; -1 for original rows and Gaussian-noise rows.
        bin: int (rows_out,), bin of each output row.
        relevance: φ of every input row, (n,).
        rare: bool (n,), φ ≥ threshold.
        input_bin: int (n,), bin of every input row.
        control_points: (m, 3) control points used (y, φ, slope).
        bins: one row per bin (in order of increasing target): ``rare``, ``lower`` and
            ``upper`` (target range), ``rows`` (input rows), ``planned`` (rows the
            sampling mode asks for), ``kept`` (original rows kept), ``synthetic``,
            ``interpolated``, ``noise`` and ``total`` (kept + synthetic).
        target: name of the target column; ``columns``: all columns used.
    """

    table: pd.DataFrame
    synthetic: np.ndarray
    source: np.ndarray
    neighbour: np.ndarray
    bin: np.ndarray
    relevance: np.ndarray
    rare: np.ndarray
    input_bin: np.ndarray
    control_points: np.ndarray
    bins: pd.DataFrame
    target: str
    columns: tuple[str, ...]


def _output_table(table: pd.DataFrame, names: list[str], data: np.ndarray) -> pd.DataFrame:
    """``data`` (rows, len(names)) as a DataFrame with the input dtypes (integers rounded)."""
    out = {}
    for j, name in enumerate(names):
        dtype = table[name].dtype
        column = data[:, j]
        if ptypes.is_integer_dtype(dtype):
            column = np.rint(column)
        out[name] = pd.Series(column, copy=False).astype(dtype)
    return pd.DataFrame(out)


def augment(table: pd.DataFrame, target: str, *, features: Sequence[str] | None = None,
            k: int = 7, pert: float = 0.04, threshold: float = 0.8,
            control_points: np.ndarray | None = None, mode: str = "balance",
            undersample: bool = True, seed: int = 0,
            coefficient: float = 1.5) -> SmognResult:
    """SMOGN with everything it did: see :func:`smogn` for the arguments.

    Returns:
        :class:`SmognResult`; ``result.table`` is what :func:`smogn` returns.
    """
    names = _columns(table, target, features)
    n = len(table)
    if n < 2:
        raise SmognError(f"the table has {n} rows; SMOGN needs at least 2 (and more than k)")
    k = _check_integer(k, "k", 1)
    if k >= n:
        raise SmognError(f"k = {k} neighbours needs more rows than k, the table has {n}")
    pert = _positive(pert, "pert", upper=1.0)
    threshold = _positive(threshold, "threshold", upper=1.0)
    seed = _check_integer(seed, "seed", 0)
    if mode not in MODES:
        raise SmognError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    data = _matrix(table, names)
    column = names.index(target)
    y = data[:, column]
    if y.min() == y.max():
        raise SmognError(f"target column {target!r} is constant ({y[0]:g}): nothing is rare")
    points = (automatic_control_points(y, coefficient) if control_points is None
              else check_control_points(control_points))
    phi = relevance(y, points)
    rare = phi >= threshold
    if not rare.any():
        raise SmognError(f"no row of {target!r} has relevance >= threshold {threshold:g} "
                         f"(max relevance {phi.max():.3g}): nothing to over-sample; lower the "
                         "threshold or pass control_points")
    if rare.all():
        raise SmognError(f"every row of {target!r} has relevance >= threshold {threshold:g}: "
                         "nothing is common; raise the threshold or pass control_points")

    order, starts = _bins(rare, y)
    sizes = np.diff(np.r_[starts, n])
    planned = _bin_targets(sizes, mode)
    input_bin = np.empty(n, dtype=np.int64)
    input_bin[order] = np.repeat(np.arange(len(sizes)), sizes)
    rng = np.random.default_rng(seed)
    lo, hi = data.min(axis=0), data.max(axis=0)

    kept_parts, synthetic_parts, records = [], [], []
    for b, (start, size, want) in enumerate(zip(starts, sizes, planned, strict=True)):
        members = np.sort(order[start:start + size])
        made = None
        if want < size and undersample:
            kept = np.sort(rng.choice(members, want, replace=False))
        else:
            kept = members
        if want > size:
            made = _synthesize(data[members], int(want - size), k, pert, rng)
            rows = np.clip(made.rows, lo, hi)
            partner = np.where(made.neighbour >= 0, members[np.maximum(made.neighbour, 0)], -1)
            synthetic_parts.append((rows, members[made.seed], partner, b))
        kept_parts.append(kept)
        interpolated = 0 if made is None else int((made.neighbour >= 0).sum())
        count = 0 if made is None else len(made.rows)
        records.append({"rare": bool(rare[members[0]]), "lower": float(y[members].min()),
                        "upper": float(y[members].max()), "rows": int(size),
                        "planned": int(want), "kept": len(kept), "synthetic": count,
                        "interpolated": interpolated, "noise": count - interpolated,
                        "total": len(kept) + count})
        if want == 0 and undersample:
            warnings.warn(f"SMOGN mode {mode!r} removes bin {b} ({size} rows with "
                          f"{target} in [{records[-1]['lower']:g}, {records[-1]['upper']:g}]) "
                          "entirely (the package's rounding of its sampling ratio to 0)",
                          stacklevel=2)

    kept = np.sort(np.concatenate(kept_parts))
    rows = [data[kept], *(part[0] for part in synthetic_parts)]
    source = np.concatenate([kept, *(part[1] for part in synthetic_parts)])
    neighbour = np.concatenate([np.full(len(kept), -1, dtype=np.int64),
                                *(part[2] for part in synthetic_parts)])
    made_bins = [np.full(len(part[0]), part[3], dtype=np.int64) for part in synthetic_parts]
    out_bin = np.concatenate([input_bin[kept], *made_bins])
    synthetic = np.zeros(len(source), dtype=bool)
    synthetic[len(kept):] = True
    return SmognResult(
        table=_output_table(table, names, np.concatenate(rows)), synthetic=synthetic,
        source=source, neighbour=neighbour, bin=out_bin, relevance=phi, rare=rare,
        input_bin=input_bin, control_points=points,
        bins=pd.DataFrame.from_records(records, index=pd.RangeIndex(len(records), name="bin")),
        target=target, columns=tuple(names))


def smogn(table: pd.DataFrame, target: str, *, features: Sequence[str] | None = None,
          k: int = 7, pert: float = 0.04, threshold: float = 0.8,
          control_points: np.ndarray | None = None, mode: str = "balance",
          undersample: bool = True, seed: int = 0) -> pd.DataFrame:
    """Augment ``table`` so that rare values of ``target`` are better represented (SMOGN).

    Args:
        table: numeric table, one row per case (no NaN/inf in the columns used).
        target: the column whose rare values (relevance φ ≥ ``threshold``) are
            over-sampled.
        features: the other columns to carry (and to measure neighbour distances in,
            together with the target, unscaled Euclidean). Default: every other column
            (all must then be numeric). Columns not named are not in the output.
        k: nearest neighbours (within the bin) a synthetic row may interpolate towards.
        pert: Gaussian-noise scale, a fraction (0, 1] of each column's standard
            deviation in the bin.
        threshold: relevance in (0, 1] at and above which a value is rare.
        control_points: (m, 3) rows (y, φ, slope) of the relevance function; ``None``:
            automatic from the box plot of the target (coefficient 1.5).
        mode: ``"balance"`` (every bin gets round(n / bins) rows) or ``"extreme"``.
        undersample: under-sample bins above their target size (else keep them whole).
        seed: seed of every random choice; the same seed gives the same table.

    Returns:
        The augmented table: the target and feature columns (input order and dtypes),
        kept original rows first (input order), then the synthetic rows; RangeIndex.
        Use :func:`augment` to also get relevance, rare mask and per-bin counts.

    Raises:
        SmognError: (a ``ValueError``) naming the problem: missing or non-numeric
            columns, NaN/inf, constant target, k >= rows, bad pert/threshold/mode/seed,
            bad control points, or no rare (or no common) rows.
    """
    return augment(table, target, features=features, k=k, pert=pert, threshold=threshold,
                   control_points=control_points, mode=mode, undersample=undersample,
                   seed=seed).table
