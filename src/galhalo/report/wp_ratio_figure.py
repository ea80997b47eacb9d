"""wp(rp) of the truth and each mock with satellites, with mock / truth ratio panels:
``wp_ratio.png`` and ``wp_ratio.csv`` (:func:`galhalo.evaluate.satellite_comparison.
wp_ratios`), written atomically by :func:`write_wp_ratio`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..evaluate.satellite_comparison import SatelliteComparison
from ..files import atomic_path, check_writable

__all__ = ["RATIO_POPULATIONS", "wp_ratio_figure", "write_wp_ratio"]

#: Populations drawn (when measured): by type, then the colour quartiles.
RATIO_POPULATIONS = ("all", "centrals", "satellites", "color q1/4", "color q2/4",
                     "color q3/4", "color q4/4")
_STYLES = ("--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))


def _shown(comparison: SatelliteComparison) -> list[str]:
    truth = next(iter(comparison.small.values()))
    names = [name for name in RATIO_POPULATIONS if name in truth.wp]
    return names or list(truth.wp)


def wp_ratio_figure(comparison: SatelliteComparison, path: str | Path) -> Path:
    """One column per population: rp wp(rp) of the truth (points, jackknife errors) and
    the mocks (lines) on top; below, mock / truth with the truth's jackknife band around
    1 (grey) and the tolerance (dotted), the judged range unshaded. A pooled comparison
    (:func:`~galhalo.evaluate.satellite_comparison.combine_universes`) also draws each
    ratio's own error bars."""
    target = check_writable(path)
    labels = list(comparison.small)
    truth = comparison.small[labels[0]]
    names = _shown(comparison)
    figure = Figure(figsize=(3.0 * len(names) + 0.6, 5.4), layout="constrained")
    grid = figure.add_gridspec(2, len(names), height_ratios=(3, 1.6))
    low, high = comparison.rp_range
    for i, name in enumerate(names):
        top = figure.add_subplot(grid[0, i])
        bottom = figure.add_subplot(grid[1, i], sharex=top)
        reference = truth.wp[name]
        rp = reference.centers
        top.errorbar(rp, rp * reference.value, yerr=rp * reference.error, fmt="o", ms=3,
                     color="k", capsize=2, label=f"{labels[0]} (n={truth.counts[name]:,})")
        with np.errstate(divide="ignore", invalid="ignore"):
            band = reference.error / np.abs(reference.value)
        bottom.fill_between(rp, 1 - band, 1 + band, color="0.8", lw=0,
                            label=f"{labels[0]} error")
        for j, label in enumerate(labels[1:]):
            measured = comparison.small[label].wp.get(name)
            if measured is None:
                continue
            style = _STYLES[j % len(_STYLES)]
            top.plot(rp, rp * measured.value, ls=style, color=f"C{j}", label=label)
            part = comparison.ratios[(comparison.ratios["label"] == label)
                                     & (comparison.ratios["population"] == name)]
            joint = comparison.band != SatelliteComparison.band  # the ratio's own error
            bottom.errorbar(part["rp"], part["ratio"], yerr=part["error"] if joint else None,
                            ls=style, color=f"C{j}", marker=".", capsize=2, label=label)
        for level in (1 - comparison.tolerance, 1 + comparison.tolerance):
            bottom.axhline(level, color="0.4", ls=":", lw=0.8)
        bottom.axhline(1.0, color="k", lw=0.6)
        for axis in (top, bottom):
            axis.axvspan(rp[0] / 1.5, low, color="0.95", zorder=0)
            axis.axvspan(high, rp[-1] * 1.5, color="0.95", zorder=0)
        top.set(xscale="log", title=name, ylabel=r"$r_p\, w_p$ [(Mpc/$h$)$^2$]" if i == 0
                else None)
        top.legend(fontsize="xx-small")
        bottom.set(xlabel=r"$r_p$ [Mpc/$h$]", ylim=(0.7, 1.3),
                   ylabel="mock / truth" if i == 0 else None)
        if i == 0:
            bottom.legend(fontsize="xx-small")
    settings = truth.settings
    band = (f"{comparison.band} ({settings.jackknife}^3 cubes)"
            if comparison.band == SatelliteComparison.band else comparison.band)
    figure.suptitle(f"projected correlation, |pi| < {settings.pi_max:g} Mpc/h; grey band: "
                    f"the truth's error; ratios' error: {band}; dotted: "
                    f"±{100 * comparison.tolerance:g}% (judged {low:g}-{high:g} Mpc/h)",
                    fontsize="medium")
    with atomic_path(target) as tmp:
        figure.savefig(tmp, dpi=110, format=target.suffix.lstrip(".") or "png")
    return target


def write_wp_ratio(comparison: SatelliteComparison, out_dir: str | Path) -> dict[str, Path]:
    """``wp_ratio.csv`` (population, rp, label, ratio, error) and ``wp_ratio.png`` in
    ``out_dir`` when there are mocks; ``{kind: path}`` of what was written."""
    if comparison.ratios.empty:
        return {}
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    table = directory / "wp_ratio.csv"
    with atomic_path(table) as tmp:
        comparison.ratios.to_csv(tmp, index=False, float_format="%.6g")
    return {"wp_ratio_table": table,
            "wp_ratio_figure": wp_ratio_figure(comparison, directory / "wp_ratio.png")}
