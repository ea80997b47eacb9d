"""Satellites and small scales: figures and the files ``galhalo clustering`` writes for
a catalog with satellites (tables as CSV, everything as JSON), each written atomically.

Figures: ``wp_populations.png`` (rp wp(rp) from 0.1 Mpc/h by population), and one per
statistic: ``satellite_fraction.png``, ``satellite_profile.png`` (n(r) vs r / R_vir),
``satellite_occupation.png`` (<N_sat|M_h>, its variance, variance / mean),
``satellite_quenched.png`` (f_Q vs host mass and vs r / R_vir) and
``satellite_conformity.png``. Several catalogs (the
truth and mocks with satellites) share each figure; errors are those of the tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..evaluate.satellite_clustering import CROSS, SmallScaleClustering
from ..evaluate.satellite_statistics import SatelliteStatistics
from ..files import atomic_path, check_writable, write_json

__all__ = ["FIGURES", "conformity_figure", "conformity_panel", "occupation_figure",
           "quenched_figure", "radial_profile_figure", "satellite_fraction_figure",
           "wp_populations", "write_satellites"]

_GROUPS = (("by type", ("all", "centrals", "satellites", CROSS)),
           ("by colour", ("red", "blue", "red centrals", "blue centrals", "red satellites",
                          "blue satellites")))
_COLOURS = {"all": "k", "centrals": "C0", "satellites": "C3", CROSS: "C4", "red": "C3",
            "blue": "C0", "red centrals": "C3", "blue centrals": "C0",
            "red satellites": "C3", "blue satellites": "C0"}
_LINES = {"centrals": "--", "satellites": ":", "red": "-", "blue": "-"}
_MARKERS = ("o", "s", "^", "D", "v")


def _save(figure: Figure, path: str | Path) -> Path:
    target = check_writable(path)
    with atomic_path(target) as tmp:
        figure.savefig(tmp, dpi=110, format=target.suffix.lstrip(".") or "png")
    return target


def _line(name: str) -> str:
    return next((style for key, style in _LINES.items() if name.endswith(key)), "-")


def wp_populations(measured: Mapping[str, SmallScaleClustering], path: str | Path) -> Path:
    """rp wp(rp) of every population (one row of panels per catalog: by type with the
    centrals x satellites cross-correlation, and by colour), jackknife error bars."""
    labels = list(measured)
    figure = Figure(figsize=(9.0, 3.6 * len(labels) + 0.4), layout="constrained")
    axes = figure.subplots(len(labels), 2, squeeze=False)
    for row, label in enumerate(labels):
        result = measured[label]
        for column, (title, names) in enumerate(_GROUPS):
            axis = axes[row, column]
            for name in names:
                if name not in result.wp:
                    continue
                statistic = result.wp[name]
                rp = statistic.centers
                axis.errorbar(rp, rp * statistic.value, yerr=rp * statistic.error,
                              color=_COLOURS[name], ls=_line(name), marker="o", ms=2.5,
                              capsize=1.5, lw=1.1,
                              label=f"{name} (n={result.counts[name]:,})")
            axis.set(xscale="log", xlabel=r"$r_p$ [Mpc/$h$]",
                     ylabel=r"$r_p\, w_p(r_p)$ [(Mpc/$h$)$^2$]", title=f"{label}: {title}")
            axis.axvspan(result.settings.rp_min, 2.0, color="0.94", zorder=0)
            axis.legend(fontsize="x-small")
    settings = next(iter(measured.values())).settings
    figure.suptitle(f"projected correlation, |pi| < {settings.pi_max:g} Mpc/h along "
                    f"{settings.los} (shaded: one-halo scales < 2 Mpc/h; errors: "
                    f"jackknife, {settings.jackknife}^3 cubes)", fontsize="medium")
    return _save(figure, path)


def _by_catalog(statistics: Mapping[str, SatelliteStatistics], name: str):
    for i, (label, result) in enumerate(statistics.items()):
        frame = getattr(result, name)
        if len(frame):
            yield i, label, frame


def satellite_fraction_figure(statistics: Mapping[str, SatelliteStatistics],
                              path: str | Path) -> Path:
    """f_sat against stellar mass per catalog, binomial error bars."""
    figure = Figure(figsize=(4.8, 3.6), layout="constrained")
    axis = figure.subplots()
    for i, label, frame in _by_catalog(statistics, "fraction"):
        axis.errorbar(frame["smass_mid"], frame["f_sat"], yerr=frame["f_sat_error"],
                      marker=_MARKERS[i % len(_MARKERS)], ms=3, capsize=2, label=label)
    axis.set(xlabel=r"$\log_{10} M_*$ [$M_\odot/h$]", ylabel="satellite fraction",
             ylim=(-0.02, 1.02), title="satellite fraction (binomial errors)")
    axis.legend(fontsize="small")
    return _save(figure, path)


def radial_profile_figure(statistics: Mapping[str, SatelliteStatistics],
                          path: str | Path) -> Path:
    """Normalised satellite number density against r / R_vir (log-log), Poisson errors;
    R_vir marked."""
    figure = Figure(figsize=(4.8, 3.6), layout="constrained")
    axis = figure.subplots()
    for i, label, frame in _by_catalog(statistics, "profile"):
        shown = frame[frame["count"] > 0]
        source = statistics[label].summary.get("distance_source", "")
        axis.errorbar(shown["r_mid"], shown["density"], yerr=shown["density_error"],
                      marker=_MARKERS[i % len(_MARKERS)], ms=3, capsize=2,
                      label=f"{label} ({source})")
    axis.axvline(1.0, color="0.5", lw=0.8)
    axis.set(xscale="log", yscale="log", xlabel=r"$r / R_{vir}$",
             ylabel=r"$n(r) / N_{sat}$ [$R_{vir}^{-3}$]", title="satellite radial profile")
    axis.legend(fontsize="small")
    return _save(figure, path)


def conformity_panel(axis: Axes, statistics: Mapping[str, SatelliteStatistics]) -> None:
    """f_Q(satellites | quenched central) - f_Q(satellites | star-forming central)
    against host mass, with the combined value in the legend."""
    for i, label, frame in _by_catalog(statistics, "conformity"):
        bins = frame[frame["scope"] == "bin"]
        combined = frame[frame["scope"] == "combined"]
        text = label
        if len(combined):
            row = combined.iloc[0]
            text += f": {row['difference']:+.3f} ± {row['difference_error']:.3f}"
        axis.errorbar(0.5 * (bins["M_min"] + bins["M_max"]), bins["difference"],
                      yerr=bins["difference_error"], marker=_MARKERS[i % len(_MARKERS)],
                      ms=3, capsize=2, label=text)
    axis.axhline(0.0, color="0.5", lw=0.8)
    axis.set(xlabel=r"$\log_{10} M_h$ [$M_\odot/h$]", ylabel=r"$\Delta f_Q$ of satellites",
             title="conformity (quenched − SF central)")
    axis.legend(fontsize="x-small")


def _host_mass_axes(*axes: Axes) -> None:
    for axis in axes:
        axis.set(xlabel=r"$\log_{10} M_h$ [$M_\odot/h$]")
        axis.legend(fontsize="x-small")


def occupation_figure(statistics: Mapping[str, SatelliteStatistics],
                      path: str | Path) -> Path:
    """Three panels against host mass, one line per catalog: <N_sat | M_h> (log), its
    variance (log) and variance / mean (1 = Poisson), large-sample errors."""
    figure = Figure(figsize=(12.0, 3.8), layout="constrained")
    mean, variance, ratio = figure.subplots(1, 3)
    for i, label, frame in _by_catalog(statistics, "occupation"):
        marker = _MARKERS[i % len(_MARKERS)]
        positive = frame[frame["mean"] > 0]
        mean.errorbar(positive["M_mid"], positive["mean"], yerr=positive["mean_error"],
                      marker=marker, ms=3, capsize=2, label=label)
        varied = frame[frame["variance"] > 0]
        variance.errorbar(varied["M_mid"], varied["variance"],
                          yerr=varied["variance_error"], marker=marker, ms=3, capsize=2,
                          label=label)
        ratio.errorbar(frame["M_mid"], frame["ratio"], yerr=frame["ratio_error"],
                       marker=marker, ms=3, capsize=2, label=label)
    mean.set(yscale="log", ylabel=r"$\langle N_{sat} | M_h \rangle$",
             title="mean satellite occupation")
    variance.set(yscale="log", ylabel=r"Var$(N_{sat} | M_h)$", title="occupation variance")
    ratio.axhline(1.0, color="0.5", lw=0.8)
    ratio.set(ylabel=r"Var$(N_{sat}) / \langle N_{sat} \rangle$",
              title="occupation scatter (1 = Poisson)")
    _host_mass_axes(mean, variance, ratio)
    return _save(figure, path)


def quenched_figure(statistics: Mapping[str, SatelliteStatistics],
                    path: str | Path) -> Path:
    """Quenched fractions, one colour per catalog: satellites (filled) and centrals
    (open) against host mass, and satellites against r / R_vir (hosts as the sampling
    unit)."""
    figure = Figure(figsize=(9.0, 3.8), layout="constrained")
    by_mass, by_radius = figure.subplots(1, 2)
    for i, label, frame in _by_catalog(statistics, "quenched"):
        marker, colour = _MARKERS[i % len(_MARKERS)], f"C{i}"
        by_mass.errorbar(frame["M_mid"], frame["fq_satellites"],
                         yerr=frame["fq_satellites_error"], marker=marker, ms=3,
                         capsize=2, color=colour, label=f"{label}: satellites")
        by_mass.errorbar(frame["M_mid"], frame["fq_centrals"],
                         yerr=frame["fq_centrals_error"], marker=marker, ms=3, capsize=2,
                         color=colour, mfc="white", ls="--", label=f"{label}: centrals")
        by_mass.set_title(f"quenched fraction ({frame['quenched'].iloc[0]})")
    for i, label, frame in _by_catalog(statistics, "quenched_radius"):
        by_radius.errorbar(frame["r_mid"], frame["fq_satellites"],
                           yerr=frame["fq_satellites_error"],
                           marker=_MARKERS[i % len(_MARKERS)], ms=3, capsize=2,
                           color=f"C{i}", label=label)
    by_mass.set(ylabel=r"$f_Q$", ylim=(-0.02, 1.02))
    _host_mass_axes(by_mass)
    by_radius.axvline(1.0, color="0.5", lw=0.8)
    by_radius.set(xscale="log", xlabel=r"$r / R_{vir}$", ylabel=r"$f_Q$ of satellites",
                  ylim=(-0.02, 1.02), title="satellite quenching vs distance to host")
    by_radius.legend(fontsize="x-small")
    return _save(figure, path)


def conformity_figure(statistics: Mapping[str, SatelliteStatistics],
                      path: str | Path) -> Path:
    """:func:`conformity_panel` alone."""
    figure = Figure(figsize=(4.8, 3.6), layout="constrained")
    conformity_panel(figure.subplots(), statistics)
    return _save(figure, path)


_TABLES = {"fraction": "satellite_fraction.csv", "profile": "radial_profile.csv",
           "occupation": "occupation.csv", "quenched": "quenched_fraction.csv",
           "conformity": "conformity.csv", "quenched_radius": "quenched_radius.csv"}
#: The per-statistic figures: {kind: (file, drawing function)}.
FIGURES = {"fraction_figure": ("satellite_fraction.png", satellite_fraction_figure),
           "profile_figure": ("satellite_profile.png", radial_profile_figure),
           "occupation_figure": ("satellite_occupation.png", occupation_figure),
           "quenched_figure": ("satellite_quenched.png", quenched_figure),
           "conformity_figure": ("satellite_conformity.png", conformity_figure)}


def _write_csv(frame: pd.DataFrame, target: Path) -> Path:
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    return target


def write_satellites(measured: Mapping[str, SmallScaleClustering],
                     statistics: Mapping[str, SatelliteStatistics],
                     out_dir: str | Path, ratios: Mapping[str, Any] | None = None,
                     ) -> dict[str, Path]:
    """Write ``small_scales.csv`` (tidy wp / xi of every population and catalog),
    ``satellites.json`` (everything; with ``ratios``, the wp ratio summary of
    :meth:`~galhalo.evaluate.satellite_comparison.SatelliteComparison.to_dict` under
    ``wp_ratio``), the satellite tables (``satellite_fraction.csv``,
    ``radial_profile.csv``, ``occupation.csv``, ``quenched_fraction.csv``,
    ``conformity.csv``, ``quenched_radius.csv``; those with no rows are not written),
    ``wp_populations.png`` and the :data:`FIGURES` into ``out_dir`` (created if
    missing).

    Returns:
        ``{kind: path}`` of the files written.
    """
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if measured:
        frame = pd.concat([m.table() for m in measured.values()], ignore_index=True)
        written["small_scales"] = _write_csv(frame, directory / "small_scales.csv")
    document = {"catalogs": {
        label: {**(statistics[label].to_dict() if label in statistics else {}),
                "small_scales": measured[label].to_dict() if label in measured else None}
        for label in dict.fromkeys([*measured, *statistics])}}
    if ratios is not None:
        document["wp_ratio"] = dict(ratios)
    written["satellites_json"] = write_json(directory / "satellites.json", document)
    for name, file_name in _TABLES.items():
        frames = [s.tables()[name] for s in statistics.values() if len(getattr(s, name))]
        if frames:
            written[name] = _write_csv(pd.concat(frames, ignore_index=True),
                                       directory / file_name)
    if measured and any(m.wp for m in measured.values()):
        written["wp_figure"] = wp_populations(measured, directory / "wp_populations.png")
    if statistics:
        for kind, (file_name, draw) in FIGURES.items():
            written[kind] = draw(statistics, directory / file_name)
    return written

