"""Corner plot: the truth against one or more models, 2-D contours and 1-D histograms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ...errors import ReportError
from ._base import (
    BINS,
    LEVELS,
    MODEL_STYLES,
    SMOOTH,
    TRUTH,
    TRUTH_COLOR,
    Sample,
    axis_label,
    check_bins,
    check_levels,
    check_models,
    draw_histograms,
    draw_legend,
    sample_columns,
)
from .contours import draw_contours, panel_range


def corner_figure(truth: Sample, models: Mapping[str, Sample], columns: Sequence[str], *,
                  levels: Sequence[float] = LEVELS, bins: int = BINS,
                  smooth: float = SMOOTH, title: str | None = None) -> Figure:
    """Corner plot of the truth against one or more models.

    Lower triangle: 2-D highest-density contours at ``levels`` (truth filled grey, each
    model in its colour; a sample under :data:`MIN_CONTOUR_POINTS` rows is drawn as
    points); diagonal: density-normalised 1-D histograms; upper triangle: the legend.
    Ranges cover every sample (:func:`panel_range`).

    Args:
        truth: true values, table with ``columns``.
        models: ``{label: sampled values}``, tables with ``columns`` (any row count).
        columns: two or more target columns.
        levels: enclosed probabilities of the contours.
        bins: histogram bins per axis; smooth: Gaussian smoothing of the 2-D
            histograms in bins.

    Raises:
        ReportError: fewer than two columns, a missing column, NaN/inf, empty samples.
    """
    levels = check_levels(levels)
    check_bins(bins, smooth)
    check_models(models)
    columns = tuple(columns)
    if len(columns) < 2 or len(set(columns)) != len(columns):
        raise ReportError(f"a corner plot needs two or more distinct columns, got {columns}")
    true = sample_columns(truth, columns, TRUTH)
    drawn = {label: sample_columns(s, columns, f"model {label!r}") for label, s in models.items()}
    d = len(columns)
    edges = [np.linspace(*panel_range(true[:, j], *(m[:, j] for m in drawn.values())), bins + 1)
             for j in range(d)]
    figure = Figure(figsize=(2.3 * d + 0.6, 2.3 * d + 0.6), layout="constrained")
    axes = figure.subplots(d, d, squeeze=False)
    for i in range(d):
        for j in range(d):
            ax = axes[i, j]
            if j > i:
                ax.set_axis_off()
                continue
            if i == j:
                draw_histograms(ax, true[:, j], {k: m[:, j] for k, m in drawn.items()}, edges[j])
                ax.set_yticks([])
            else:
                gid = f"contour:{TRUTH}:{columns[j]}:{columns[i]}"
                draw_contours(ax, true[:, j], true[:, i], edges[j], edges[i], levels=levels,
                          smooth=smooth, color=TRUTH_COLOR, style="-", filled=True, gid=gid)
                for k, (label, m) in enumerate(drawn.items()):
                    draw_contours(ax, m[:, j], m[:, i], edges[j], edges[i], levels=levels,
                              smooth=smooth, color=f"C{k}",
                              style=MODEL_STYLES[k % len(MODEL_STYLES)], filled=False,
                              gid=f"contour:{label}:{columns[j]}:{columns[i]}")
                ax.set_ylim(edges[i][0], edges[i][-1])
            ax.set_xlim(edges[j][0], edges[j][-1])
            if i == d - 1:
                ax.set_xlabel(axis_label(columns[j]))
            else:
                ax.tick_params(labelbottom=False)
            if j == 0 and i > 0:
                ax.set_ylabel(axis_label(columns[i]))
            elif j > 0:
                ax.tick_params(labelleft=False)
    draw_legend(axes[0, d - 1], list(drawn), levels)
    figure.suptitle(title or f"truth ({len(true):,} rows) vs model draws")
    return figure


