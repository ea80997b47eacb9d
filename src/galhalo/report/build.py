"""The evaluation report: one self-contained HTML page for one or more models.

``build_report({"flow": "models/flow", "truth": "truth"}, catalog, "report.html")``
checks every input, scores every model once with
:func:`galhalo.evaluate.run.evaluate_model`, draws one mock per model for the figures,
and writes an :class:`~galhalo.report.html.HtmlReport` whose sections
(:mod:`galhalo.report.sections`) put the verdict first:

* the verdict (:mod:`galhalo.report.verdict`): one row per scenario and model, one
  coloured column per metric group, each cell the distance to the noise floor in
  standard errors;
* the scores by region (:func:`galhalo.report.sections.region_section`): the NLL gap
  per halo-mass bin and sSFR population, with error bars;
* the figures of :mod:`galhalo.report.model_figures`: corner plot, per-scenario contours
  of a target pair, 1-D histograms, calibration, feature importance, loss curves;
* with a clustering comparison (:func:`galhalo.evaluate.bias.compare_clustering`), the
  xi(r) and b(r) figures of :mod:`galhalo.report.clustering_figure` and its bias table;
* with a satellite comparison
  (:func:`galhalo.evaluate.satellite_comparison.compare_satellites`), the "Satellites"
  section: the wp(rp) within-tolerance verdict, the wp ratio figure and one figure per
  satellite statistic;
* with a survey evaluation directory (``galhalo survey evaluate``), the "Survey"
  section of :mod:`galhalo.report.survey_section`;
* folded in ``<details>``: the comparison table of
  :func:`galhalo.evaluate.run.compare` per scenario (models as columns, value +-
  standard error, the best marked), one section per model (family, columns,
  hyperparameters, training metrics, its metrics on the first scenario), and the
  catalog, models, settings, package versions, seed and command.

Every input is checked before any work: the output path, the catalog, each model (its
condition and target columns must be in the catalog), the scenarios (each must select
``min_rows`` rows). The page is written atomically.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..catalog import Catalog
from ..errors import GalhaloError, ReportError
from ..evaluate.bias import ClusteringComparison
from ..evaluate.reference import resolve_model
from ..evaluate.regions import DEFAULT_MASS_EDGES, mass_edges_of
from ..evaluate.satellite_comparison import SatelliteComparison
from ..evaluate.scenarios import PRESETS, Scenario
from ..evaluate.scenarios import scenarios as as_scenarios
from ..files import check_writable
from . import sections
from .html import HtmlReport
from .sections import Entry
from .survey_section import read_survey, survey_section

#: Most sampled points per model in the figures (draws per row = min(n_samples,
#: ceil(FIGURE_POINTS / rows)), at least 1).
FIGURE_POINTS = 200_000
#: Default target pair of the per-scenario contour panels (as in the published figures).
PAIR = ("smass", "color")
_RESERVED = ("scenario", "metric", "key", "floor", "better", "best", "clear")
_REPEATS = 5  # evaluate_model's draws per distribution metric: n_samples must reach it

__all__ = ["FIGURE_POINTS", "PAIR", "ReportError", "build_report"]


# ----------------------------------------------------------------------------- inputs
def _resolve(label: str, spec: Any, catalog: Catalog) -> Entry:
    """A model object, a model directory, or ``"truth"`` (the catalog's truth model)."""
    try:
        model, source = resolve_model(spec, catalog)
    except GalhaloError as err:
        raise ReportError(f"model {label!r}: {err}") from None
    if not isinstance(spec, str | Path):
        source = f"in memory ({source})"
    return Entry(label, model, source)


def _check_columns(entry: Entry, table: pd.DataFrame) -> None:
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


def _common_targets(entries: list[Entry]) -> tuple[str, ...]:
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



# ----------------------------------------------------------------------------- the report
def _computed(value, kind: type, name: str, say: Callable[[str], None]):
    """``value``, or what it returns when it is a function (called now, announced with
    ``say(name)``); a result that is not a ``kind`` is a ReportError."""
    if not callable(value) or isinstance(value, kind):
        return value
    say(name)
    result = value()
    if not isinstance(result, kind):
        raise ReportError(f"the {name} function returned a {type(result).__name__}, not a "
                          f"{kind.__name__}")
    return result


def build_report(
    models: Mapping[str, Any], catalog: Catalog, out: str | Path, *,
    scenarios: Iterable[str | Scenario] | str | Scenario | None = None,
    n_samples: int = 10, seed: int = 0, importance: bool = True,
    clustering: ClusteringComparison | Callable[[], ClusteringComparison] | None = None,
    progress: Callable[[str], None] | None = None,
    pair: tuple[str, str] | None = None, min_rows: int = 20,
    command: str | None = None, title: str | None = None,
    satellites: SatelliteComparison | Callable[[], SatelliteComparison] | None = None,
    survey: str | Path | None = None,
    mass_edges: str | Iterable[float] = DEFAULT_MASS_EDGES,
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
        satellites: a :class:`~galhalo.evaluate.satellite_comparison.SatelliteComparison`
            (truth and mocks with satellites) for a "Satellites" section, a function of
            no arguments returning one (called after the checks), or None.
        survey: a ``galhalo survey evaluate`` output directory for a "Survey" section
            (checked first), or None.
        progress: callback receiving a short message per stage.
        pair: target pair of the per-scenario contours (default smass vs color when
            every model has them, else the first two shared targets).
        min_rows: fewest rows a scenario may select.
        command: the command line recorded in the summary (default: ``sys.argv``).
        title: page title.
        mass_edges: halo-mass bin edges (log10 Msun/h) of the scores by region.

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
    if satellites is not None and not (isinstance(satellites, SatelliteComparison)
                                       or callable(satellites)):
        raise ReportError(f"satellites must be a SatelliteComparison, a function returning "
                          f"one, or None; got {type(satellites).__name__}")
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
    survey_evaluation = None if survey is None else read_survey(survey)
    mass_edges = mass_edges_of(mass_edges)
    entries = [_resolve(label, spec, catalog) for label, spec in models.items()]
    for entry in entries:
        _check_columns(entry, table)
    shown = [e.figure_label for e in entries]
    if len(set(shown)) != len(shown):
        raise ReportError(f"model labels {labels} give repeated figure labels {shown} "
                          "('truth' is drawn as 'truth model')")
    targets = _common_targets(entries)
    pair = _pair(pair, targets)
    clustering = _computed(clustering, ClusteringComparison, "clustering", say)
    satellites = _computed(satellites, SatelliteComparison, "satellites", say)

    rows = len(table)
    draws = max(1, min(n_samples, math.ceil(FIGURE_POINTS / rows)))
    for entry in entries:
        say(f"evaluating {entry.label}")
        entry.result = _evaluate(entry, catalog, chosen, n_samples, seed, importance, min_rows,
                                 mass_edges, say)
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
    floors = entries[0].result["settings"]["floor"]
    sections.verdict_section(report, results, floors)
    sections.region_section(report, results)
    sections.figure_sections(report, table, entries, targets, pair, scenario_objects,
                             evaluated[0], importance)
    if clustering is not None:
        say("clustering figures")
        sections.clustering_section(report, clustering)
    if satellites is not None:
        say("satellite figures")
        sections.satellites_section(report, satellites)
    if survey_evaluation is not None:
        say("survey section")
        survey_section(report, survey_evaluation)
    sections.comparison_section(report, results, labels, evaluated)
    for entry in entries:
        sections.model_section(report, entry, evaluated[0])
    sections.provenance_section(report, catalog, entries, evaluated, n_samples, draws, seed,
                                importance, command)
    say(f"writing {target}")
    return report.write(target)


def _evaluate(entry: Entry, catalog: Catalog, chosen, n_samples: int, seed: int,
              importance: bool, min_rows: int, mass_edges: tuple[float, ...],
              say) -> dict[str, Any]:
    from ..evaluate.run import evaluate_model

    return evaluate_model(entry.model, catalog, scenarios=chosen, n_samples=n_samples,
                          repeats=_REPEATS, seed=int(seed), importance=importance,
                          min_rows=min_rows, mass_edges=mass_edges,
                          progress=lambda m: say(f"{entry.label}: {m}"))


def _mock(model: Any, catalog: Catalog, draws: int, seed: int) -> pd.DataFrame:
    from ..mock import make_mock

    return make_mock(model, catalog, draws, int(seed)).table


