"""Shared by the model figures: sample checks, axis labels, line styles, legends and the
1-D histogram of the truth with its Poisson band (private to :mod:`.model_figures`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ...catalog.schema import COLUMNS
from ...errors import ReportError

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
#: Colour of the truth's lines and contours; line styles of the models in turn.
TRUTH_COLOR = "0.35"
MODEL_STYLES = ("-", "--", "-.", ":")

Sample = pd.DataFrame | Mapping[str, Any]


# ----------------------------------------------------------------------------- inputs
def axis_label(name: str) -> str:
    """The axis label of a column (with its unit when galhalo knows the column)."""
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


def check_models(models: Mapping[str, Sample]) -> None:
    """At least one model sample, none labelled like the reference."""
    if not isinstance(models, Mapping) or not models:
        raise ReportError("need at least one model sample {label: table}")
    if TRUTH in models:
        raise ReportError(f"a model may not be labelled {TRUTH!r}: that label is the reference")


def check_levels(levels: Sequence[float]) -> tuple[float, ...]:
    """Contour levels as a tuple of probabilities in (0, 1)."""
    levels = tuple(float(p) for p in levels)
    if not levels or any(not 0 < p < 1 for p in levels):
        raise ReportError(f"contour levels must be probabilities in (0, 1), got {levels}")
    return levels


def check_bins(bins: int, smooth: float) -> None:
    """Histogram bins per axis (>= 4) and a smoothing width (bins, >= 0)."""
    if isinstance(bins, bool) or int(bins) != bins or bins < 4:
        raise ReportError(f"bins must be an integer >= 4, got {bins}")
    if not math.isfinite(smooth) or smooth < 0:
        raise ReportError(f"smooth must be a finite number of bins >= 0, got {smooth}")


def legend_handles(labels: Sequence[str], truth_label: str = TRUTH) -> list[Any]:
    """Legend entries: the truth (grey patch), then each model's line style."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(facecolor="0.7", edgecolor=TRUTH_COLOR, label=truth_label)]
    return handles + [Line2D([], [], color=f"C{i}", ls=MODEL_STYLES[i % len(MODEL_STYLES)],
                             label=label) for i, label in enumerate(labels)]


def draw_legend(ax: Axes, labels: Sequence[str], levels: tuple[float, ...]) -> None:
    """The legend of a contour figure in an otherwise empty panel."""
    percent = " / ".join(f"{100 * p:g}%" for p in levels)
    ax.legend(handles=legend_handles(labels), title=f"contours: {percent}", fontsize="small",
              title_fontsize="small", loc="center", frameon=False)


def draw_histograms(ax: Axes, truth: np.ndarray, models: Mapping[str, np.ndarray],
                    edges: np.ndarray) -> None:
    """Truth as a grey step inside its +-1 sigma Poisson band; models as lines."""
    width = np.diff(edges)
    counts = np.histogram(truth, bins=edges)[0]
    density = counts / (len(truth) * width)
    sigma = np.sqrt(counts) / (len(truth) * width)
    ax.stairs(density + sigma, edges, baseline=density - sigma, fill=True, color="0.78",
              lw=0)
    ax.stairs(density, edges, color=TRUTH_COLOR, lw=1.0)
    for k, (label, values) in enumerate(models.items()):
        model_density = np.histogram(values, bins=edges)[0] / (len(values) * width)
        ax.stairs(model_density, edges, color=f"C{k}",
                  ls=MODEL_STYLES[k % len(MODEL_STYLES)], lw=1.4, label=label)


