"""SMOGN at a glance: the target's distribution before and after augmentation, and φ(y)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..augment.smogn import SmognError, check_control_points, relevance
from ..catalog.schema import COLUMNS
from ..files import atomic_path, check_writable


def _rare_spans(grid: np.ndarray, phi: np.ndarray, threshold: float) -> list[tuple[float, float]]:
    """Intervals of ``grid`` (sorted, shape (g,)) where ``phi`` >= ``threshold``."""
    rare = phi >= threshold
    edges = np.flatnonzero(np.diff(rare.astype(np.int8))) + 1
    starts = np.r_[0, edges]
    stops = np.r_[edges, len(grid)]
    return [(float(grid[a]), float(grid[b - 1])) for a, b in zip(starts, stops, strict=True)
            if rare[a]]


def smogn_figure(before: np.ndarray, after: np.ndarray, path: str | Path, *,
                 control_points: np.ndarray, threshold: float, label: str | None = None,
                 synthetic: np.ndarray | None = None, title: str | None = None,
                 bins: int = 60) -> Path:
    """Histogram of the target before and after SMOGN over its relevance φ(y).

    Top panel: row counts per target bin (log scale) of the input (``before``), of the
    augmented table (``after``) and, if ``synthetic`` (bool mask over ``after``) is
    given, of its synthetic rows alone; rare regions (φ ≥ ``threshold``) shaded.
    Bottom panel: φ(y) through ``control_points`` (dots) and the threshold.

    Args:
        before: target values of the input table, shape (n,).
        after: target values of the augmented table, shape (n_out,).
        path: output file; format from the suffix (.png, .pdf, .svg); written atomically.
        control_points: (m, 3) rows (y, φ, slope), e.g. ``SmognResult.control_points``.
        threshold: relevance threshold of the rare rows.
        label: x-axis label (a known column name gets its unit); default "target".
        synthetic: optional bool mask of shape (n_out,).
        title: optional figure title.
        bins: histogram bins over the joint range.

    Returns:
        The resolved path written.

    Raises:
        SmognError: empty or non-finite values, mismatched ``synthetic`` or bad points.
        galhalo.files.OutputPathError: ``path`` cannot be written (checked first).
    """
    target = check_writable(path)
    points = check_control_points(control_points)
    old = np.asarray(before, dtype=np.float64).ravel()
    new = np.asarray(after, dtype=np.float64).ravel()
    for name, values in (("before", old), ("after", new)):
        if values.size == 0 or not np.isfinite(values).all():
            raise SmognError(f"{name} must hold at least one value, all finite")
    mask = None
    if synthetic is not None:
        mask = np.asarray(synthetic)
        if mask.dtype != np.bool_ or mask.shape != new.shape:
            raise SmognError(f"synthetic must be a boolean mask of shape {new.shape}, got "
                             f"dtype {mask.dtype} and shape {mask.shape}")
    low = min(old.min(), new.min(), points[0, 0])
    high = max(old.max(), new.max(), points[-1, 0])
    edges = np.linspace(low, high, bins + 1)
    grid = np.linspace(low, high, 801)
    phi = relevance(grid, points)
    xlabel = (COLUMNS[label].label if label in COLUMNS else label) if label else "target"

    figure = Figure(figsize=(6.4, 6.0), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(2.2, 1))
    for axis in (top, bottom):
        for a, b in _rare_spans(grid, phi, threshold):
            axis.axvspan(a, b, color="tab:red", alpha=0.08, lw=0)
    top.hist(old, bins=edges, histtype="step", lw=1.5, color="k",
             label=f"input ({old.size:,} rows)")
    top.hist(new, bins=edges, histtype="step", lw=1.5, color="tab:blue",
             label=f"augmented ({new.size:,})")
    if mask is not None and mask.any():
        top.hist(new[mask], bins=edges, histtype="stepfilled", alpha=0.35,
                 color="tab:orange", label=f"synthetic ({int(mask.sum()):,})")
    top.set(yscale="log", ylabel="rows per bin")
    top.legend(fontsize="small", title="shaded: rare", title_fontsize="small")
    bottom.plot(grid, phi, color="tab:red", lw=1.5, label=r"$\phi(y)$")
    bottom.plot(points[:, 0], points[:, 1], "o", color="tab:red", ms=4,
                label="control points")
    bottom.axhline(threshold, color="0.4", ls="--", lw=1, label=f"threshold {threshold:g}")
    bottom.set(xlabel=xlabel, ylabel="relevance", ylim=(-0.05, 1.05))
    bottom.legend(fontsize="small", loc="center right")
    if title:
        figure.suptitle(title)
    with atomic_path(target) as tmp:
        figure.savefig(tmp, dpi=110, format=target.suffix.lstrip(".") or "png")
    return target
