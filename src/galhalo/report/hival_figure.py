"""Diagnostic figure of a HiVAl hierarchy: the classes of one level in 2-D projections,
their occupancy, and the class count and oracle PCC of every level."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..catalog.schema import COLUMNS
from ..errors import ReportError
from ..files import atomic_path, check_writable
from ..models.hival import Hierarchy

#: At most this many column pairs are drawn (all 6 pairs of 4 targets).
MAX_PROJECTIONS = 6
#: Points drawn per projection panel (a random subset beyond this).
MAX_POINTS = 30_000


def _label(name: str) -> str:
    return COLUMNS[name].label if name in COLUMNS else name


def hival_figure(hierarchy: Hierarchy, path: str | Path, points: np.ndarray | None = None,
                 level: int | None = None, title: str | None = None) -> Path:
    """Write the figure (PNG/PDF/SVG from the suffix) atomically; returns the path.

    Args:
        hierarchy: the HiVAl hierarchy.
        path: output file.
        points: (N, D) the points the hierarchy was built on (physical units), drawn
            coloured by class; without them only the generators are drawn.
        level: the level shown (default: the coarsest with oracle PCC >= 0.9).
        title: figure title.

    Panels: one per column pair (up to 6; a strip for one column) with the members of
    each class in one colour (neighbouring class ids get distant colours) and the
    generators as black dots of area proportional to the occupancy; the histogram of
    the occupancy at that level and at the levels around it; the class count per level
    with the oracle PCC of every target.
    """
    target = check_writable(path)
    level = hierarchy.coarsest_level(0.9) if level is None else hierarchy.level_index(level)
    if points is not None:
        try:
            points = np.asarray(points, dtype=float)
        except (TypeError, ValueError):
            raise ReportError("points must be a numeric (rows, columns) array") from None
        if points.shape != (hierarchy.labels.shape[1], hierarchy.dimension):
            raise ReportError(f"points must be the {hierarchy.labels.shape[1]} x "
                             f"{hierarchy.dimension} array the hierarchy was built on, "
                             f"got shape {points.shape}")
    pairs = list(itertools.combinations(range(hierarchy.dimension), 2))[:MAX_PROJECTIONS]
    panels = max(1, len(pairs)) + 2
    columns = min(3, panels)
    rows = -(-panels // columns)
    figure = Figure(figsize=(5.2 * columns, 4.4 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    count = hierarchy.counts[level]
    figure.suptitle(title or f"HiVAl: level {level} of {hierarchy.n_levels - 1}, "
                             f"{count:,} classes of {hierarchy.labels.shape[1]:,} points")
    for ax, pair in zip(axes, pairs or [(0, None)], strict=False):
        _projection(ax, hierarchy, level, points, *pair)
    _occupancy(axes[len(pairs or [0])], hierarchy, level)
    _levels(axes[len(pairs or [0]) + 1], hierarchy, level)
    for ax in axes[panels:]:
        ax.set_axis_off()
    with atomic_path(target) as tmp:
        figure.savefig(tmp, dpi=110, format=target.suffix.lstrip(".") or "png")
    return target


def _colours(n_classes: int) -> np.ndarray:
    """One colour per class id; a fixed shuffle so that neighbouring ids differ."""
    from matplotlib import colormaps

    order = np.random.default_rng(0).permutation(n_classes)
    return colormaps["hsv"](order / max(n_classes, 1))


def _projection(ax, hierarchy: Hierarchy, level: int, points: np.ndarray | None,
                i: int, j: int | None) -> None:
    names = hierarchy.names
    generators = hierarchy.generators_physical(level)
    occupancy = hierarchy.occupancy[level]
    colours = _colours(len(generators))
    rng = np.random.default_rng(1)
    if points is not None:
        shown = rng.permutation(len(points))[:MAX_POINTS]
        labels = hierarchy.labels[level][shown]
        y = points[shown, j] if j is not None else rng.random(len(shown))
        ax.scatter(points[shown, i], y, c=colours[labels], s=2, linewidths=0,
                   rasterized=True)
    size = 12.0 * occupancy / occupancy.max()
    gy = generators[:, j] if j is not None else np.full(len(generators), 0.5)
    ax.scatter(generators[:, i], gy, s=np.maximum(size, 1.0), c="k", linewidths=0)
    ax.set(xlabel=_label(names[i]), ylabel=_label(names[j]) if j is not None else "jitter",
           title="classes (colour) and generators (black)")


def _occupancy(ax, hierarchy: Hierarchy, level: int) -> None:
    shown = sorted({max(level - 2, 0), level, min(level + 2, hierarchy.n_levels - 1)})
    largest = max(int(hierarchy.occupancy[s].max()) for s in shown)
    bins = np.unique(np.geomspace(1, largest + 1, 40).astype(int))
    for s in shown:
        occupancy = hierarchy.occupancy[s]
        singles = np.mean(occupancy == 1)
        ax.hist(occupancy, bins=bins, histtype="step", lw=2 if s == level else 1,
                label=f"level {s}: {len(occupancy):,} classes, {singles:.0%} singletons")
    ax.set(xscale="log", yscale="log", xlabel="members per class", ylabel="classes",
           title="occupancy")
    ax.legend(fontsize="small")


def _levels(ax, hierarchy: Hierarchy, level: int) -> None:
    levels = np.arange(hierarchy.n_levels)
    ax.plot(levels, hierarchy.counts, "k-o", ms=3)
    ax.axvline(level, color="0.6", ls=":")
    ax.set(yscale="log", xlabel="level", ylabel="classes", title="classes and oracle PCC")
    twin = ax.twinx()
    for column, name in enumerate(hierarchy.names):
        twin.plot(levels, hierarchy.oracle_pcc[:, column], lw=1, label=name)
    twin.set(ylabel="oracle PCC", ylim=(min(0.0, hierarchy.oracle_pcc.min()), 1.02))
    twin.legend(fontsize="small", loc="lower left")
