"""The sections of the evaluation report page, in reading order.

:func:`galhalo.report.build.build_report` checks the input, evaluates the models and
draws their mocks, then hands them here:

1. :func:`verdict_section`: the verdict first (:mod:`.verdict`: one row per scenario and
   model, one coloured column per metric group, the distance to the noise floor in
   standard errors), then :func:`region_section`: the NLL gap by halo-mass bin and sSFR
   population (where each model fails);
2. :func:`figure_sections`: corner plot, per-scenario contours, 1-D histograms,
   calibration, feature importance, loss curves;
3. :func:`clustering_section`: xi(r) and b(r) and the bias table (with a clustering
   comparison); :func:`satellites_section`: wp(rp) ratios and the satellite statistics
   (with a satellite comparison);
4. folded (``<details>``): :func:`comparison_section` (every metric of every scenario,
   models as columns), :func:`model_section` per model (configuration, every metric on
   the first scenario), :func:`provenance_section` (catalog, models, settings, versions).
"""

from __future__ import annotations

import math
import platform
import shlex
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .. import __version__
from ..catalog import Catalog
from ..evaluate.bias import ClusteringComparison
from ..evaluate.run import METRICS, catalog_fingerprint, compare, results_table
from ..evaluate.scenarios import Scenario
from . import model_figures as mf
from . import verdict
from .html import HtmlReport
from .numbers import format_value


@dataclass
class Entry:
    """One model of the report: the model, where it came from, its results and mock."""

    label: str
    model: Any
    source: str
    result: dict[str, Any] | None = None
    mock: pd.DataFrame | None = None
    draws_per_row: int = 0

    @property
    def figure_label(self) -> str:
        """The label in figures, where ``truth`` names the catalog's true values."""
        return "truth model" if self.label == mf.TRUTH else self.label


# ----------------------------------------------------------------------------- provenance
def _versions() -> dict[str, str]:
    out = {"galhalo": __version__, "python": platform.python_version()}
    for package in ("numpy", "pandas", "scipy", "matplotlib", "torch", "zuko", "scikit-learn"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return out


def _default_command() -> str:
    if not sys.argv or not sys.argv[0]:
        return "(interactive)"
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])


# ----------------------------------------------------------------------------- tables
def _key_values(pairs: Iterable[tuple[str, Any]]) -> pd.DataFrame:
    items = list(pairs)
    return pd.DataFrame({"value": [str(v) for _, v in items]},
                        index=pd.Index([k for k, _ in items], name="item"))


def _pm(value: Any, error: Any) -> str:
    """``value ± error`` (the error to 2 significant digits), or the value alone."""
    text = format_value(value)
    if text == "–" or error is None or not math.isfinite(error):
        return text
    return f"{text} ± {error:.2g}"


def _comparison_tables(frame: pd.DataFrame, labels: list[str]) -> dict[str, pd.DataFrame]:
    """Per scenario: metric, key, one column per model (value ± error, best starred),
    floor, best ("(clear)" when it beats the runner-up by > 2 sigma)."""
    out = {}
    for scenario, part in frame.groupby("scenario", sort=False):
        rows = []
        for _, row in part.iterrows():
            cells = {"metric": row["metric"], "key": row["key"]}
            for label in labels:
                text = _pm(row[label], row[f"{label}_error"])
                cells[label] = f"★ {text}" if row["best"] == label and len(labels) > 1 else text
            cells["floor"] = _pm(row["floor"], None)
            cells["better"] = METRICS[row["metric"]].better if row["metric"] in METRICS else ""
            best = row["best"] if isinstance(row["best"], str) else "–"
            clear = isinstance(row["clear"], bool | np.bool_) and bool(row["clear"])
            cells["best"] = best + (" (clear)" if clear else "")
            rows.append(cells)
        out[str(scenario)] = pd.DataFrame(rows)
    return out


def _model_table(result: Mapping[str, Any], scenario: str) -> pd.DataFrame:
    table = results_table(result)
    table = table[table["scenario"] == scenario]
    return table[["metric", "key", "value", "error", "floor", "z", "note"]].reset_index(drop=True)


# ----------------------------------------------------------------------------- figures
def _png_figure(path: Path, dpi: int) -> Figure:
    """A written PNG as a Figure that saves back to the same pixels at ``dpi``."""
    import matplotlib.image as mpimg

    pixels = mpimg.imread(path)
    height, width = pixels.shape[:2]
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    figure.figimage(pixels, 0, 0, origin="upper", resize=False)
    return figure


def clustering_section(report: HtmlReport, comparison: ClusteringComparison) -> None:
    """xi(r) and b(r) of the truth and each mock, then the large-scale bias table."""
    from .clustering_figure import bias_comparison, xi_comparison

    dpi = 110  # clustering_figure writes its PNGs at 110 dpi: embedded pixel for pixel
    report.section("Clustering", "Two-point correlation and relative tracer bias of the "
                   "truth and each mock, population by population (errors: paired jackknife). "
                   f"Populations: {', '.join(comparison.splits) or 'all rows'}.")
    with tempfile.TemporaryDirectory(prefix="galhalo-report-") as scratch:
        for name, draw, caption in (
                ("xi.png", xi_comparison, "r² xi(r): truth (points) vs mocks (lines), with "
                                          "mock / truth ratios"),
                ("bias.png", bias_comparison, "relative bias b(r), truth vs mocks")):
            path = draw(comparison, Path(scratch) / name)
            report.figure(_png_figure(path, dpi), caption=caption, dpi=dpi)
    if len(comparison.table):
        report.table(comparison.table, caption="large-scale bias per model and population "
                     "(deviation_sigma: (b_mock - b_truth) / paired jackknife error)",
                     best={"deviation_sigma": "abs"})
    if len(comparison.assembly_bias):
        report.table(comparison.assembly_bias, caption="assembly-bias shuffle test")


def satellites_section(report: HtmlReport, comparison: Any) -> None:
    """The truth and each mock with satellites (a
    :class:`~galhalo.evaluate.satellite_comparison.SatelliteComparison`): the
    within-tolerance verdict of wp(rp), the wp ratio figure, then one figure per
    satellite statistic, truth and mocks overlaid."""
    from .satellite_figure import FIGURES, wp_populations
    from .wp_ratio_figure import wp_ratio_figure

    dpi = 110  # the satellite figures are written at 110 dpi: embedded pixel for pixel
    low, high = comparison.rp_range
    report.section("Satellites", "Small scales and satellite statistics of the catalog and "
                   f"each mock with satellites ({', '.join(comparison.small)}). wp(rp) ratios "
                   f"mock / truth are judged over {low:g}-{high:g} Mpc/h against a "
                   f"tolerance of {100 * comparison.tolerance:g}%; the band is the truth's "
                   "jackknife error (docs/satellites.md).")
    verdict_frame = comparison.verdict()
    if len(verdict_frame):
        report.table(verdict_frame, caption=f"wp(rp) mock / truth: largest |ratio - 1| "
                     f"over {low:g}-{high:g} Mpc/h, within {100 * comparison.tolerance:g}% "
                     "or not")
    with tempfile.TemporaryDirectory(prefix="galhalo-report-") as scratch:
        drawn = []
        if len(comparison.ratios):
            drawn.append((wp_ratio_figure(comparison, Path(scratch) / "wp_ratio.png"),
                          "wp(rp): truth (points) vs mocks (lines), with mock / truth "
                          "ratios and the truth's jackknife band"))
        else:
            drawn.append((wp_populations(comparison.small, Path(scratch) / "wp.png"),
                          "wp(rp) by population"))
        for kind, (name, draw) in FIGURES.items():
            drawn.append((draw(comparison.statistics, Path(scratch) / name),
                          kind.removesuffix("_figure").replace("_", " ")))
        for path, caption in drawn:
            report.figure(_png_figure(path, dpi), caption=caption, dpi=dpi)


# ----------------------------------------------------------------------------- sections
def verdict_section(report: HtmlReport, results: Mapping[str, Mapping[str, Any]],
                    floor_source: str) -> pd.DataFrame:
    """The verdict table (:mod:`.verdict`) with its definition and colour scale; returns
    the table it shows (:func:`.verdict.verdict_table`)."""
    table = verdict.verdict_table(results)
    bounds = [bound for bound, _ in verdict.CLASSES if math.isfinite(bound)]
    report.section("Verdict", "How far each model is from a perfect one, per scenario and "
                   "metric group. Each cell is the deviation d from the noise floor in "
                   "standard errors: d = (value − floor) / √(error² + floor error²), the z "
                   "of docs/evaluation.md, signed so that d > 0 is worse than the floor "
                   "(d = z where lower is better, |z| where the floor is the ideal: PCC, "
                   "C2ST AUC, coverage). A cell shows the largest |d| among the group's "
                   "metrics and columns and names where it comes from (hover for the value "
                   "and floor); a perfect model's largest is typically below "
                   f"{bounds[0]:g}. d below −{bounds[0]:g} (better than a perfect model) "
                   "suggests the rows were not held out. "
                   f"Noise floors from {floor_source}.")
    report.markup(verdict.legend_html() + verdict.verdict_html(
        table, caption="deviation from the noise floor, standard errors (worst of each "
                       "group)"), style=verdict.STYLE)
    return table


def region_section(report: HtmlReport, results: Mapping[str, Mapping[str, Any]]) -> None:
    """Scores by region (:mod:`galhalo.evaluate.regions`): the figure, then one folded
    table per model; nothing when no result has them (no NLL)."""
    from .console import region_table
    from .region_figure import region_figure

    found = {label: r["regions"] for label, r in results.items() if r.get("regions")}
    if not found:
        return
    truth = any(regions["quantity"] == "nll_vs_truth" for regions in found.values())
    report.section("Scores by region", "Where each model loses likelihood: "
                   + ("its NLL minus the truth's (the excess, an estimate of KL(truth || "
                      "model) in nats per galaxy; 0 for a perfect model)" if truth else
                      "its held-out NLL (no truth known)")
                   + " per halo-mass bin and per sSFR population of the true galaxies "
                   "(quenched sSFR <= -11, green valley -11 < sSFR <= -10.5, star-forming "
                   "-10.5 < sSFR < -9, starburst sSFR >= -9), over every row; error bars: "
                   "standard error of the mean of the per-row values. 'share of gap' is "
                   "the region's share of the summed gap; the worst 1% of rows are those "
                   "of largest gap.")
    report.figure(region_figure(results), caption="scores by region")
    for label, regions in found.items():
        report.table(region_table(regions), caption=f"{label}: scores by region",
                     folded=True)


def figure_sections(report: HtmlReport, table: pd.DataFrame, entries: list[Entry],
                    targets: tuple[str, ...], pair: tuple[str, str] | None,
                    scenarios: list[Scenario], first: str, importance: bool) -> None:
    """Corner plot, per-scenario contours of ``pair``, 1-D histograms, calibration on
    scenario ``first``, feature importance and loss curves."""
    mocks = {e.figure_label: e.mock for e in entries}
    results = {e.figure_label: e.result for e in entries}
    levels = " and ".join(f"{round(100 * p)}%" for p in mf.LEVELS)
    if len(targets) >= 2:
        report.section("Corner plot", f"All rows: truth (grey, filled) against each model's "
                       f"draws; contours enclose {levels} of each sample "
                       "(highest-density regions of the smoothed 2-D histogram).")
        report.figure(mf.corner_figure(table, mocks, targets), caption="corner plot, "
                      "truth vs models")
    if pair is not None:
        report.section(f"Scenarios: {pair[1]} vs {pair[0]}",
                       f"{pair[1]} against {pair[0]} in every scenario (as in the published "
                       f"figures, per halo-mass bin); contours enclose {levels}.")
        report.figure(mf.scenario_contours(table, mocks, scenarios, pair),
                      caption=f"{pair[1]} vs {pair[0]} per scenario")
    report.section("1-D distributions", "Each target over all rows: truth (grey, with its "
                   "±1 sigma Poisson band) and each model's draws.")
    report.figure(mf.marginal_histograms(table, mocks, targets), caption="1-D histograms")
    report.section("Calibration", "Conditional PIT histograms (flat for a calibrated model; "
                   "U-shaped: too narrow; hump: too wide; slope: biased) with the binomial "
                   "band, and coverage of the central 68% / 95% regions against nominal, "
                   f"scenario {first!r}.")
    report.figure(mf.calibration_figure(results, first), caption="calibration")
    report.section("Feature importance", "Drop of the held-out log-likelihood and of the "
                   "PCC when one condition column is shuffled (larger: the model relies on it "
                   "more; error bars: standard error over permutation rounds).")
    if importance:
        report.figure(mf.importance_figure(results), caption="permutation importance")
    else:
        report.text("not computed (importance=False)")
    report.section("Loss curves", "Training and validation loss per epoch; the star marks "
                   "the best validation epoch, whose weights the model keeps.")
    histories = {e.figure_label: list(getattr(e.model, "history", None) or [])
                 for e in entries}
    if any(histories.values()):
        report.figure(mf.loss_curves(histories), caption="loss curves")
    without = [label for label, h in histories.items() if not h]
    if without:
        report.text(f"no training history for: {', '.join(without)} (the truth model and "
                    "non-neural families have none)")


def comparison_section(report: HtmlReport, results: dict[str, Any], labels: list[str],
                       evaluated: list[str]) -> None:
    """Every metric of every scenario, models as columns, each scenario folded."""
    frame = compare(results)
    report.section("Comparison", "Every metric, one folded table per scenario: value ± "
                   "standard error per model; floor = the value a perfect model would get; "
                   "better = the metric's direction (lower, or closest to the floor); ★ "
                   "marks the best model, '(clear)' when it beats the runner-up by more than "
                   "twice their combined standard error.")
    tables = _comparison_tables(frame, labels)
    for scenario in evaluated:
        entry = results[labels[0]]["scenarios"][scenario]
        described = f"{entry['description']} " if entry.get("description") else ""
        report.table(tables[scenario], caption=f"{scenario}: {described}"
                     f"({entry['selection'] or 'all rows'}; {entry['rows']:,} rows)",
                     folded=True)


def model_section(report: HtmlReport, entry: Entry, scenario: str) -> None:
    """One model: family, columns, source; its configuration and every metric on
    ``scenario``, both folded."""
    model = entry.model
    report.section(f"Model {entry.label}", f"{getattr(model, 'family', '?')} model: "
                   f"p({', '.join(model.target)} | {', '.join(model.condition)}); "
                   f"source {entry.source}.")
    details = [("family", getattr(model, "family", type(model).__name__)),
               ("condition", ", ".join(model.condition)), ("target", ", ".join(model.target)),
               ("training seed", getattr(model, "seed", None))]
    hyper = getattr(model, "hyperparameters", None) or {}
    details += [(f"hyperparameter {k}", v) for k, v in sorted(hyper.items())]
    metrics = getattr(model, "metrics", None) or {}
    details += [(f"training {k}", f"{v:.5g}" if isinstance(v, float) else v)
                for k, v in sorted(metrics.items())]
    report.table(_key_values(details), caption=f"{entry.label}: configuration", folded=True)
    report.table(_model_table(entry.result, scenario),
                 caption=f"{entry.label}: every metric on scenario {scenario!r}", folded=True)


def provenance_section(report: HtmlReport, catalog: Catalog, entries: list[Entry],
                       evaluated: list[str], n_samples: int, draws: int, seed: int,
                       importance: bool, command: str | None) -> None:
    """Catalog, models, settings and package versions, each folded."""
    meta = catalog.meta
    report.section("Catalog, models and settings", "Every model is scored on the same "
                   "held-out rows with galhalo.evaluate (docs/evaluation.md): each number "
                   "carries its standard error and its noise floor, the value a perfect "
                   "model would get.")
    report.table(_key_values([
        ("source", meta.source or "–"), ("rows", f"{len(catalog):,}"),
        ("box size [Mpc/h]", meta.box_size if meta.box_size is not None else "–"),
        ("redshift", meta.redshift), ("catalog seed", meta.seed if meta.seed is not None
                                      else "–"),
        ("truth model", "yes: floors from truth draws" if meta.truth else
         "no: floors from split halves"),
        ("fingerprint", catalog_fingerprint(catalog.table)),
    ]), caption="catalog", folded=True)
    report.table(pd.DataFrame([{
        "label": e.label, "family": getattr(e.model, "family", type(e.model).__name__),
        "condition": ", ".join(e.model.condition), "target": ", ".join(e.model.target),
        "source": e.source} for e in entries]), caption="models", folded=True)
    skipped = entries[0].result.get("skipped", {})
    report.table(_key_values([
        ("seed", int(seed)), ("metric draws per row (n_samples)", n_samples),
        ("figure draws per row", draws), ("scenarios", ", ".join(evaluated)),
        ("scenarios skipped", "; ".join(f"{k}: {v}" for k, v in skipped.items()) or "none"),
        ("feature importance", "yes" if importance else "no"),
        ("command", command if command is not None else _default_command()),
    ]), caption="settings", folded=True)
    report.table(_key_values(_versions().items()), caption="versions", folded=True)
