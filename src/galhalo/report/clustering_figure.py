"""Truth vs mocks, population by population: xi(r) and b(r) with ratio panels (none
for one catalog without mocks), and the outputs of ``galhalo clustering`` (table, JSON,
figures) written atomically. The satellite and small-scale outputs:
:mod:`.satellite_figure`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

from ..evaluate.bias import ClusteringComparison, PopulationSet
from ..evaluate.clustering import Correlation
from ..files import atomic_path, check_writable, write_json

_TICKS = (1, 2, 3, 5, 10, 20, 30, 50, 100)
_STYLES = ("--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))


def _ratio(mock: Correlation, truth: Correlation) -> Correlation:
    """mock / truth per bin, jackknifed copy by copy (same cubes: a paired error)."""
    def divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return a / b

    return mock.combine(truth, divide, f"{mock.statistic} ratio")


def _panels(comparison: ClusteringComparison, path: str | Path, which: str,
            ratio_limits: tuple[float, float]) -> Path:
    target = check_writable(path)
    truth = comparison.truth
    names = list(truth.populations)
    with_mocks = bool(comparison.mocks)
    figure = Figure(figsize=(3.6 * len(names) + 0.6, 5.4 if with_mocks else 3.9),
                    layout="constrained")
    grid = (figure.add_gridspec(2, len(names), height_ratios=(3, 1.3)) if with_mocks
            else figure.add_gridspec(1, len(names)))
    low, high = comparison.settings.fit_range
    for i, name in enumerate(names):
        top = figure.add_subplot(grid[0, i])
        bottom = figure.add_subplot(grid[1, i], sharex=top) if with_mocks else None
        reference = _statistic(truth, name, which)
        r = reference.centers
        scale = r**2 if which == "xi" else np.ones_like(r)
        count = int(truth.populations[name].n_points[0])
        top.errorbar(r, scale * reference.value, yerr=scale * reference.error, fmt="o", ms=3,
                     color="k", capsize=2, label=f"truth (n={count:,})")
        for j, (label, mock) in enumerate(comparison.mocks.items()):
            if name not in mock.populations:
                continue
            statistic = _statistic(mock, name, which)
            color = f"C{j}"
            top.plot(r, scale * statistic.value, ls=_STYLES[j % len(_STYLES)], color=color,
                     label=label + (f" ({mock.realizations} real.)"
                                    if mock.realizations > 1 else ""))
            ratio = _ratio(statistic, reference)
            bottom.fill_between(r, ratio.value - ratio.error, ratio.value + ratio.error,
                                color=color, alpha=0.25, lw=0)
            bottom.plot(r, ratio.value, ls=_STYLES[j % len(_STYLES)], color=color)
        ticks = [t for t in _TICKS if reference.edges[0] <= t <= reference.edges[-1]]
        for axis in (top, bottom) if bottom is not None else (top,):
            axis.axvspan(low, high, color="0.92", zorder=0)
            axis.set_xscale("log")
            axis.xaxis.set_major_locator(FixedLocator(ticks))
            axis.xaxis.set_major_formatter(ScalarFormatter())
            axis.xaxis.set_minor_formatter(NullFormatter())
        if bottom is not None:
            bottom.axhline(1.0, color="0.4", lw=0.8)
            bottom.set(ylim=ratio_limits, xlabel=r"$r$ [Mpc/$h$]", ylabel="mock / truth")
        else:
            top.set(xlabel=r"$r$ [Mpc/$h$]")
        top.set_title(name, fontsize="medium")
        if which == "xi":
            top.set(ylabel=r"$r^2 \xi(r)$ [(Mpc/$h$)$^2$]")
        else:
            top.axhline(1.0, color="0.6", lw=0.6)
            top.set(ylabel=r"$b(r) = \sqrt{\xi_{pop} / \xi_{ref}}$")
        top.legend(fontsize="x-small")
    figure.suptitle(f"{'two-point correlation' if which == 'xi' else 'relative bias'} "
                    f"(shaded: large-scale fit range {low:g}-{high:g} Mpc/h; "
                    + ("bands: paired jackknife errors)" if with_mocks
                       else "errors: jackknife)"), fontsize="medium")
    with atomic_path(target) as tmp:
        figure.savefig(tmp, dpi=110, format=target.suffix.lstrip(".") or "png")
    return target


def _statistic(measured: PopulationSet, name: str, which: str) -> Correlation:
    population = measured.populations[name]
    return population.xi if which == "xi" else population.bias


def xi_comparison(comparison: ClusteringComparison, path: str | Path) -> Path:
    """r^2 xi(r) of every population, truth (points, jackknife errors) vs each mock
    (lines), with mock / truth ratio panels; written atomically (format from suffix)."""
    return _panels(comparison, path, "xi", (0.6, 1.4))


def bias_comparison(comparison: ClusteringComparison, path: str | Path) -> Path:
    """b(r) of every population, truth vs each mock, with ratio panels; atomic write."""
    return _panels(comparison, path, "bias", (0.8, 1.2))


def write_clustering(comparison: ClusteringComparison, out_dir: str | Path) -> dict[str, Path]:
    """Write ``clustering.json`` (everything), ``clustering.csv`` (the comparison table),
    ``assembly_bias.csv`` / ``stochasticity.csv`` (when measured), ``xi.png`` and
    ``bias.png`` into ``out_dir`` (created if missing; each file written atomically).

    Returns:
        ``{kind: path}`` of the files written.
    """
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    written = {"json": write_json(directory / "clustering.json", comparison.to_dict())}
    tables = {"table": ("clustering.csv", comparison.table),
              "assembly_bias": ("assembly_bias.csv", comparison.assembly_bias),
              "stochasticity": ("stochasticity.csv", comparison.stochasticity)}
    for kind, (name, frame) in tables.items():
        if len(frame):
            target = directory / name
            with atomic_path(target) as tmp:
                frame.to_csv(tmp, index=False, float_format="%.6g")
            written[kind] = target
    written["xi"] = xi_comparison(comparison, directory / "xi.png")
    written["bias"] = bias_comparison(comparison, directory / "bias.png")
    return written
