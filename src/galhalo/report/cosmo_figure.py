"""Predicted vs true cosmological parameters with 1-sigma error bars, one panel per
parameter, one colour per suite (in-distribution and out-of-distribution overlaid)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..errors import ReportError
from ..files import atomic_path, check_writable

#: Boxes drawn per suite at most (evenly thinned beyond), so the figure stays legible.
MAX_POINTS = 400


def predicted_vs_true(results: Mapping[str, Mapping[str, Any]], names: Sequence[str],
                      title: str | None = None) -> Figure:
    """The figure (not written): posterior mean +- std against the true value.

    Args:
        results: by suite label, ``{"truth", "mean", "std"}`` arrays (boxes, parameters)
            in the parameters' units, optionally ``"metrics"`` ({name: {"r2",
            "coverage_1sigma", ...}}) shown in the legend.
        names: parameter names, one panel each.
        title: optional figure title.

    Raises:
        ReportError: no suite of results.
    """
    if not results:
        raise ReportError("predicted_vs_true needs at least one suite of results")
    names = list(names)
    figure = Figure(figsize=(4.4 * len(names), 4.4), layout="constrained")
    axes = figure.subplots(1, len(names), squeeze=False)[0]
    for j, (axis, name) in enumerate(zip(axes, names, strict=True)):
        low, high = np.inf, -np.inf
        for label, result in results.items():
            truth, mean, std = (np.asarray(result[key], dtype=float).reshape(
                len(result[key]), -1)[:, j] for key in ("truth", "mean", "std"))
            step = max(1, len(truth) // MAX_POINTS)
            scores = result.get("metrics", {}).get(name)
            text = (f"{label}: R²={scores['r2']:.3f}, 1σ cov.={scores['coverage_1sigma']:.2f}"
                    if scores else label)
            axis.errorbar(truth[::step], mean[::step], yerr=std[::step], fmt="o", ms=2.5,
                          lw=0.6, alpha=0.6, label=text)
            low, high = min(low, truth.min(), (mean - std).min()), max(
                high, truth.max(), (mean + std).max())
        axis.plot([low, high], [low, high], color="k", lw=0.8)
        axis.set(xlabel=f"true {name}", ylabel=f"predicted {name}", aspect="equal",
                 xlim=(low, high), ylim=(low, high))
        axis.legend(fontsize="small", loc="upper left")
    if title:
        figure.suptitle(title)
    return figure


def write_predicted_vs_true(results: Mapping[str, Mapping[str, Any]], names: Sequence[str],
                            path: str | Path, title: str | None = None) -> Path:
    """:func:`predicted_vs_true` written atomically (format from the suffix)."""
    target = check_writable(path)
    figure = predicted_vs_true(results, names, title)
    with atomic_path(target) as tmp:
        figure.savefig(tmp, dpi=110, format=target.suffix.lstrip(".") or "png")
    return target
