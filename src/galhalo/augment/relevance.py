"""The relevance function φ(y) of SMOGN (step 1 of :mod:`galhalo.augment.smogn`).

φ ∈ [0, 1] is a monotone piecewise-cubic Hermite interpolant through control points
(y, φ, slope); :func:`automatic_control_points` derives them from the box plot of y
(Ribeiro 2011; Branco, Torgo & Ribeiro 2017), :func:`check_control_points` validates
given ones.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import SmognError

__all__ = ["automatic_control_points", "check_control_points", "relevance"]


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


def _positive(value: object, name: str, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SmognError(f"{name} must be a real number, got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and number > 0 and (upper is None or number <= upper)):
        where = "> 0" if upper is None else f"in (0, {upper:g}]"
        raise SmognError(f"{name} must be {where}, got {value!r}")
    return number


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
