"""Calibration from evaluate_model results: conditional PIT histograms against the flat
expectation, and coverage of the central 68 / 95 % regions against nominal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ...errors import ReportError


def _scenario_entry(result: Mapping[str, Any], scenario: str, label: str) -> Mapping[str, Any]:
    entries = result.get("scenarios") if isinstance(result, Mapping) else None
    if not isinstance(entries, Mapping):
        raise ReportError(f"result {label!r} is not an evaluate_model result (no 'scenarios')")
    if scenario not in entries:
        raise ReportError(f"result {label!r} has no scenario {scenario!r} (it has: "
                          f"{', '.join(entries)})")
    return entries[scenario]


def calibration_figure(results: Mapping[str, Mapping[str, Any]], scenario: str = "whole",
                       ) -> Figure:
    """PIT histograms and coverage, one row per model, from evaluate_model results.

    Each PIT panel shows the counts per bin, the flat expectation n / B and the
    binomial band expected +- 1 and +- 2 sd (sd = sqrt(n (1/B)(1 - 1/B))); the last
    panel of a row shows the fraction of true values inside the model's central 68 %
    and 95 % regions per target, with binomial error bars, against the nominal levels.

    Raises:
        ReportError: a result without the scenario or without PIT histograms.
    """
    if not isinstance(results, Mapping) or not results:
        raise ReportError("calibration_figure needs {model label: evaluate_model result}")
    rows = []
    for label, result in results.items():
        entry = _scenario_entry(result, scenario, label)
        histograms = entry.get("details", {}).get("pit_histogram")
        if not histograms:
            raise ReportError(f"result {label!r}, scenario {scenario!r}: no PIT histograms "
                              "(evaluate with the 'pit' metric)")
        rows.append((label, histograms, entry.get("metrics", {})))
    n_targets = max(len(h) for _, h, _ in rows)
    figure = Figure(figsize=(2.6 * n_targets + 3.4, 2.4 * len(rows) + 0.7),
                    layout="constrained")
    grid = figure.add_gridspec(len(rows), n_targets + 1,
                               width_ratios=[1.0] * n_targets + [1.3])
    for r, (label, histograms, metrics) in enumerate(rows):
        for j, (target, h) in enumerate(histograms.items()):
            ax = figure.add_subplot(grid[r, j])
            edges, counts = np.asarray(h["edges"]), np.asarray(h["counts"])
            expected, sd = float(h["expected"]), float(h["expected_sd"])
            ax.axhspan(expected - 2 * sd, expected + 2 * sd, color="C2", alpha=0.15, lw=0)
            ax.axhspan(expected - sd, expected + sd, color="C2", alpha=0.25, lw=0)
            ax.axhline(expected, color="C2", lw=1)
            ax.stairs(counts, edges, color=f"C{r}", lw=1.6, baseline=None)
            ax.set(xlim=(0, 1), ylim=(0, max(counts.max(), expected + 3 * sd) * 1.08))
            ax.set_title(f"{label}: {target}", fontsize="small")
            if r == len(rows) - 1:
                ax.set_xlabel("PIT")
            if j == 0:
                ax.set_ylabel("rows per bin")
        _coverage_panel(figure.add_subplot(grid[r, n_targets]), label, list(histograms),
                        metrics, r)
    figure.suptitle(f"calibration, scenario {scenario!r} (green: flat expectation, "
                    "+-1 and +-2 binomial sd)", fontsize="medium")
    return figure


def _coverage_panel(ax: Axes, label: str, targets: list[str], metrics: Mapping[str, Any],
                    row: int) -> None:
    positions = np.arange(len(targets))
    for offset, (key, nominal, marker) in zip((-0.12, 0.12), (("coverage68", 0.68, "o"),
                                                               ("coverage95", 0.95, "s")),
                                              strict=True):
        values = metrics.get(key, {})
        shown = [(p, values[t]) for p, t in zip(positions, targets, strict=True)
                 if t in values and values[t].get("value") is not None]
        ax.axhline(nominal, color="0.5", ls="--", lw=0.8)
        if shown:
            ax.errorbar([p + offset for p, _ in shown], [e["value"] for _, e in shown],
                        yerr=[e.get("error") or 0.0 for _, e in shown], fmt=marker,
                        color=f"C{row}", ms=4, capsize=2, label=f"{round(100 * nominal)}%")
    ax.set_xticks(positions, targets, fontsize="small")
    lowest = min([0.45, *(float(np.min(line.get_ydata())) for line in ax.lines
                          if len(line.get_ydata()))])
    ax.set(ylim=(lowest - 0.05, 1.02), ylabel="coverage", xlim=(-0.5, len(targets) - 0.5))
    ax.set_title(f"{label}: coverage vs nominal (dashed)", fontsize="small")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="x-small", loc="lower left")


