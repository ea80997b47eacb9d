"""One panel per scenario (a halo-mass bin, ...): 2-D contours of a target pair, truth vs models."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ...errors import ReportError
from ...evaluate.scenarios import Scenario, ScenarioError
from ._base import (
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
    draw_legend,
    legend_handles,
    sample_columns,
)
from .contours import draw_contours, panel_range


def scenario_contours(truth: Sample, models: Mapping[str, Sample],
                      scenarios: Sequence[Scenario],
                      pair: tuple[str, str] = ("smass", "color"), *,
                      levels: Sequence[float] = LEVELS, bins: int = 30,
                      smooth: float = SMOOTH, columns: int = 3,
                      title: str | None = None) -> Figure:
    """One panel per scenario: 2-D contours of a target pair, truth vs models.

    As in the published figures (stellar mass vs colour per halo-mass bin). Rows of
    the truth and of every model sample are selected by each scenario's clauses, so the
    samples must hold the columns the scenarios read (a mock catalog keeps its halo
    columns). Each panel has its own range.

    Args:
        truth: true values, with the pair and the scenario columns.
        models: ``{label: mock table}`` with the same columns.
        scenarios: the selections (:class:`~galhalo.evaluate.scenarios.Scenario`).
        pair: (x column, y column).
        columns: panels per figure row.

    Raises:
        ReportError: a scenario that selects no truth row, missing columns, NaN/inf.
    """
    levels = check_levels(levels)
    check_bins(bins, smooth)
    check_models(models)
    scenarios = list(scenarios)
    if not scenarios:
        raise ReportError("scenario_contours needs at least one scenario")
    if len(pair) != 2 or pair[0] == pair[1]:
        raise ReportError(f"pair must name two different columns, got {pair}")
    true = sample_columns(truth, pair, TRUTH)
    drawn = {label: sample_columns(s, pair, f"model {label!r}") for label, s in models.items()}
    masks = []
    for s in scenarios:
        try:
            truth_mask = s.mask(truth)
            model_masks = {label: s.mask(models[label]) for label in drawn}
        except ScenarioError as err:
            raise ReportError(str(err)) from None
        if not truth_mask.any():
            raise ReportError(f"scenario {s.label()} selects no row of the truth sample")
        masks.append((truth_mask, model_masks))
    n_cols = max(1, min(int(columns), len(scenarios)))
    n_rows = math.ceil(len(scenarios) / n_cols)
    figure = Figure(figsize=(3.6 * n_cols + 0.4, 3.3 * n_rows + 0.8), layout="constrained")
    axes = figure.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, s, (truth_mask, model_masks) in zip(axes, scenarios, masks, strict=False):
        t = true[truth_mask]
        ms = {label: m[model_masks[label]] for label, m in drawn.items()}
        edges = [np.linspace(*panel_range(t[:, j], *(m[:, j] for m in ms.values() if len(m))),
                             bins + 1) for j in (0, 1)]
        draw_contours(ax, t[:, 0], t[:, 1], edges[0], edges[1], levels=levels, smooth=smooth,
                  color=TRUTH_COLOR, style="-", filled=True, gid=f"contour:{TRUTH}:{s.name}")
        for k, (label, m) in enumerate(ms.items()):
            if len(m) == 0:
                ax.text(0.02, 0.98 - 0.07 * k, f"{label}: no rows", transform=ax.transAxes,
                        va="top", fontsize="small", color=f"C{k}")
                continue
            draw_contours(ax, m[:, 0], m[:, 1], edges[0], edges[1], levels=levels, smooth=smooth,
                      color=f"C{k}", style=MODEL_STYLES[k % len(MODEL_STYLES)], filled=False,
                      gid=f"contour:{label}:{s.name}")
        ax.set(xlim=(edges[0][0], edges[0][-1]), ylim=(edges[1][0], edges[1][-1]),
               xlabel=axis_label(pair[0]), ylabel=axis_label(pair[1]))
        ax.set_title(f"{s.label()}\n{len(t):,} halos", fontsize="small")
    for ax in axes[len(scenarios):]:
        ax.set_axis_off()
    if len(axes) > len(scenarios):
        draw_legend(axes[-1], list(drawn), levels)
    else:
        figure.legend(handles=legend_handles(list(drawn)), loc="outside lower center",
                      ncols=len(drawn) + 1, fontsize="small", frameon=False)
    percent = " / ".join(f"{100 * p:g}%" for p in levels)
    figure.suptitle(title or f"{pair[1]} vs {pair[0]} per scenario ({percent} contours)")
    return figure


