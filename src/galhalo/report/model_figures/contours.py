"""Highest-density contours of 2-D samples: panel ranges, smoothed histograms, the
levels enclosing a given probability, and the drawing (points below
:data:`~._base.MIN_CONTOUR_POINTS`).

The 2-D histogram of a sample (``bins`` per axis over the panel's range, smoothed by a
Gaussian of ``smooth`` bins) gives a probability per cell; the level of probability p is
the cell value above which the cells hold a fraction p of the sample
(:func:`enclosed_levels`: the highest-density region). Binning and smoothing widen the
density by a variance h^2 / 12 + (smooth h)^2 per axis (h = bin width): for a unit
Gaussian and the default 40 bins over ~6 sd that is ~2 %, so a drawn 68 % contour
encloses ~68.8 % of the true probability.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from scipy import ndimage

from ...errors import ReportError
from ._base import LEVELS, MIN_CONTOUR_POINTS, RANGE_PERCENTILES, SMOOTH, check_levels


def panel_range(*samples: np.ndarray) -> tuple[float, float]:
    """(low, high) covering :data:`RANGE_PERCENTILES` of the pooled 1-D samples, padded
    by 10 % of the width on each side (never empty)."""
    pooled = np.concatenate([np.asarray(s, dtype=float).ravel() for s in samples])
    low, high = np.percentile(pooled, RANGE_PERCENTILES)
    width = high - low
    if width <= 0:
        width = max(abs(low), 1.0) * 1e-3
    return float(low - 0.1 * width), float(high + 0.1 * width)


def density_grid(x: np.ndarray, y: np.ndarray, x_edges: np.ndarray, y_edges: np.ndarray,
                 smooth: float = SMOOTH) -> np.ndarray:
    """Probability per cell of a 2-D sample, shape (len(x_edges) - 1, len(y_edges) - 1).

    The histogram counts are divided by the number of points (including those outside
    the edges, so the cells hold the fraction of the whole sample they see), then
    smoothed by a Gaussian of ``smooth`` bins (0: none; mass leaving the grid is lost).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) == 0:
        raise ReportError(f"x and y must be equal non-empty 1-D arrays, got {x.shape}, {y.shape}")
    counts = np.histogram2d(x, y, bins=(x_edges, y_edges))[0] / len(x)
    if smooth > 0:
        counts = ndimage.gaussian_filter(counts, smooth, mode="constant")
    return counts


def enclosed_levels(masses: np.ndarray, probabilities: Sequence[float] = LEVELS) -> np.ndarray:
    """Cell values whose super-level sets hold the given probabilities.

    For each p: the smallest value t such that the cells with mass >= t together hold at
    least a fraction p of the total (the highest-density region of probability p). When
    the grid holds less than p in all (a sample mostly outside the panel), t is the
    smallest positive cell value: the region is every occupied cell.

    Args:
        masses: probability per cell (summing to at most 1: the rest of the sample lies
            outside the grid) or counts (then normalised by their sum); any shape, >= 0.
        probabilities: enclosed fractions in (0, 1).

    Returns:
        Thresholds, shape (len(probabilities),), in the order given (a larger p gives a
        lower threshold).
    """
    probabilities = check_levels(probabilities)
    values = np.asarray(masses, dtype=float).ravel()
    if len(values) == 0 or not np.isfinite(values).all() or (values < 0).any():
        raise ReportError("cell masses must be a non-empty array of finite values >= 0")
    positive = np.sort(values[values > 0])[::-1]
    if len(positive) == 0:
        raise ReportError("every cell is empty: no contour can be drawn")
    # Fractions relative to the mass the masses were normalised by: a grid of
    # probabilities that sums to < 1 (points outside) encloses only what it holds.
    total = values.sum() if values.sum() > 1 + 1e-9 else 1.0
    cumulative = np.cumsum(positive) / total
    index = np.searchsorted(cumulative, probabilities, side="left")
    return positive[np.minimum(index, len(positive) - 1)]


def draw_contours(ax: Axes, x: np.ndarray, y: np.ndarray, x_edges: np.ndarray,
                  y_edges: np.ndarray, *, levels: tuple[float, ...], smooth: float,
                  color: str, style: Any, filled: bool, gid: str) -> None:
    """Highest-density contours of one sample (points when too few to contour)."""
    if len(x) < MIN_CONTOUR_POINTS:
        ax.scatter(x, y, s=6 if filled else 4, color=color, marker="o" if filled else "x",
                   linewidths=0.6 if not filled else 0, alpha=0.8, zorder=3, gid=gid)
        return
    masses = density_grid(x, y, x_edges, y_edges, smooth)
    thresholds = enclosed_levels(masses, levels)
    order = np.argsort(thresholds)  # contour() wants ascending levels: outer first
    ascending = thresholds[order]
    if len(np.unique(ascending)) != len(ascending) or ascending[-1] >= masses.max():
        ax.scatter(x, y, s=4, color=color, alpha=0.5, linewidths=0, zorder=3, gid=gid)
        return
    centres_x = 0.5 * (x_edges[1:] + x_edges[:-1])
    centres_y = 0.5 * (y_edges[1:] + y_edges[:-1])
    if filled:
        shades = np.linspace(0.25, 0.55, len(ascending))
        ax.contourf(centres_x, centres_y, masses.T, levels=[*ascending, masses.max() * 1.01],
                    colors=[str(1 - s) for s in shades], zorder=1)
    widths = np.linspace(0.9, 1.8, len(ascending))
    lines = ax.contour(centres_x, centres_y, masses.T, levels=ascending, colors=color,
                       linewidths=widths, linestyles=style, zorder=2)
    lines.set_gid(gid)
    lines.enclosed = tuple(levels[i] for i in order)  # the probability of each level


