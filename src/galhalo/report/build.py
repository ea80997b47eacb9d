"""The evaluation report: one self-contained HTML page for one or more models.

``build_report({"flow": "models/flow", "truth": "truth"}, catalog, "report.html")``
scores every model once with :func:`galhalo.evaluate.run.evaluate_model`, draws one mock
per model for the figures, and writes an :class:`~galhalo.report.html.HtmlReport` with

* a summary (catalog, models, settings, package versions, seed, command);
* the comparison table of :func:`galhalo.evaluate.run.compare` per scenario (models as
  columns, value +- standard error, the best marked);
* the figures of :mod:`galhalo.report.model_figures`: corner plot, per-scenario contours
  of a target pair, 1-D histograms, calibration, feature importance, loss curves;
* one section per model (family, columns, hyperparameters, training metrics, its
  metrics on the first scenario);
* with a clustering comparison (:func:`galhalo.evaluate.bias.compare_clustering`), the
  xi(r) and b(r) figures of :mod:`galhalo.report.clustering_figure` and its bias table.

Every input is checked before any work: the output path, the catalog, each model (its
condition and target columns must be in the catalog), the scenarios (each must select
``min_rows`` rows). The page is written atomically.
"""

from __future__ import annotations

import math
import platform
import shlex
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
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
from ..evaluate.run import METRICS, as_model, catalog_fingerprint, compare, results_table
from ..evaluate.scenarios import PRESETS, Scenario
from ..evaluate.scenarios import scenarios as as_scenarios
from ..files import check_writable
from . import model_figures as mf
from .html import HtmlReport
from .model_figures import ReportError

#: Most sampled points per model in the figures (draws per row = min(n_samples,
#: ceil(FIGURE_POINTS / rows)), at least 1).
FIGURE_POINTS = 200_000
#: The spec that names the catalog's own truth model.
TRUTH_SPEC = "truth"
#: Default target pair of the per-scenario contour panels (as in the published figures).
PAIR = ("smass", "color")
_RESERVED = ("scenario", "metric", "key", "floor", "better", "best", "clear")
_REPEATS = 5  # evaluate_model's draws per distribution metric: n_samples must reach it

__all__ = ["FIGURE_POINTS", "PAIR", "ReportError", "build_report"]


@dataclass
class _Entry:
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


# ----------------------------------------------------------------------------- inputs
def _resolve(label: str, spec: Any, catalog: Catalog) -> _Entry:
    """A model object, a model directory, or ``"truth"`` (the catalog's truth model)."""
    from ..models import load_model
    from ..sim.truth import TruthModel

    if isinstance(spec, str) and spec == TRUTH_SPEC:
        if catalog.meta.truth is None:
            raise ReportError(f"model {label!r}: 'truth' needs a synthetic catalog with a "
                              "truth model; this catalog carries none")
        return _Entry(label, as_model(TruthModel.from_dict(catalog.meta.truth)),
                      "the catalog's truth model")
    if isinstance(spec, str | Path):
        try:
            return _Entry(label, load_model(spec), str(spec))
        except ValueError as err:
            raise ReportError(f"model {label!r}: {err}") from None
    try:
        model = as_model(spec)
    except ValueError as err:
        raise ReportError(f"model {label!r}: {err}") from None
    return _Entry(label, model, f"in memory ({type(spec).__name__})")


def _check_columns(entry: _Entry, table: pd.DataFrame) -> None:
    model = entry.model
    needed = [*model.condition, *model.target]
    missing = [name for name in needed if name not in table.columns]
    if missing:
        raise ReportError(f"model {entry.label!r} ({', '.join(model.condition)} -> "
                          f"{', '.join(model.target)}) needs columns {missing} that the "
                          f"catalog lacks (it has: {', '.join(map(str, table.columns))})")


def _check_catalog(catalog: Any) -> pd.DataFrame:
    if not isinstance(catalog, Catalog):
        raise ReportError(f"catalog must be a galhalo Catalog, got {type(catalog).__name__}")
    if len(catalog) == 0:
        raise ReportError("the catalog has no rows")
    return catalog.table


def _check_samples(n_samples: Any) -> int:
    if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer) \
            or n_samples < _REPEATS:
        raise ReportError(f"n_samples must be an integer >= {_REPEATS}, got {n_samples!r}")
    return int(n_samples)


def _check_scenarios(specs: Any, table: pd.DataFrame, min_rows: int) -> list[Scenario] | None:
    """Parsed scenarios, each selecting >= min_rows rows (None: the presets)."""
    if specs is None:
        return None
    chosen = as_scenarios(specs)
    for s in chosen:
        s.rows(table, min_rows)  # ScenarioError (a ValueError) names the scenario
    return chosen


def _common_targets(entries: list[_Entry]) -> tuple[str, ...]:
    common = [t for t in entries[0].model.target
              if all(t in e.model.target for e in entries[1:])]
    if not common:
        described = "; ".join(f"{e.label}: {', '.join(e.model.target)}" for e in entries)
        raise ReportError(f"the models share no target column ({described}); report them "
                          "separately")
    return tuple(common)


def _pair(pair: tuple[str, str] | None, targets: tuple[str, ...]) -> tuple[str, str] | None:
    if pair is None:
        if all(name in targets for name in PAIR):
            return PAIR
        return (targets[0], targets[1]) if len(targets) >= 2 else None
    pair = tuple(pair)
    if len(pair) != 2 or pair[0] == pair[1]:
        raise ReportError(f"pair must name two different target columns, got {pair}")
    missing = [name for name in pair if name not in targets]
    if missing:
        raise ReportError(f"pair {pair}: {missing} are not targets of every model "
                          f"(shared targets: {', '.join(targets)})")
    return pair


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
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if error is None or (isinstance(error, float) and not math.isfinite(error)):
        return f"{value:.4g}"
    return f"{value:.4g} ± {error:.2g}"


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


def _clustering_section(report: HtmlReport, comparison: ClusteringComparison) -> None:
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


# ----------------------------------------------------------------------------- the report
def build_report(
    models: Mapping[str, Any], catalog: Catalog, out: str | Path, *,
    scenarios: Iterable[str | Scenario] | str | Scenario | None = None,
    n_samples: int = 10, seed: int = 0, importance: bool = True,
    clustering: ClusteringComparison | Callable[[], ClusteringComparison] | None = None,
    progress: Callable[[str], None] | None = None,
    pair: tuple[str, str] | None = None, min_rows: int = 20,
    command: str | None = None, title: str | None = None,
) -> Path:
    """Evaluate each model on a held-out catalog and write the HTML report.

    Args:
        models: ``{label: model}`` where a model is a fitted ConditionalModel (or a
            TruthModel), a model directory (str or Path, loaded with
            :func:`~galhalo.models.base.load_model`), or ``"truth"``: the catalog's own
            truth model (synthetic catalogs). The label ``truth`` is drawn as "truth
            model" in figures, where "truth" names the catalog's true values.
        catalog: held-out rows with every model's condition and target columns.
        out: the HTML file to write (atomically).
        scenarios: preset names, selection texts or Scenarios, each selecting at least
            ``min_rows`` rows; None: every preset that does (the rest are listed).
        n_samples: model draws per row for the metrics (>= 5); the figure mocks draw
            ``min(n_samples, ceil(FIGURE_POINTS / rows))`` per row, once per model.
        seed: one seed for the evaluation and the mocks (same seed, same page).
        importance: compute and show permutation feature importance.
        clustering: a :class:`~galhalo.evaluate.bias.ClusteringComparison` to show
            (figures and bias table), a function of no arguments returning one (called
            once the other inputs are checked, so bad input fails before the costly
            measurement), or None.
        progress: callback receiving a short message per stage.
        pair: target pair of the per-scenario contours (default smass vs color when
            every model has them, else the first two shared targets).
        min_rows: fewest rows a scenario may select.
        command: the command line recorded in the summary (default: ``sys.argv``).
        title: page title.

    Returns:
        The path written.

    Raises:
        ReportError: (a ValueError) unusable catalog, model, pair or results; models
            without shared targets; a model whose columns the catalog lacks.
        ScenarioError: (a ValueError) a malformed scenario or one selecting too few rows.
        OutputPathError: ``out`` cannot be written (checked first).
    """
    say = progress or (lambda message: None)
    target = check_writable(out)
    table = _check_catalog(catalog)
    n_samples = _check_samples(n_samples)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ReportError(f"seed must be an integer, got {seed!r}")
    if clustering is not None and not (isinstance(clustering, ClusteringComparison)
                                       or callable(clustering)):
        raise ReportError(f"clustering must be a ClusteringComparison, a function returning "
                          f"one, or None; got {type(clustering).__name__}")
    if not isinstance(models, Mapping) or not models:
        raise ReportError("build_report needs at least one model {label: model or directory}")
    labels = list(models)
    bad = [label for label in labels if not isinstance(label, str) or not label.strip()]
    if bad:
        raise ReportError(f"model labels must be non-empty text, got {bad}")
    clash = [label for label in labels if label in _RESERVED or label.endswith("_error")]
    if clash:
        raise ReportError(f"model labels {clash} clash with comparison-table columns; "
                          f"avoid {', '.join(_RESERVED)} and names ending in '_error'")
    chosen = _check_scenarios(scenarios, table, min_rows)
    entries = [_resolve(label, spec, catalog) for label, spec in models.items()]
    for entry in entries:
        _check_columns(entry, table)
    shown = [e.figure_label for e in entries]
    if len(set(shown)) != len(shown):
        raise ReportError(f"model labels {labels} give repeated figure labels {shown} "
                          "('truth' is drawn as 'truth model')")
    targets = _common_targets(entries)
    pair = _pair(pair, targets)
    if callable(clustering) and not isinstance(clustering, ClusteringComparison):
        say("clustering")
        clustering = clustering()
        if not isinstance(clustering, ClusteringComparison):
            raise ReportError(f"the clustering function returned a "
                              f"{type(clustering).__name__}, not a ClusteringComparison")

    rows = len(table)
    draws = max(1, min(n_samples, math.ceil(FIGURE_POINTS / rows)))
    for entry in entries:
        say(f"evaluating {entry.label}")
        entry.result = _evaluate(entry, catalog, chosen, n_samples, seed, importance, min_rows,
                                 say)
        say(f"{entry.label}: drawing the figure mock ({draws} per row)")
        entry.mock = _mock(entry.model, catalog, draws, seed)
        entry.draws_per_row = draws
    results = {e.label: e.result for e in entries}
    evaluated = list(entries[0].result["scenarios"])
    scenario_objects = chosen if chosen is not None else [PRESETS[name] for name in evaluated]

    say("figures")
    report = HtmlReport(title or "galhalo evaluation report",
                        subtitle=f"{len(entries)} model(s) on {rows:,} held-out rows; "
                                 f"seed {int(seed)}")
    _summary(report, catalog, entries, evaluated, n_samples, draws, seed, importance,
             command)
    _comparison(report, results, labels, evaluated)
    _figures(report, table, entries, targets, pair, scenario_objects, evaluated[0], importance)
    for entry in entries:
        _model_section(report, entry, evaluated[0])
    if clustering is not None:
        say("clustering figures")
        _clustering_section(report, clustering)
    say(f"writing {target}")
    return report.write(target)


def _evaluate(entry: _Entry, catalog: Catalog, chosen, n_samples: int, seed: int,
              importance: bool, min_rows: int, say) -> dict[str, Any]:
    from ..evaluate.run import evaluate_model

    return evaluate_model(entry.model, catalog, scenarios=chosen, n_samples=n_samples,
                          repeats=_REPEATS, seed=int(seed), importance=importance,
                          min_rows=min_rows, progress=lambda m: say(f"{entry.label}: {m}"))


def _mock(model: Any, catalog: Catalog, draws: int, seed: int) -> pd.DataFrame:
    from ..mock import make_mock

    return make_mock(model, catalog, draws, int(seed)).table


def _summary(report: HtmlReport, catalog: Catalog, entries: list[_Entry], evaluated: list[str],
             n_samples: int, draws: int, seed: int, importance: bool,
             command: str | None) -> None:
    meta = catalog.meta
    report.section("Summary", "Every model is scored on the same held-out rows with "
                   "galhalo.evaluate (docs/evaluation.md): each number carries its standard "
                   "error and its noise floor, the value a perfect model would get.")
    report.table(_key_values([
        ("source", meta.source or "–"), ("rows", f"{len(catalog):,}"),
        ("box size [Mpc/h]", meta.box_size if meta.box_size is not None else "–"),
        ("redshift", meta.redshift), ("catalog seed", meta.seed if meta.seed is not None
                                      else "–"),
        ("truth model", "yes: floors from truth draws" if meta.truth else
         "no: floors from split halves"),
        ("fingerprint", catalog_fingerprint(catalog.table)),
    ]), caption="catalog")
    report.table(pd.DataFrame([{
        "label": e.label, "family": getattr(e.model, "family", type(e.model).__name__),
        "condition": ", ".join(e.model.condition), "target": ", ".join(e.model.target),
        "source": e.source} for e in entries]), caption="models")
    skipped = entries[0].result.get("skipped", {})
    report.table(_key_values([
        ("seed", int(seed)), ("metric draws per row (n_samples)", n_samples),
        ("figure draws per row", draws), ("scenarios", ", ".join(evaluated)),
        ("scenarios skipped", "; ".join(f"{k}: {v}" for k, v in skipped.items()) or "none"),
        ("feature importance", "yes" if importance else "no"),
        ("command", command if command is not None else _default_command()),
    ]), caption="settings")
    report.table(_key_values(_versions().items()), caption="versions")


def _comparison(report: HtmlReport, results: dict[str, Any], labels: list[str],
                evaluated: list[str]) -> None:
    frame = compare(results)
    report.section("Comparison", "One table per scenario: value ± standard error per "
                   "model; floor = the value a perfect model would get; better = the "
                   "metric's direction (lower, or closest to the floor); ★ marks the best "
                   "model, '(clear)' when it beats the runner-up by more than twice their "
                   "combined standard error.")
    tables = _comparison_tables(frame, labels)
    for scenario in evaluated:
        entry = results[labels[0]]["scenarios"][scenario]
        described = f"{entry['description']} " if entry.get("description") else ""
        report.table(tables[scenario], caption=f"{scenario}: {described}"
                     f"({entry['selection'] or 'all rows'}; {entry['rows']:,} rows)")


def _figures(report: HtmlReport, table: pd.DataFrame, entries: list[_Entry],
             targets: tuple[str, ...], pair: tuple[str, str] | None,
             scenarios: list[Scenario], first: str, importance: bool) -> None:
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


def _model_section(report: HtmlReport, entry: _Entry, scenario: str) -> None:
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
    report.table(_key_values(details), caption=f"{entry.label}: configuration")
    report.table(_model_table(entry.result, scenario),
                 caption=f"{entry.label}: every metric on scenario {scenario!r}")
