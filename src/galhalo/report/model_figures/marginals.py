"""1-D distributions of every target: the truth with its Poisson band, each model as a line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ...errors import ReportError
from ._base import (
    TRUTH,
    Sample,
    axis_label,
    check_bins,
    check_models,
    draw_histograms,
    legend_handles,
    sample_columns,
)
from .contours import panel_range


def marginal_histograms(truth: Sample, models: Mapping[str, Sample], columns: Sequence[str],
                        *, bins: int = 50, title: str | None = None) -> Figure:
    """1-D distribution of each column: truth (grey, with its +-1 sigma Poisson band)
    and each model's draws (lines), density-normalised, one panel per column."""
    check_bins(bins, 0.0)
    check_models(models)
    columns = tuple(columns)
    if not columns:
        raise ReportError("marginal_histograms needs at least one column")
    true = sample_columns(truth, columns, TRUTH)
    drawn = {label: sample_columns(s, columns, f"model {label!r}") for label, s in models.items()}
    figure = Figure(figsize=(3.4 * len(columns) + 0.4, 3.2), layout="constrained")
    axes = figure.subplots(1, len(columns), squeeze=False)[0]
    for j, (ax, name) in enumerate(zip(axes, columns, strict=True)):
        edges = np.linspace(*panel_range(true[:, j], *(m[:, j] for m in drawn.values())),
                            bins + 1)
        draw_histograms(ax, true[:, j], {k: m[:, j] for k, m in drawn.items()}, edges)
        ax.set(xlabel=axis_label(name), ylabel="density" if j == 0 else None,
               xlim=(edges[0], edges[-1]))
    figure.legend(handles=legend_handles(list(drawn), f"{TRUTH} (band: +-1 sigma Poisson)"),
                  loc="outside upper center", ncols=len(drawn) + 1, fontsize="small",
                  frameon=False)
    if title:
        figure.suptitle(title)
    return figure


