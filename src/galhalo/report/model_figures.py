"""Figures of conditional models against the truth, for the HTML report.

Every function returns a matplotlib :class:`~matplotlib.figure.Figure` (no pyplot state,
nothing written): :mod:`galhalo.report.build` embeds them in the report.

* :func:`corner_figure`: truth vs one or more models; lower triangle 2-D contours at
  fixed enclosed-probability levels (:data:`LEVELS`), diagonal 1-D histograms;
* :func:`scenario_contours`: one panel per scenario (a halo-mass bin, ...) of a target
  pair, stellar mass vs colour by default, as in the published figures;
* :func:`marginal_histograms`: 1-D distribution of every target, truth with its
  Poisson band, each model as a line;
* :func:`calibration_figure`: PIT histograms against the flat expectation and its
  binomial band, and the coverage of the central 68 / 95 % regions vs nominal;
* :func:`importance_figure`: permutation feature importance with error bars;
* :func:`loss_curves`: training and validation loss per epoch of each model.

Samples are tables (DataFrame or ``{column: array}``): the truth holds the catalog's
true values, a model's sample its draws (a mock catalog: many rows per halo allowed).
The calibration and importance figures read :func:`galhalo.evaluate.run.evaluate_model`
results; nothing is recomputed here.

Contour levels: the 2-D histogram of a sample (``bins`` per axis over the panel's
range, smoothed by a Gaussian of ``smooth`` bins) gives a probability per cell; the
level of probability p is the cell value above which the cells hold a fraction p of the
sample (:func:`enclosed_levels`: the highest-density region). Binning and smoothing
widen the density by a variance h^2 / 12 + (smooth h)^2 per axis (h = bin width): for a
unit Gaussian and the default 40 bins over ~6 sd that is ~2 %, so a drawn 68 % contour
encloses ~68.8 % of the true probability.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import ndimage

from ..columns import COLUMNS
from ..errors import ReportError
from ..evaluate.scenarios import Scenario, ScenarioError

#: Enclosed probabilities of the drawn contours (outer contour last).
LEVELS = (0.68, 0.95)
#: Histogram bins per axis of a 2-D panel.
BINS = 40
#: Gaussian smoothing of the 2-D histograms, in bins.
SMOOTH = 1.0
#: Below this many points a 2-D sample is shown as points, not contours.
MIN_CONTOUR_POINTS = 100
#: Percentiles of the pooled samples that set a panel's range (then padded by 10 %).
RANGE_PERCENTILES = (0.5, 99.5)
#: Label of the reference sample.
TRUTH = "truth"
_TRUTH_COLOR = "0.35"
_MODEL_STYLES = ("-", "--", "-.", ":")

Sample = pd.DataFrame | Mapping[str, Any]



# ----------------------------------------------------------------------------- inputs
def _label(name: str) -> str:
    return COLUMNS[name].label if name in COLUMNS else name


def sample_columns(sample: Sample, columns: Sequence[str], who: str) -> np.ndarray:
    """Columns of a sample as a finite float array (rows, len(columns)).

    Raises :class:`ReportError` naming ``who`` and the column when a column is missing,
    not numeric or holds NaN/inf, or when the sample has no rows.
    """
    if not isinstance(sample, pd.DataFrame | Mapping):
        raise ReportError(f"{who}: expected a table of columns, got {type(sample).__name__}")
    missing = [c for c in columns if c not in sample]
    if missing:
        raise ReportError(f"{who} lacks columns {missing} (it has: "
                          f"{', '.join(map(str, sample.keys()))})")
    out = []
    for name in columns:
        try:
            values = np.asarray(sample[name], dtype=float).ravel()
        except (TypeError, ValueError):
            raise ReportError(f"{who}: column {name!r} is not numeric") from None
        bad = ~np.isfinite(values)
        if bad.any():
            raise ReportError(f"{who}: column {name!r} has {int(bad.sum())} NaN or inf values")
        out.append(values)
    lengths = {len(v) for v in out}
    if len(lengths) > 1:
        raise ReportError(f"{who}: columns have different lengths {sorted(lengths)}")
    matrix = np.column_stack(out) if out else np.empty((0, 0))
    if len(matrix) == 0:
        raise ReportError(f"{who} has no rows")
    return matrix


def _check_models(models: Mapping[str, Sample]) -> None:
    if not isinstance(models, Mapping) or not models:
        raise ReportError("need at least one model sample {label: table}")
    if TRUTH in models:
        raise ReportError(f"a model may not be labelled {TRUTH!r}: that label is the reference")


def _check_levels(levels: Sequence[float]) -> tuple[float, ...]:
    levels = tuple(float(p) for p in levels)
    if not levels or any(not 0 < p < 1 for p in levels):
        raise ReportError(f"contour levels must be probabilities in (0, 1), got {levels}")
    return levels


def _check_bins(bins: int, smooth: float) -> None:
    if isinstance(bins, bool) or int(bins) != bins or bins < 4:
        raise ReportError(f"bins must be an integer >= 4, got {bins}")
    if not math.isfinite(smooth) or smooth < 0:
        raise ReportError(f"smooth must be a finite number of bins >= 0, got {smooth}")


# ----------------------------------------------------------------------------- densities
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
    probabilities = _check_levels(probabilities)
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


def _contours(ax: Axes, x: np.ndarray, y: np.ndarray, x_edges: np.ndarray,
              y_edges: np.ndarray, *, levels: tuple[float, ...], smooth: float, color: str,
              style: Any, filled: bool, gid: str) -> None:
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


def _handles(labels: Sequence[str], truth_label: str = TRUTH) -> list[Any]:
    """Legend entries: the truth (grey patch), then each model's line style."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(facecolor="0.7", edgecolor=_TRUTH_COLOR, label=truth_label)]
    return handles + [Line2D([], [], color=f"C{i}", ls=_MODEL_STYLES[i % len(_MODEL_STYLES)],
                             label=label) for i, label in enumerate(labels)]


def _legend(ax: Axes, labels: Sequence[str], levels: tuple[float, ...]) -> None:
    percent = " / ".join(f"{100 * p:g}%" for p in levels)
    ax.legend(handles=_handles(labels), title=f"contours: {percent}", fontsize="small",
              title_fontsize="small", loc="center", frameon=False)


# ----------------------------------------------------------------------------- figures
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
    levels = _check_levels(levels)
    _check_bins(bins, smooth)
    _check_models(models)
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
                _histograms(ax, true[:, j], {k: m[:, j] for k, m in drawn.items()}, edges[j])
                ax.set_yticks([])
            else:
                gid = f"contour:{TRUTH}:{columns[j]}:{columns[i]}"
                _contours(ax, true[:, j], true[:, i], edges[j], edges[i], levels=levels,
                          smooth=smooth, color=_TRUTH_COLOR, style="-", filled=True, gid=gid)
                for k, (label, m) in enumerate(drawn.items()):
                    _contours(ax, m[:, j], m[:, i], edges[j], edges[i], levels=levels,
                              smooth=smooth, color=f"C{k}",
                              style=_MODEL_STYLES[k % len(_MODEL_STYLES)], filled=False,
                              gid=f"contour:{label}:{columns[j]}:{columns[i]}")
                ax.set_ylim(edges[i][0], edges[i][-1])
            ax.set_xlim(edges[j][0], edges[j][-1])
            if i == d - 1:
                ax.set_xlabel(_label(columns[j]))
            else:
                ax.tick_params(labelbottom=False)
            if j == 0 and i > 0:
                ax.set_ylabel(_label(columns[i]))
            elif j > 0:
                ax.tick_params(labelleft=False)
    _legend(axes[0, d - 1], list(drawn), levels)
    figure.suptitle(title or f"truth ({len(true):,} rows) vs model draws")
    return figure


def _histograms(ax: Axes, truth: np.ndarray, models: Mapping[str, np.ndarray],
                edges: np.ndarray) -> None:
    """Truth as a grey step inside its +-1 sigma Poisson band; models as lines."""
    width = np.diff(edges)
    counts = np.histogram(truth, bins=edges)[0]
    density = counts / (len(truth) * width)
    sigma = np.sqrt(counts) / (len(truth) * width)
    ax.stairs(density + sigma, edges, baseline=density - sigma, fill=True, color="0.78",
              lw=0)
    ax.stairs(density, edges, color=_TRUTH_COLOR, lw=1.0)
    for k, (label, values) in enumerate(models.items()):
        model_density = np.histogram(values, bins=edges)[0] / (len(values) * width)
        ax.stairs(model_density, edges, color=f"C{k}",
                  ls=_MODEL_STYLES[k % len(_MODEL_STYLES)], lw=1.4, label=label)


def marginal_histograms(truth: Sample, models: Mapping[str, Sample], columns: Sequence[str],
                        *, bins: int = 50, title: str | None = None) -> Figure:
    """1-D distribution of each column: truth (grey, with its +-1 sigma Poisson band)
    and each model's draws (lines), density-normalised, one panel per column."""
    _check_bins(bins, 0.0)
    _check_models(models)
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
        _histograms(ax, true[:, j], {k: m[:, j] for k, m in drawn.items()}, edges)
        ax.set(xlabel=_label(name), ylabel="density" if j == 0 else None,
               xlim=(edges[0], edges[-1]))
    figure.legend(handles=_handles(list(drawn), f"{TRUTH} (band: +-1 sigma Poisson)"),
                  loc="outside upper center", ncols=len(drawn) + 1, fontsize="small",
                  frameon=False)
    if title:
        figure.suptitle(title)
    return figure


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
    levels = _check_levels(levels)
    _check_bins(bins, smooth)
    _check_models(models)
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
        _contours(ax, t[:, 0], t[:, 1], edges[0], edges[1], levels=levels, smooth=smooth,
                  color=_TRUTH_COLOR, style="-", filled=True, gid=f"contour:{TRUTH}:{s.name}")
        for k, (label, m) in enumerate(ms.items()):
            if len(m) == 0:
                ax.text(0.02, 0.98 - 0.07 * k, f"{label}: no rows", transform=ax.transAxes,
                        va="top", fontsize="small", color=f"C{k}")
                continue
            _contours(ax, m[:, 0], m[:, 1], edges[0], edges[1], levels=levels, smooth=smooth,
                      color=f"C{k}", style=_MODEL_STYLES[k % len(_MODEL_STYLES)], filled=False,
                      gid=f"contour:{label}:{s.name}")
        ax.set(xlim=(edges[0][0], edges[0][-1]), ylim=(edges[1][0], edges[1][-1]),
               xlabel=_label(pair[0]), ylabel=_label(pair[1]))
        ax.set_title(f"{s.label()}\n{len(t):,} halos", fontsize="small")
    for ax in axes[len(scenarios):]:
        ax.set_axis_off()
    if len(axes) > len(scenarios):
        _legend(axes[-1], list(drawn), levels)
    else:
        figure.legend(handles=_handles(list(drawn)), loc="outside lower center",
                      ncols=len(drawn) + 1, fontsize="small", frameon=False)
    percent = " / ".join(f"{100 * p:g}%" for p in levels)
    figure.suptitle(title or f"{pair[1]} vs {pair[0]} per scenario ({percent} contours)")
    return figure


# ----------------------------------------------------------------------------- from results
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


def importance_figure(results: Mapping[str, Mapping[str, Any]]) -> Figure:
    """Permutation feature importance: drop in held-out log-likelihood (nats per object)
    and in PCC per target when each condition column is shuffled; bars per model, error
    bars = standard error over the permutation rounds.

    Raises:
        ReportError: no result carries an importance.
    """
    if not isinstance(results, Mapping) or not results:
        raise ReportError("importance_figure needs {model label: evaluate_model result}")
    found = {label: r["importance"] for label, r in results.items()
             if isinstance(r, Mapping) and r.get("importance")}
    if not found:
        raise ReportError("no result holds a feature importance (evaluate with "
                          "importance=True)")
    panels: list[tuple[str, dict[str, dict[str, Any]]]] = []
    if any("log_likelihood" in imp for imp in found.values()):
        panels.append(("log-likelihood drop [nats]",
                       {label: imp.get("log_likelihood", {}) for label, imp in found.items()}))
    targets = list(dict.fromkeys(t for imp in found.values() for t in imp.get("pcc", {})))
    for target in targets:
        panels.append((f"PCC drop: {target}", {label: imp.get("pcc", {}).get(target, {})
                                               for label, imp in found.items()}))
    figure = Figure(figsize=(3.3 * len(panels) + 0.4, 3.4), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    width = 0.8 / len(found)
    for ax, (name, by_model) in zip(axes, panels, strict=True):
        features = list(dict.fromkeys(c for values in by_model.values() for c in values))
        positions = np.arange(len(features))
        for k, (label, values) in enumerate(by_model.items()):
            where = [i for i, c in enumerate(features) if c in values]
            heights = [values[features[i]].get("value") or 0.0 for i in where]
            errors = [values[features[i]].get("error") or 0.0 for i in where]
            ax.bar(positions[where] + (k - (len(found) - 1) / 2) * width, heights, width,
                   yerr=errors, capsize=2, color=f"C{k}", label=label)
        ax.axhline(0.0, color="0.3", lw=0.8)
        ax.set_xticks(positions, features, rotation=30, fontsize="small")
        ax.set_title(name, fontsize="small")
    axes[0].legend(fontsize="small")
    rows = ", ".join(f"{label} {imp.get('rows', '?')}" for label, imp in found.items())
    figure.suptitle(f"permutation importance of the condition columns (rows: {rows})",
                    fontsize="medium")
    return figure


def loss_curves(histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> Figure:
    """Training and validation loss per epoch, one panel per model; the best validation
    epoch (the weights kept) is marked. Losses are the training loop's (NLL per row of
    the scaled targets), comparable within a model, not across families.

    Args:
        histories: ``{label: [{"epoch", "train", "valid", ...}, ...]}`` (a model's
            ``history``, saved as history.json in its directory).

    Raises:
        ReportError: no history, or entries without epoch/train/valid.
    """
    histories = {label: h for label, h in histories.items() if h}
    if not histories:
        raise ReportError("no model has a training history")
    figure = Figure(figsize=(3.8 * len(histories) + 0.4, 3.2), layout="constrained")
    axes = figure.subplots(1, len(histories), squeeze=False)[0]
    for ax, (label, history) in zip(axes, histories.items(), strict=True):
        try:
            epoch = np.array([float(h["epoch"]) for h in history])
            train = np.array([float(h["train"]) for h in history])
            valid = np.array([float(h["valid"]) for h in history])
        except (KeyError, TypeError, ValueError):
            raise ReportError(f"history of {label!r}: every entry needs numeric 'epoch', "
                              "'train' and 'valid'") from None
        ax.plot(epoch, train, "-o", ms=2.5, color="C0", label="train")
        ax.plot(epoch, valid, "-s", ms=2.5, color="C1", label="validation")
        finite = np.isfinite(valid)
        if finite.any():
            best = int(np.flatnonzero(finite)[np.argmin(valid[finite])])
            ax.axvline(epoch[best], color="0.5", ls=":", lw=1)
            ax.plot(epoch[best], valid[best], "*", color="C3", ms=10,
                    label=f"best epoch {epoch[best]:g}")
        ax.set(xlabel="epoch", ylabel="loss (NLL per row, scaled targets)", title=label)
        ax.legend(fontsize="small")
    return figure
