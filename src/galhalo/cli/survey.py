"""Survey commands ``galhalo survey filters | depths | simulate | observe | train |
evaluate``: J-PAS-like narrow-band photometry painted on a galhalo mock, mixed with
quasars and stars, observed, classified and scored (issue #21; docs/survey_cli.md).

Source catalogs are Parquet files, one row per source (the columns of
:mod:`galhalo.photometry.sources`), with a JSON entry ``galhalo.survey`` in the file's
metadata recording the filters (in order), the area and the steps that made it. Every
input is read and checked before any work, and every file is written atomically.
"""

from __future__ import annotations

import importlib
import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..errors import ModelError, PhotometryError, one_line
from ..files import atomic_path, check_writable, dumps_json, to_jsonable
from ._common import Seed, Stages, command_errors, output
from .training import _parse_settings

__all__ = ["survey_app", "survey_depths", "survey_evaluate", "survey_filters", "survey_observe",
           "survey_simulate", "survey_train"]

#: Key of the provenance entry in a source Parquet file's metadata.
META_KEY = b"galhalo.survey"
#: Filter systems a ``--filters`` / ``--system`` option may name instead of a file.
SYSTEMS = ("jpas", "sdss", "alhambra")

FiltersOption = Annotated[str, typer.Option(
    "--filters", help="Filter set: a CSV file filter,wavelength,transmission (galhalo "
                      "survey filters writes one to edit), or jpas, sdss, alhambra.")]
Out = Annotated[Path, typer.Option("--out", "-o", help="File to write.")]


# ----------------------------------------------------------------------------- helpers
def _filter_set(spec: str):
    from ..photometry import alhambra, jpas_like, read_filters, sdss

    builtin = {"jpas": jpas_like, "sdss": sdss, "alhambra": alhambra}
    if spec in builtin:
        return builtin[spec]()
    return read_filters(spec)


def _command() -> str:
    return shlex.join(["galhalo", *sys.argv[1:]])


def _write_sources(frame, path: Path, meta: dict[str, Any]) -> Path:
    """Write a source catalog as Parquet (atomic) with ``meta`` in its metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = frame.reset_index(drop=True)
    frame.attrs = {}
    table = pa.Table.from_pandas(frame, preserve_index=False)
    metadata = {**(table.schema.metadata or {}), META_KEY: dumps_json(meta).encode()}
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(metadata), tmp)
    return path


def _read_sources(path: Path, what: str = "source catalog"):
    """(frame, meta) of a source Parquet file; PhotometryError naming the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not Path(path).is_file():
        raise PhotometryError(f"{path}: no such {what} file")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise PhotometryError(f"{path}: not a Parquet {what} ({one_line(err)})") from None
    raw = (table.schema.metadata or {}).get(META_KEY)
    try:
        meta = json.loads(raw) if raw else {}
    except ValueError:
        raise PhotometryError(f"{path}: malformed {META_KEY.decode()} metadata") from None
    frame = table.to_pandas()
    for column in ("source_class", "redshift", "mag_r"):
        if column not in frame.columns:
            raise PhotometryError(f"{path}: no column '{column}' (not a {what}; make one "
                                  "with galhalo survey simulate)")
    return frame, meta


def _filter_names(frame, meta: dict[str, Any], path: Path, observed: bool) -> list[str]:
    """The filters of a source file: its metadata's list, else its ``flux_<f>`` columns;
    with ``observed``, each must also have ``flux_err_<f>``."""
    names = list(meta.get("filters") or [
        c[len("flux_"):] for c in frame.columns
        if c.startswith("flux_") and not c.startswith("flux_err_")])
    if not names:
        raise PhotometryError(f"{path}: no flux_<filter> columns")
    if observed:
        missing = [n for n in names if f"flux_err_{n}" not in frame.columns]
        if missing:
            raise PhotometryError(f"{path}: no column 'flux_err_{missing[0]}' (observe the "
                                  "sources first: galhalo survey observe)")
    return names


def _classifier_class(name: str):
    from ..photometry.classifiers import FAMILIES

    if name not in FAMILIES:
        raise ModelError(f"unknown survey model {name!r}; use one of {', '.join(FAMILIES)}")
    module, attribute = FAMILIES[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def _counts_table(counts, area: float) -> Table:
    table = Table(title=f"sources per deg² by true r ({area:g} deg²)")
    table.add_column("class", justify="left")
    for column in counts.columns:
        table.add_column(f"r {column}" if column != "all" else "all", justify="right")
    for name, row in counts.iterrows():
        table.add_row(str(name), *(f"{value:,.1f}" for value in row))
    return table


# ----------------------------------------------------------------------------- commands
@command_errors
def survey_filters(
    out: Out,
    system: Annotated[str, typer.Option(
        help="Filter system: jpas (J-PAS-like: 54 narrow bands, uJAVA, J1007, SDSS "
             "u, g, r, i), sdss (u, g, r, i, z) or alhambra (20 medium bands, J, H, "
             "KS).")] = "jpas",
) -> None:
    """Write a filter set as the CSV a user can edit (filter,wavelength,transmission)."""
    from ..photometry import write_filters

    if system not in SYSTEMS:
        raise PhotometryError(f"unknown filter system {system!r}; use one of "
                              f"{', '.join(SYSTEMS)}")
    check_writable(out)
    filters = _filter_set(system)
    write_filters(filters, out)
    output.print(f"wrote {out}: {len(filters)} filters ({', '.join(filters.names[:3])} ... "
                 f"{filters.names[-1]})")


@command_errors
def survey_depths(
    out: Out,
    filters: FiltersOption = "jpas",
) -> None:
    """Write the J-PAS-like 5σ depths (AB) of a filter set as the CSV a user can edit
    (filter,depth); a filter without a J-PAS-like default is an error."""
    from ..photometry.observation import jpas_depths, write_depths

    check_writable(out)
    depths = jpas_depths(_filter_set(filters).names)
    write_depths(depths, out)
    output.print(f"wrote {out}: 5σ depths of {len(depths)} filters "
                 f"({min(depths.values()):g}-{max(depths.values()):g} AB)")


@command_errors
def survey_simulate(
    catalog_path: Annotated[Path, typer.Option(
        "--catalog", help="galhalo mock (simulate, sample or populate output; satellites "
                          "included) with smass, color, sSFR and x, y, z in a periodic "
                          "box.")],
    area: Annotated[float, typer.Option(help="Sky area of the light-cone, deg².")],
    z_max: Annotated[float, typer.Option(help="Light-cone depth: largest galaxy "
                                              "redshift.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Source catalog (Parquet).")],
    filters: FiltersOption = "jpas",
    seed: Seed = 0,
    no_quasars: Annotated[bool, typer.Option("--no-quasars", help="Leave out quasars.")
                          ] = False,
    no_stars: Annotated[bool, typer.Option("--no-stars", help="Leave out stars.")] = False,
    r_min: Annotated[float, typer.Option(help="Brightest true r kept (AB).")] = 17.0,
    r_max: Annotated[float, typer.Option(help="Faintest true r kept (AB).")] = 23.6,
    latitude: Annotated[float, typer.Option(help="Galactic latitude of the field (deg; "
                                                 "star counts).")] = 60.0,
) -> None:
    """Simulate a survey's sources: the mock's galaxies on a light-cone, plus quasars
    (PD16 luminosity function) and stars for the same area; writes true fluxes (µJy)."""
    from ..catalog import read_catalog
    from ..photometry import mock_galaxies
    from ..photometry.mixture import class_counts, mixed_sample

    filter_set = _filter_set(filters)
    if "rSDSS" not in filter_set.names:
        raise PhotometryError(f"{filters}: the filter set has no 'rSDSS' band (the r band "
                              "of mag_r and of the quasar and star counts)")
    check_writable(out)
    catalog = read_catalog(catalog_path, required=("smass", "color", "sSFR", "x", "y", "z"))
    with Stages(f"survey of {area:g} deg² to z = {z_max:g}") as stages:
        stages(f"galaxies: light-cone of {len(catalog):,} mock galaxies, photometry in "
               f"{len(filter_set)} filters of those with r {r_min:g}-{r_max:g}")
        # r first: the other bands only for the galaxies in the range (most are fainter)
        galaxies = mock_galaxies(catalog, filter_set, z_max=z_max, area=area,
                                 r_range=(r_min, r_max))
        cut = galaxies.attrs["r_cut"]
        stages(f"{cut['placed']:,} galaxies in the cone, {cut['kept']:,} with r "
               f"{r_min:g}-{r_max:g}; drawing quasars and stars")
        sources = mixed_sample(galaxies, area, filter_set, seed, r_range=(r_min, r_max),
                               latitude=latitude, cosmology=catalog.meta.cosmology)
        dropped = [*(("qso_low", "qso_high") if no_quasars else ()),
                   *(("star",) if no_stars else ())]
        if dropped:
            sources = sources[~sources["source_class"].isin(dropped)]
        counts = class_counts(sources, area, edges=(r_min, 20.0, 22.5, r_max)
                              if r_min < 20.0 < 22.5 < r_max else (r_min, r_max))
        stages(f"writing {len(sources):,} sources")
        _write_sources(sources, out, {
            "filters": list(filter_set.names), "area_deg2": area, "z_max": z_max,
            "catalog": str(catalog_path), "seed": seed, "r_range": [r_min, r_max],
            "classes_left_out": dropped, "sed": galaxies.attrs.get("sed", {}),
            "galaxies_in_cone": cut["placed"],
            "steps": [_command()]})
    output.print(_counts_table(counts, area))
    output.print(f"wrote {out}: {len(sources):,} sources in {len(filter_set)} filters")


@command_errors
def survey_observe(
    sources_path: Annotated[Path, typer.Option(
        "--sources", help="Source catalog (galhalo survey simulate).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Observed catalog (Parquet).")],
    depths: Annotated[str, typer.Option(
        help="5σ AB depths: a CSV file filter,depth (galhalo survey depths writes one) "
             "or jpas (the J-PAS-like defaults).")] = "jpas",
    noise: Annotated[str, typer.Option(
        help="Noise model: sky (background-limited) or poisson (sky plus the source's "
             "photons).")] = "sky",
    source_to_sky: Annotated[float, typer.Option(
        help="poisson: source-to-sky photon ratio at the depth.")] = 1.0,
    zero_point_error: Annotated[float, typer.Option(
        help="σ (mag) of one random zero-point offset per filter.")] = 0.0,
    depth_scatter: Annotated[float, typer.Option(
        help="σ (mag) of the depth per source and filter (varying conditions).")] = 0.0,
    nondetection: Annotated[str, typer.Option(
        help="keep (flag, keep the measured flux) or limit (flux 0, error the 1σ "
             "limit).")] = "keep",
    seed: Seed = 0,
) -> None:
    """Observe a source catalog: noisy fluxes, errors (µJy) and non-detection flags; the
    true fluxes are kept as true_flux_<filter>."""
    from ..photometry.observation import jpas_depths, observe, read_depths

    check_writable(out)
    frame, meta = _read_sources(sources_path)
    names = _filter_names(frame, meta, sources_path, observed=False)
    limits = jpas_depths(names) if depths == "jpas" else read_depths(depths)
    where = "jpas" if depths == "jpas" else depths
    missing = [name for name in names if name not in limits]
    if missing:
        raise PhotometryError(f"{where}: no depth for filter(s) {', '.join(missing)}")
    observed = observe(frame, limits, seed, names, zero_point_error=zero_point_error,
                       noise=noise, source_to_sky=source_to_sky, nondetection=nondetection,
                       depth_scatter=depth_scatter)
    meta = {**meta, "filters": names, "observation": {
        "depths": observed.attrs["depths"], "noise": noise, "source_to_sky": source_to_sky,
        "zero_point_offsets": observed.attrs["zero_point_offsets"],
        "depth_scatter": depth_scatter, "nondetection": nondetection, "seed": seed},
        "steps": [*meta.get("steps", []), _command()]}
    _write_sources(observed, out, meta)
    flags = observed[[f"nondetected_{n}" for n in names]].to_numpy()
    output.print(f"wrote {out}: {len(observed):,} sources observed in {len(names)} filters "
                 f"({noise} noise; {flags.mean():.1%} of the fluxes below 1σ)")


@command_errors
def survey_train(
    catalog_path: Annotated[Path, typer.Option(
        "--catalog", help="Observed catalog (galhalo survey observe).")],
    model: Annotated[str, typer.Option(
        help="Classifier: survey_cnn (1-D CNN on the pseudo-spectrum) or survey_lightgbm "
             "(gradient-boosted trees).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model directory to write.")],
    settings: Annotated[list[str] | None, typer.Option(
        "--set", help="Hyperparameter as key=value, repeatable, e.g. --set epochs=20 "
                      "(docs/survey_classification.md).")] = None,
    no_errors: Annotated[bool, typer.Option(
        "--no-errors", help="Leave the flux errors out of the inputs.")] = False,
    seed: Seed = 0,
) -> None:
    """Train a survey classifier (star, galaxy, qso_low, qso_high, and a quasar
    redshift) on an observed catalog and save its model directory."""
    from ..photometry.classifiers import feature_spec

    family = _classifier_class(model)
    hyper = _parse_settings(settings)
    unknown = sorted(set(hyper) - set(family.defaults))
    if unknown:
        raise ModelError(f"{model}: unknown hyperparameter(s) {', '.join(unknown)} (known: "
                         f"{', '.join(family.defaults)})")
    check_writable(out, directory=True)
    frame, meta = _read_sources(catalog_path, "observed catalog")
    names = _filter_names(frame, meta, catalog_path, observed=True)
    classifier = family(feature_spec(names, use_errors=not no_errors), seed, **hyper)
    with Stages(f"training {model} on {len(frame):,} sources") as stages:
        stages(f"{len(names)} filters, errors {'left out' if no_errors else 'as inputs'}")
        classifier.fit(frame)
        stages(f"saving {out}")
        classifier.save(out)
    counts = frame["source_class"].value_counts()
    output.print("trained on " + ", ".join(f"{name} {int(counts.get(name, 0)):,}"
                                           for name in classifier.config()["classes"]))
    output.print(f"wrote {out} ({model})")


@command_errors
def survey_evaluate(
    model_dir: Annotated[Path, typer.Option("--model", help="Model directory (galhalo "
                                                            "survey train).")],
    catalog_path: Annotated[Path, typer.Option(
        "--catalog", help="Observed held-out catalog (galhalo survey observe).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory (created): "
                                      "metrics.json and four PNG figures.")],
) -> None:
    """Score a survey classifier: F1, purity and completeness per class and r bin beside
    Martínez-Solaeche+2023, the high-z quasar purity-completeness curve, confusion
    matrix, quasar redshift σ_NMAD and outliers, calibration."""
    from ..files import write_json
    from ..photometry import CLASSES
    from ..photometry.classifiers import load_classifier
    from ..photometry.survey_evaluation import (
        PUBLISHED_F1,
        PUBLISHED_REFERENCE,
        survey_scores,
    )
    from ..photometry.survey_metrics import R_BINS
    from ..report.survey_figure import write_survey_figures

    check_writable(out, directory=True)
    classifier = load_classifier(model_dir)
    frame, meta = _read_sources(catalog_path, "observed catalog")
    _filter_names(frame, meta, catalog_path, observed=True)
    scores = to_jsonable(survey_scores(classifier, frame), nan_as_none=True)
    metrics = {"model": str(model_dir), "family": classifier.family,
               "catalog": str(catalog_path), "n_sources": len(frame),
               "classes": list(CLASSES), "r_bins": [list(b) for b in R_BINS],
               "published": {"reference": PUBLISHED_REFERENCE, "f1": PUBLISHED_F1},
               "observation": meta.get("observation"), "scores": scores}
    out.mkdir(parents=True, exist_ok=True)
    check_writable(out / "metrics.json")
    write_json(out / "metrics.json", metrics)
    figures = write_survey_figures(scores, out, list(CLASSES), PUBLISHED_F1)
    output.print(_scores_table(metrics))
    output.print(_summary_line(scores))
    output.print(f"wrote {out / 'metrics.json'} and {len(figures)} figures in {out}")


def _scores_table(metrics: dict[str, Any]) -> Table:
    """F1 (purity/completeness) per class and r bin, the published F1 beside."""
    bins = metrics["scores"]["classes"]["bins"]
    table = Table(title=f"{metrics['family']} on {metrics['n_sources']:,} sources: "
                        "F1 (purity/completeness)")
    table.add_column("class", justify="left")
    for entry in bins:
        table.add_column(f"r {entry['low']:g}-{entry['high']:g}", justify="right")
    table.add_column("all", justify="right")
    table.add_column("sources", justify="right")

    def cell(score: dict) -> str:
        f1, purity, completeness = ("-" if score[k] is None else f"{score[k]:.2f}"
                                    for k in ("f1", "purity", "completeness"))
        return f"{f1} ({purity}/{completeness})"

    everything = metrics["scores"]["classes"]["all"]
    for name in metrics["classes"]:
        table.add_row(name, *(cell(entry["scores"][name]) for entry in bins),
                      cell(everything[name]), f"{everything[name]['support']:,}")
        if name in metrics["published"]["f1"]:
            table.add_row("  M-S+23 ANN1",
                          *(f"{v:.2f}" for v in metrics["published"]["f1"][name]), "", "",
                          style="dim")
    return table


def _summary_line(scores: dict[str, Any]) -> str:
    parts = [f"macro F1 {scores['macro_f1']:.3f}" if scores["macro_f1"] is not None
             else "macro F1 -"]
    best = scores.get("qso_high_best")
    if best:
        parts.append(f"qso_high best F1 {best['f1']:.2f} (purity {best['purity']:.2f}, "
                     f"completeness {best['completeness']:.2f} at p >= {best['threshold']:.2f})")
    if scores.get("redshift"):
        z = scores["redshift"]
        parts.append(f"quasar σ_NMAD {z['sigma_nmad']:.3f}, outliers "
                     f"{z['outlier_fraction']:.1%} ({z['n']:,})")
    parts.append(f"ECE {scores['ece']:.3f}")
    return "; ".join(parts)


#: The ``galhalo survey`` command group (registered by :mod:`galhalo.cli`).
survey_app = typer.Typer(help="Narrow-band survey photometry (J-PAS-like) from a galhalo "
                              "mock plus quasars and stars, observed and classified "
                              "(docs/survey_cli.md).", no_args_is_help=True)
for _name, _command_function in (("filters", survey_filters), ("depths", survey_depths),
                                 ("simulate", survey_simulate), ("observe", survey_observe),
                                 ("train", survey_train), ("evaluate", survey_evaluate)):
    survey_app.command(_name)(_command_function)
