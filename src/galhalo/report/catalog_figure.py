"""One-page overview figure of a catalog: where the halos are and what their galaxies are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..catalog import Catalog
from ..catalog.schema import COLUMNS
from ..files import atomic_path, check_writable

#: Thickness (Mpc/h) of the slice shown in the position panel.
SLICE_THICKNESS = 10.0


def _binned_median(x: np.ndarray, y: np.ndarray, bins: int = 20):
    """Median of y in equal-count bins of x: (bin centres, medians, 16th, 84th pct)."""
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.digitize(x, edges) - 1, 0, len(edges) - 2)
    stats = np.array([np.percentile(y[which == i], [16, 50, 84]) if np.any(which == i)
                      else [np.nan] * 3 for i in range(len(edges) - 1)])
    centres = np.array([np.median(x[which == i]) if np.any(which == i) else np.nan
                        for i in range(len(edges) - 1)])
    return centres, stats[:, 1], stats[:, 0], stats[:, 2]


def catalog_overview(catalog: Catalog, path: str | Path, title: str | None = None) -> Path:
    """Write a 2x3-panel PNG/PDF/SVG overview of ``catalog`` (format from the suffix).

    Panels use whatever columns are present: a position slice coloured by galaxy colour
    (or halo mass), the halo-mass distribution, the stellar-to-halo-mass relation,
    colour vs sSFR, size vs stellar mass, and Delta3_h vs halo mass. Written atomically.
    """
    target = check_writable(path)
    table = catalog.table
    has = set(table.columns)
    figure = Figure(figsize=(15, 9.5), layout="constrained")
    axes = figure.subplots(2, 3).ravel()
    figure.suptitle(title or f"{catalog.meta.source or 'catalog'}: {len(catalog):,} rows")

    _slice_panel(axes[0], catalog)
    _histogram_panel(axes[1], table, "M_h")
    _relation_panel(axes[2], table, "M_h", "smass", "sSFR", has)
    _density_panel(axes[3], table, "color", "sSFR", has)
    _relation_panel(axes[4], table, "smass", "radius", "color", has)
    _relation_panel(axes[5], table, "M_h", "Delta3_h", "z_h", has, log_y=True)
    with atomic_path(target) as tmp:
        figure.savefig(tmp, dpi=110, format=target.suffix.lstrip(".") or "png")
    return target


def _missing(ax, *names: str) -> None:
    ax.text(0.5, 0.5, f"no {' / '.join(names)} column", ha="center", va="center",
            transform=ax.transAxes)
    ax.set_axis_off()


def _slice_panel(ax, catalog: Catalog) -> None:
    table = catalog.table
    if not {"x", "y", "z"} <= set(table.columns):
        _missing(ax, "position")
        return
    box = catalog.meta.box_size or float(table[["x", "y", "z"]].to_numpy().max())
    centre = 0.5 * box
    in_slice = np.abs(table["z"].to_numpy() - centre) < 0.5 * SLICE_THICKNESS
    part = table[in_slice]
    colour = "color" if "color" in table.columns else "M_h"
    size = 2.0 + 30.0 * np.clip((part["M_h"] - 11.0) / 3.0, 0, 1) if "M_h" in part else 4.0
    points = ax.scatter(part["x"], part["y"], c=part[colour], s=size, cmap="coolwarm",
                        linewidths=0, rasterized=True)
    ax.figure.colorbar(points, ax=ax, label=COLUMNS[colour].label)
    ax.set(xlim=(0, box), ylim=(0, box), aspect="equal", xlabel="x [Mpc/h]",
           ylabel="y [Mpc/h]",
           title=f"slice {centre - SLICE_THICKNESS / 2:g} < z < "
                 f"{centre + SLICE_THICKNESS / 2:g} Mpc/h")


def _histogram_panel(ax, table, name: str) -> None:
    if name not in table.columns:
        _missing(ax, name)
        return
    ax.hist(table[name], bins=60, histtype="step", color="k")
    ax.set(yscale="log", xlabel=COLUMNS[name].label, ylabel="count", title=f"{name} distribution")


def _relation_panel(ax, table, x: str, y: str, colour: str, has: set[str],
                    log_y: bool = False) -> None:
    if not {x, y} <= has:
        _missing(ax, x, y)
        return
    rng = np.random.default_rng(0)
    shown = table.iloc[rng.permutation(len(table))[:20_000]]
    points = ax.scatter(shown[x], shown[y], c=shown[colour] if colour in has else "0.4",
                        s=2, cmap="coolwarm_r" if colour == "sSFR" else "viridis",
                        linewidths=0, rasterized=True)
    if colour in has:
        ax.figure.colorbar(points, ax=ax, label=COLUMNS[colour].label)
    centres, median, low, high = _binned_median(table[x].to_numpy(), table[y].to_numpy())
    ax.plot(centres, median, color="k", lw=2, label="median")
    ax.plot(centres, low, color="k", lw=1, ls="--", label="16-84%")
    ax.plot(centres, high, color="k", lw=1, ls="--")
    ax.legend(loc="best", fontsize="small")
    ax.set(xlabel=COLUMNS[x].label, ylabel=COLUMNS[y].label, yscale="log" if log_y else "linear")


def _density_panel(ax, table, x: str, y: str, has: set[str]) -> None:
    if not {x, y} <= has:
        _missing(ax, x, y)
        return
    ax.hist2d(table[x], table[y], bins=80, cmap="Greys", norm="log", rasterized=True)
    ax.set(xlabel=COLUMNS[x].label, ylabel=COLUMNS[y].label, title="bimodality")
