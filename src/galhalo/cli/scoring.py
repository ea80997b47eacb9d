"""Scoring commands: ``evaluate`` (one model), ``compare`` (several) and ``report``
(the HTML page)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..catalog import read_catalog
from ..errors import EvaluationError
from ..files import check_writable
from ..report.numbers import format_value
from ._common import (
    Galaxies,
    Seed,
    Stages,
    command_errors,
    labelled_paths,
    load_galaxies,
    output,
    say,
    write_table,
)

__all__ = ["compare", "evaluate", "report"]

#: The default halo-mass bin edges of the scores by region (evaluate.regions).
DEFAULT_MASS_EDGES_TEXT = "10.5,11,11.5,12,12.5,13,15"


def _evaluate(model_spec: str, catalog, select: list[str] | None, samples: int, seed: int,
              importance: bool, mass_edges: str = DEFAULT_MASS_EDGES_TEXT) -> dict:
    """Score the model ``model_spec`` names (a directory or 'truth') on ``catalog``."""
    from ..evaluate.reference import resolve_model
    from ..evaluate.run import evaluate_model

    model, _ = resolve_model(model_spec, catalog)
    return evaluate_model(model, catalog, scenarios=select or None, n_samples=samples,
                          seed=seed, importance=importance, progress=say,
                          mass_edges=mass_edges)


def _satellite_scores(model_spec: str, catalog, seed: int) -> dict | None:
    """Per host-mass bin satellite scores (evaluate.satellite_evaluation), or None."""
    from ..evaluate.reference import resolve_model
    from ..evaluate.satellite_evaluation import satellite_metrics

    model, _ = resolve_model(model_spec, catalog)
    return satellite_metrics(model, catalog, seed=seed)


ModelList = Annotated[list[str], typer.Option(
    "--model", help="Model directory (galhalo train), or 'truth' for a synthetic "
                    "catalog's own truth model (scores at the noise floor).")]
Select = Annotated[list[str] | None, typer.Option(
    "--select", help="Scenario: a preset name (whole, high_mass, low_mass, fixed_mass, "
                     "...) or a selection like '11.2<M_h<11.5 & z_h>1'; repeatable "
                     "[default: every preset with enough rows].")]
Samples = Annotated[int, typer.Option(min=5, help="Model draws per catalog row (>= 5).")]
MassEdges = Annotated[str, typer.Option(
    "--mass-edges", help="Halo-mass bin edges (log10 Msun/h, comma-separated) of the scores "
                         "by region.")]


def _model_names(models: list[str]) -> list[str]:
    """Labels of ``--model`` options: directory names (or 'truth'), which must differ."""
    names = [Path(m).name if m != "truth" else "truth" for m in models]
    if len(set(names)) != len(names):
        raise EvaluationError(f"models need distinct directory names, got {names}")
    return names


@command_errors
def evaluate(
    model: ModelList,
    catalog_path: Annotated[Path, typer.Option(
        "--catalog", help="Held-out catalog with the true targets.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="metrics JSON to write "
                                                          "(a .csv table is written beside it).")
                   ] = Path("metrics.json"),
    select: Select = None,
    samples: Samples = 10,
    importance: Annotated[bool, typer.Option(
        "--importance/--no-importance", help="Permutation feature importance.")] = True,
    seed: Seed = 0,
    galaxies: Galaxies = "centrals",
    mass_edges: MassEdges = DEFAULT_MASS_EDGES_TEXT,
) -> None:
    """Score one model on a held-out catalog: distribution distances, PCC, calibration,
    NLL (minus the truth's for synthetic catalogs), feature importance; every number with
    its error bar and noise floor; the NLL gap (or NLL) by halo-mass bin and sSFR
    population, printed as a table. See docs/evaluation.md."""
    from ..evaluate.regions import mass_edges_of
    from ..evaluate.run import results_table
    from ..files import write_json
    from ..report.console import region_table, rich_table

    if len(model) != 1:
        raise EvaluationError("evaluate scores one --model; use galhalo compare for several")
    mass_edges_of(mass_edges)
    check_writable(out)
    check_writable(out.with_suffix(".csv"))
    catalog = load_galaxies(catalog_path, galaxies)
    result = _evaluate(model[0], catalog, select, samples, seed, importance, mass_edges)
    satellite_scores = _satellite_scores(model[0], catalog, seed)
    if satellite_scores is not None:
        result["satellites"] = satellite_scores
    write_json(out, result)
    table = results_table(result)
    write_table(table, out.with_suffix(".csv"))
    if result.get("regions"):
        output.print(rich_table(region_table(result["regions"]), title="scores by region ("
                                "errors: standard error of the mean over rows)"))
    output.print(f"wrote {out} and {out.with_suffix('.csv')} ({len(table)} rows)")


@command_errors
def compare(
    model: ModelList,
    catalog_path: Annotated[Path, typer.Option(
        "--catalog", help="Held-out catalog with the true targets.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Comparison table (CSV).")
                   ] = Path("comparison.csv"),
    select: Select = None,
    samples: Samples = 10,
    seed: Seed = 0,
    galaxies: Galaxies = "centrals",
) -> None:
    """Score several models on the same catalog: one table, families side by side per
    scenario and metric, the best marked ('clear' when it beats the next by > 2 sigma)."""
    from ..evaluate.run import compare as compare_results

    if len(model) < 2:
        raise EvaluationError("compare needs at least two --model options")
    names = _model_names(model)
    check_writable(out)
    catalog = load_galaxies(catalog_path, galaxies)
    results = {name: _evaluate(spec, catalog, select, samples, seed, False)
               for name, spec in zip(names, model, strict=True)}
    frame = compare_results(results)
    write_table(frame, out)
    whole = frame[frame["scenario"] == "whole"] if "whole" in set(frame["scenario"]) else frame
    table = Table(title="whole sample" if "whole" in set(frame["scenario"]) else "comparison")
    for column in ("metric", "key", *names, "best"):
        table.add_column(column, justify="right")
    for _, row in whole.iterrows():
        table.add_row(str(row["metric"]), str(row["key"]),
                      *(format_value(row[n]) for n in names),
                      str(row["best"]))
    output.print(table)
    output.print(f"wrote {out} ({len(frame)} rows)")


ClusteringMocks = Annotated[list[str] | None, typer.Option(
    "--clustering-mock", help="Also compare clustering and tracer bias of the catalog with "
                              "a mock catalog, LABEL=PATH (repeatable; same box).")]


@command_errors
def report(
    model: Annotated[list[str] | None, typer.Option(
        "--model", help="Model directory (galhalo train), or 'truth' for a synthetic "
                        "catalog's own truth model; repeatable (optional with --survey).")
    ] = None,
    catalog_path: Annotated[Path | None, typer.Option(
        "--catalog", help="Held-out catalog with the true targets (with --model).")] = None,
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="HTML report to write (self-contained: figures embedded).")
                   ] = Path("report.html"),
    select: Select = None,
    samples: Samples = 10,
    clustering_mock: ClusteringMocks = None,
    split: Annotated[str, typer.Option(
        help="Populations of the clustering comparison, e.g. color:quantiles=4.")
                     ] = "color:quantiles=4",
    importance: Annotated[bool, typer.Option(
        "--importance/--no-importance", help="Permutation feature importance.")] = True,
    seed: Seed = 0,
    galaxies: Galaxies = "centrals",
    survey: Annotated[Path | None, typer.Option(
        "--survey", help="A galhalo survey evaluate directory: adds a Survey section "
                         "(alone, without --model).")] = None,
    mass_edges: MassEdges = DEFAULT_MASS_EDGES_TEXT,
) -> None:
    """Score one or more models on a held-out catalog and write one self-contained HTML
    page: verdict, scores by region, comparison tables, corner plot, per-scenario
    contours, 1-D histograms,
    calibration, feature importance, loss curves (and clustering with
    --clustering-mock; a Satellites section when the catalog and a mock have
    satellites; a Survey section with --survey). See docs/report.md."""
    import shlex

    from ..evaluate.regions import mass_edges_of
    from ..report.build import build_report
    from ..report.survey_section import build_survey_report

    command = shlex.join(["galhalo", *sys.argv[1:]])
    if not model:
        if survey is None:
            raise EvaluationError("report needs --model (with --catalog) or --survey")
        if catalog_path is not None or clustering_mock:
            raise EvaluationError("--catalog and --clustering-mock need --model")
        written = build_survey_report(survey, out, command=command)
        output.print(f"wrote {written} ({written.stat().st_size / 1e6:.2f} MB)")
        return
    if catalog_path is None:
        raise EvaluationError("report --model needs --catalog (the held-out catalog)")
    names = _model_names(model)
    mass_edges_of(mass_edges)
    mocks = labelled_paths(clustering_mock or [], "--clustering-mock")
    check_writable(out)
    catalog = load_galaxies(catalog_path, galaxies)
    mock_catalogs = {label: read_catalog(path) for label, path in mocks.items()}
    with Stages(f"report on {len(catalog):,} rows") as stages:
        def clustering():
            from ..evaluate.bias import compare_clustering

            return compare_clustering(catalog, mock_catalogs, split, progress=stages)

        # the satellites section needs every galaxy of the catalog, not --galaxies'
        satellite_mocks = {k: v for k, v in mock_catalogs.items() if v.has_satellites}
        full = read_catalog(catalog_path) if satellite_mocks else None
        with_satellites = full is not None and full.has_satellites

        def satellites():
            from ..evaluate.satellite_comparison import compare_satellites

            return compare_satellites({"truth": full, **satellite_mocks}, progress=stages)

        written = build_report(dict(zip(names, model, strict=True)), catalog, out,
                               scenarios=select or None, n_samples=samples, seed=seed,
                               importance=importance,
                               clustering=clustering if mock_catalogs else None,
                               satellites=satellites if with_satellites else None,
                               progress=stages, command=command, survey=survey,
                               mass_edges=mass_edges)
    output.print(f"wrote {written} ({written.stat().st_size / 1e6:.2f} MB)")
