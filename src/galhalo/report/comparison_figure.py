"""Reference vs mock: 1-D distributions of the target columns, overall and per halo-mass bin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..catalog.schema import COLUMNS
from ..files import atomic_path, check_writable


def marginals_comparison(reference: pd.DataFrame, mock: pd.DataFrame, columns: tuple[str, ...],
                         path: str | Path, labels: tuple[str, str] = ("reference", "mock"),
                         title: str | None = None) -> Path:
    """Histograms of each column in ``reference`` and ``mock`` (density-normalised), with
    their ratio in a lower panel; written atomically (format from the suffix)."""
    target = check_writable(path)
    figure = Figure(figsize=(4.2 * len(columns), 5.2), layout="constrained")
    grid = figure.add_gridspec(2, len(columns), height_ratios=(3, 1))
    for i, name in enumerate(columns):
        top = figure.add_subplot(grid[0, i])
        bottom = figure.add_subplot(grid[1, i], sharex=top)
        values = np.concatenate([reference[name], mock[name]])
        edges = np.linspace(*np.percentile(values, [0.1, 99.9]), 61)
        counts = []
        for data, label, style in ((reference[name], labels[0], "-"),
                                   (mock[name], labels[1], "--")):
            density, _, _ = top.hist(data, bins=edges, density=True, histtype="step",
                                     ls=style, lw=1.5, label=label)
            counts.append(density)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = counts[1] / counts[0]
        bottom.stairs(ratio, edges, color="k")
        bottom.axhline(1.0, color="0.5", lw=0.8)
        bottom.set(ylim=(0.5, 1.5), xlabel=COLUMNS[name].label if name in COLUMNS else name,
                   ylabel=f"{labels[1]} / {labels[0]}")
        top.set(ylabel="density")
        top.legend(fontsize="small")
    if title:
        figure.suptitle(title)
    with atomic_path(target) as tmp:
        figure.savefig(tmp, dpi=110, format=target.suffix.lstrip(".") or "png")
    return target
