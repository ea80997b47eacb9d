"""Figures of a survey classifier's evaluation (``galhalo survey evaluate``), drawn from
its ``metrics.json`` (:func:`galhalo.photometry.survey_evaluation.survey_scores` made
strict JSON: an undefined score is ``null``).

:func:`write_survey_figures` writes four PNGs (110 dpi, atomically) into a directory:

* ``f1_by_r.png``: F1 per r bin, one panel per class, the published
  Martínez-Solaeche et al. 2023 ANN1 values drawn beside for the quasar classes;
* ``purity_completeness.png``: purity against completeness of the high-z quasars
  selected by a threshold on p(qso_high), the best-F1 point marked;
* ``confusion.png``: the confusion matrix, row fractions coloured, counts written;
* ``reliability.png``: the reliability diagram (accuracy against mean top-class
  probability per bin) with the expected calibration error.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..files import atomic_path

__all__ = ["DPI", "FIGURES", "write_survey_figures"]

#: Resolution of the written PNGs (the report embeds them pixel for pixel).
DPI = 110
#: File name -> caption of each figure, in the order they are shown.
FIGURES = {
    "f1_by_r.png": "F1 per class in true-r bins (points: this model, numbers: true sources "
                   "in the bin; open squares: Martínez-Solaeche+2023 ANN1 on J-PAS mocks)",
    "purity_completeness.png": "High-z quasars (z > 2.1) selected by p(qso_high) >= t: "
                               "purity against completeness over the thresholds t",
    "confusion.png": "Confusion matrix: rows the true class, columns the predicted one "
                     "(colour and first number: fraction of the row; second: count)",
    "reliability.png": "Reliability of the class probabilities: fraction correct against "
                       "the mean top-class probability per bin",
}


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _save(figure: Figure, target: Path) -> Path:
    with atomic_path(target) as tmp:
        figure.savefig(tmp, dpi=DPI, format="png")
    return target


def _f1_by_r(metrics: Mapping[str, Any], classes: list[str], published: Mapping) -> Figure:
    bins = metrics["classes"]["bins"]
    labels = [f"{b['low']:g}-{b['high']:g}" for b in bins]
    x = np.arange(len(bins))
    figure = Figure(figsize=(3.0 * len(classes), 3.2), layout="constrained")
    axes = figure.subplots(1, len(classes), sharey=True)
    for ax, name in zip(np.atleast_1d(axes), classes, strict=True):
        f1 = [_number(b["scores"][name]["f1"]) for b in bins]
        support = [int(b["scores"][name]["support"]) for b in bins]
        ax.plot(x, f1, "o-", color="C0", label="this model")
        for xi, yi, n in zip(x, f1, support, strict=True):
            if np.isfinite(yi):
                ax.annotate(f"{n:,}", (xi, yi), textcoords="offset points", xytext=(0, -13),
                            ha="center", fontsize="x-small", color="C0")
        if name in published:
            ax.plot(x, published[name], "s--", mfc="none", color="C3", label="M-S+23 ANN1")
        ax.set_title(name)
        ax.set_xticks(x, labels)
        ax.set_xlabel("true r (AB)")
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    first = np.atleast_1d(axes)[0]
    first.set_ylabel("F1")
    handles, names = [], []
    for ax in np.atleast_1d(axes):
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in names:
                handles.append(handle)
                names.append(label)
    first.legend(handles, names, loc="lower left", fontsize="small")
    return figure


def _purity_completeness(metrics: Mapping[str, Any]) -> Figure:
    curve = metrics["qso_high_curve"]
    purity = np.array([_number(v) for v in curve["purity"]])
    completeness = np.array([_number(v) for v in curve["completeness"]])
    figure = Figure(figsize=(4.6, 4.0), layout="constrained")
    ax = figure.subplots()
    ax.plot(completeness, purity, "-", color="C0")
    best = metrics.get("qso_high_best")
    if best:
        ax.plot([best["completeness"]], [best["purity"]], "o", color="C3",
                label=f"best F1 {best['f1']:.2f} at p >= {best['threshold']:.2f}")
        ax.legend(loc="lower left", fontsize="small")
    ax.set_xlabel("completeness")
    ax.set_ylabel("purity")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("high-z quasars (z > 2.1)")
    ax.grid(alpha=0.3)
    return figure


def _confusion(metrics: Mapping[str, Any], classes: list[str]) -> Figure:
    fraction = np.array([[_number(v) for v in row] for row in metrics["confusion"]])
    counts = np.asarray(metrics["confusion_counts"], dtype=int)
    figure = Figure(figsize=(4.8, 4.2), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(np.nan_to_num(fraction), cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            shown = "-" if not np.isfinite(fraction[i, j]) else f"{fraction[i, j]:.2f}"
            ax.text(j, i, f"{shown}\n{counts[i, j]:,}", ha="center", va="center",
                    fontsize="small",
                    color="white" if np.nan_to_num(fraction[i, j]) > 0.6 else "black")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    figure.colorbar(image, ax=ax, label="fraction of the true class")
    return figure


def _reliability(metrics: Mapping[str, Any]) -> Figure:
    curve = metrics["reliability"]
    confidence = np.array([_number(v) for v in curve["confidence"]])
    accuracy = np.array([_number(v) for v in curve["accuracy"]])
    count = np.asarray(curve["count"], dtype=float)
    edges = np.linspace(0, 1, len(count) + 1)
    figure = Figure(figsize=(4.6, 4.6), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    top.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
    filled = np.isfinite(confidence)
    top.plot(confidence[filled], accuracy[filled], "o-", color="C0",
             label=f"this model (ECE {_number(metrics.get('ece')):.3f})")
    top.set_ylabel("fraction correct")
    top.set_ylim(-0.02, 1.02)
    top.legend(loc="upper left", fontsize="small")
    top.grid(alpha=0.3)
    bottom.bar(edges[:-1], count, width=np.diff(edges), align="edge", color="C0", alpha=0.6)
    bottom.set_yscale("log" if count.max(initial=0) > 0 else "linear")
    bottom.set_xlabel("top-class probability")
    bottom.set_ylabel("sources")
    return figure


def write_survey_figures(metrics: Mapping[str, Any], directory: str | Path,
                         classes: list[str], published: Mapping[str, Any]) -> list[Path]:
    """Write the four figures of :data:`FIGURES` into ``directory`` (atomically each);
    returns their paths in that order.

    Args:
        metrics: the ``scores`` of a survey ``metrics.json`` (strict JSON, None where
            undefined).
        classes: the class names, in the classifier's order.
        published: {class: F1 per r bin} drawn beside ours.
    """
    directory = Path(directory)
    drawn = {"f1_by_r.png": _f1_by_r(metrics, list(classes), published),
             "purity_completeness.png": _purity_completeness(metrics),
             "confusion.png": _confusion(metrics, list(classes)),
             "reliability.png": _reliability(metrics)}
    return [_save(drawn[name], directory / name) for name in FIGURES]
