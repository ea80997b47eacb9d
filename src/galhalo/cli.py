"""The ``galhalo`` command line: thin typer wrappers over the Python API.

Every command checks its arguments and output paths before doing any work, and
reports bad input as one clear line (exit code 2) instead of a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from . import __version__
from .catalog import CatalogError, check_output_path, read_catalog, write_catalog
from .columns import GALAXY, HALO
from .files import OutputPathError, check_writable

app = typer.Typer(
    name="galhalo",
    help="Learn the stochastic galaxy-halo connection and score it against a known truth.\n\n"
         "Units everywhere: masses log10(Msun/h), lengths Mpc/h, velocities km/s.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
# Wide enough for the summary tables when writing to a file or a pipe.
output = Console(width=None if sys.stdout.isatty() else 120)

F = TypeVar("F", bound=Callable)


def _friendly_errors(command: F) -> F:
    """Turn bad-input exceptions into one red line and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (CatalogError, OutputPathError, ValueError, KeyError) as err:
            message = err.args[0] if isinstance(err, KeyError) and err.args else err
            console.print(f"[bold red]error:[/] {message}", highlight=False)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        output.print(f"galhalo {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """galhalo command line."""


class _Stages:
    """Progress reporting for a long job: a live spinner plus one line per stage."""

    def __init__(self, title: str):
        self.title = title
        self.start = time.perf_counter()
        self._status = console.status(title)

    def __enter__(self) -> _Stages:
        self._status.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._status.__exit__(*exc)

    def __call__(self, message: str) -> None:
        elapsed = time.perf_counter() - self.start
        console.print(f"[dim]{elapsed:7.1f} s[/]  {message}", highlight=False)
        self._status.update(f"{self.title}: {message}")


# Options shared by `simulate` and `demo`.
NHalos = Annotated[int, typer.Option(
    "--n-halos", min=1, help="Rows of the catalog: central galaxies above the stellar-mass "
    "cut log10 M* >= 8.75 (with --halos-only: halos above log10 M_h = 10.5).")]
Box = Annotated[float, typer.Option(
    "--box", help="Side of the periodic box in Mpc/h (comoving).")]
Seed = Annotated[int, typer.Option("--seed", help="Master random seed; same seed, same bytes.")]


def _simulate_catalog(n_halos: int, box: float, seed: int, halos_only: bool = False,
                      **options):
    """Build the config (validating it before any work) and run the simulation."""
    from .sim.universe import UniverseConfig, simulate, simulate_halos

    config = UniverseConfig(n_halos=n_halos, box=box, seed=seed, **options)
    run = simulate_halos if halos_only else simulate
    what = "halos" if halos_only else "centrals"
    with _Stages(f"simulating {n_halos:,} {what} in a {box:g} Mpc/h box") as stages:
        return run(config=config, progress=stages)


@app.command()
@_friendly_errors
def simulate(
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Catalog file to write: .parquet, .csv or .h5.")],
    n_halos: NHalos = 100_000,
    box: Box = 205.0,
    seed: Seed = 42,
    redshift: Annotated[float, typer.Option(help="Snapshot redshift.")] = 0.0,
    grid: Annotated[int | None, typer.Option(
        help="Density-field cells per side (even); default: cells <= 1.65 Mpc/h.")] = None,
    particles: Annotated[int | None, typer.Option(
        help="Matter-particle lattice per side for Delta3_h (even, >= grid); "
             "default 1.5 x grid.")] = None,
    halos_only: Annotated[bool, typer.Option(
        "--halos-only", help="Write the halo population alone (no galaxies, no "
        "stellar-mass selection), like a dark-matter-only halo catalog.")] = False,
    figure: Annotated[Path | None, typer.Option(
        help="Also write an overview figure (.png, .pdf or .svg).")] = None,
) -> None:
    """Simulate the synthetic TNG300-like universe with a known-truth galaxy model.

    Defaults give the embedded data set: 1e5 centrals with log10 M* >= 8.75 in a
    205 Mpc/h box (Planck 2015 cosmology, z = 0).
    """
    check_output_path(out)
    if figure is not None:
        check_writable(figure)
    catalog = _simulate_catalog(n_halos, box, seed, halos_only, redshift=redshift,
                                grid=grid, particles=particles)
    write_catalog(catalog, out)
    output.print(f"wrote {len(catalog):,} rows to {out}")
    if figure is not None:
        from .report.catalog_figure import catalog_overview

        catalog_overview(catalog, figure)
        output.print(f"wrote figure {figure}")


@app.command()
@_friendly_errors
def demo(
    out_dir: Annotated[Path, typer.Option(
        "--out-dir", help="Directory for the demo outputs (created if missing).")] = Path("demo"),
    n_halos: NHalos = 100_000,
    seed: Seed = 42,
    epochs: Annotated[int, typer.Option(
        min=0, help="Maximum training epochs of the demo flow (0: simulate only).")] = 30,
) -> None:
    """Run the main job on the embedded default data set.

    Simulates the default universe (OUT_DIR/catalog.parquet, OUT_DIR/overview.png),
    trains a conditional flow on 80% of it (OUT_DIR/flow/), samples a mock for the
    held-out 20% (OUT_DIR/mock.parquet, OUT_DIR/mock_vs_truth.png) and scores it against
    the known truth (OUT_DIR/metrics.json), and writes the evaluation report
    OUT_DIR/report.html.
    """
    from .demo import run_demo

    with _Stages("demo") as stages:
        result = run_demo(out_dir, n_halos=n_halos, seed=seed, epochs=epochs, progress=stages)
    _print_summary(result.catalog)
    if result.metrics:
        m = result.metrics
        output.print(f"held-out NLL: flow {m['flow_nll']:.4f}, truth {m['truth_nll']:.4f} nats "
                     f"per galaxy (flow - truth = {m['flow_minus_truth_nll']:.4f})")
    output.print("\nwrote " + ", ".join(map(str, result.written)))


@app.command()
@_friendly_errors
def ingest(
    source: Annotated[Path, typer.Argument(
        metavar="SOURCE", help="Subfind group catalog (directory of fof_subhalo_tab_NNN.K.hdf5 "
        "chunks, one chunk, or a CAMELS groups_NNN.hdf5) or a table (.csv, .parquet).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Catalog file to write: .parquet, "
                                                          ".csv or .h5.")],
    box: Annotated[float | None, typer.Option(
        help="Tables: periodic box side in Mpc/h (required when the table has positions "
             "and no galhalo metadata).")] = None,
    mapping: Annotated[list[str] | None, typer.Option(
        "--map", help="Tables: rename a column, SOURCE=TARGET (repeatable), e.g. "
                      "--map stellar_mass=smass.")] = None,
    redshift: Annotated[float | None, typer.Option(
        help="Tables: snapshot redshift (default: file metadata, else 0).")] = None,
    mass_definition: Annotated[str | None, typer.Option(
        help="Subfind: halo mass for M_h, C_h, S_h: Group_M_Crit200 (default), "
             "Group_M_Mean200 or Group_M_TopHat200.")] = None,
    stellar_mass_min: Annotated[float | None, typer.Option(
        help="Subfind: keep centrals with log10 M* >= this, in log10(Msun/h) "
             "(default 8.75).")] = None,
    stellar_mass_field: Annotated[str | None, typer.Option(
        help="Subfind: Subhalo field holding M* in column 4 (stars), e.g. "
             "SubhaloMassInRadType (default SubhaloMassType).")] = None,
    sfr_floor: Annotated[float | None, typer.Option(
        help="Subfind: log10 sSFR in 1/yr given to galaxies with SFR = 0 or lower sSFR; "
             "counted and reported (default -16).")] = None,
    formation_table: Annotated[Path | None, typer.Option(
        help="Subfind: CSV/Parquet of z_h keyed by subhalo id (columns subhalo_id, z_h).")
    ] = None,
    sublink: Annotated[Path | None, typer.Option(
        help="Subfind: directory of SubLink tree_extended.K.hdf5 files to compute z_h "
             "(needs --snapshot-redshifts).")] = None,
    snapshot_redshifts: Annotated[Path | None, typer.Option(
        help="CSV/Parquet with columns snapshot, redshift (for --sublink).")] = None,
) -> None:
    """Turn a real simulation (TNG / CAMELS Subfind, or a CSV/Parquet table) into a catalog.

    Same columns and units as every galhalo catalog; docs/ingest.md has the definitions.
    """
    from .io import SubLinkTrees
    from .io import ingest as ingest_catalog

    check_output_path(out)
    options = {key: value for key, value in {
        "box_size": box, "redshift": redshift, "mass_definition": mass_definition,
        "stellar_mass_min": stellar_mass_min, "stellar_mass_field": stellar_mass_field,
        "sfr_floor": sfr_floor, "formation_table": formation_table}.items()
        if value is not None}
    if mapping:
        pairs = [item.split("=", 1) for item in mapping]
        bad = [item for item, pair in zip(mapping, pairs, strict=True) if len(pair) != 2]
        if bad:
            raise ValueError(f"--map takes SOURCE=TARGET, got {bad}")
        options["mapping"] = dict(pairs)
    if sublink is not None:
        if snapshot_redshifts is None:
            raise ValueError("--sublink needs --snapshot-redshifts")
        options["sublink"] = SubLinkTrees(sublink, snapshot_redshifts)
    with _Stages(f"ingesting {source}") as stages:
        catalog = ingest_catalog(source, progress=stages, **options)
    write_catalog(catalog, out)
    _print_summary(catalog)
    counts = catalog.meta.extra.get("counts")
    if counts:
        output.print("counts: " + ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
                                            for k, v in counts.items()))
    output.print(f"wrote {len(catalog):,} rows to {out}")


DEFAULT_CONDITION = ",".join(HALO)
DEFAULT_TARGET = ",".join(GALAXY)


def _parse_settings(settings: list[str] | None) -> dict:
    """``--set key=value`` options: values read as JSON (numbers, true/false, null,
    lists), else as text; "a,b" lists of numbers become tuples."""
    hyper: dict = {}
    for item in settings or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects key=value, got {item!r}")
        try:
            value = json.loads(text)
        except ValueError:
            parts = text.split(",")
            try:
                value = tuple(json.loads(part) for part in parts) if len(parts) > 1 else text
            except ValueError:
                value = text
        hyper[key.strip()] = tuple(value) if isinstance(value, list) else value
    return hyper


def _hyperparameters(settings: list[str] | None = None, **given) -> dict:
    """The options the user set (None = the family's default), then ``--set`` ones."""
    hyper = {key: value for key, value in given.items() if value is not None}
    if "hidden" in hyper:
        try:
            hyper["hidden"] = tuple(int(part) for part in hyper["hidden"].split(","))
        except ValueError:
            raise ValueError(f"--hidden must be comma-separated integers, got "
                             f"{given['hidden']!r}") from None
    return {**hyper, **_parse_settings(settings)}


def _train_model(family: str, catalog, condition: str, target: str, seed: int, valid,
                 hyperparameters: dict):
    from .models import model_family

    model = model_family(family)(**hyperparameters)
    console.print(f"training {family}: {condition} -> {target} on {len(catalog):,} rows")
    return model.fit(catalog, condition, target, valid=valid, seed=seed)


@app.command()
@_friendly_errors
def train(
    model: Annotated[str, typer.Option(help=(
        "Model family: gauss (NNgauss), flow (conditional neural spline flow), nnclass "
        "(classifier over HiVAl classes), knn, "
        "extra_trees, lightgbm, mlp_regression, stacked (point-estimate regressors with "
        "a residual scatter)."))],
    catalog_path: Annotated[Path, typer.Option("--catalog", help="Training catalog file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model directory to write.")],
    condition: Annotated[str, typer.Option(
        help="Comma-separated condition columns (halo -> galaxy by default; swap the "
             "lists for galaxy -> halo).")] = DEFAULT_CONDITION,
    target: Annotated[str, typer.Option(help="Comma-separated target columns.")
                      ] = DEFAULT_TARGET,
    seed: Seed = 0,
    valid: Annotated[float, typer.Option(
        help="Fraction of rows held out for early stopping.")] = 0.2,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs [default 200].")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Rows per step [default 512].")] = None,
    learning_rate: Annotated[float | None, typer.Option(
        help="Initial AdamW learning rate [default 1e-3].")] = None,
    patience: Annotated[int | None, typer.Option(
        help="Epochs without validation improvement before stopping [default 20].")] = None,
    hidden: Annotated[str | None, typer.Option(
        help="Hidden layer widths, e.g. 128,128 [gauss 256,256,256; flow 128,128].")] = None,
    transforms: Annotated[int | None, typer.Option(
        help="Flow: number of spline transforms [default 4].")] = None,
    bins: Annotated[int | None, typer.Option(help="Flow: spline bins [default 8].")] = None,
    settings: Annotated[list[str] | None, typer.Option(
        "--set", help="Any other hyperparameter as key=value, repeatable, e.g. --set "
                      "weight_decay=1e-4 --set passes=2 (see docs/models.md).")] = None,
) -> None:
    """Learn p(target | condition) from a catalog and save the model directory.

    The directory holds config.json (family, columns, scalers, metrics), weights.pt and
    history.json (the loss curve). Log-densities are in the targets' physical units.
    """
    from .models import model_family
    from .models.base import check_columns

    hyper = _hyperparameters(settings, epochs=epochs, batch_size=batch_size,
                             learning_rate=learning_rate, patience=patience, hidden=hidden,
                             transforms=transforms, bins=bins)
    model_family(model)(**hyper)  # unknown family or hyperparameter: fail before reading
    columns = tuple(name for names in check_columns(condition, target) for name in names)
    check_writable(out, directory=True)
    catalog = read_catalog(catalog_path, required=columns)
    fitted = _train_model(model, catalog, condition, target, seed, valid, hyper)
    fitted.save(out)
    metrics = fitted.metrics
    tail = (f" after {metrics['epochs']} epochs (best {metrics['best_epoch']})"
            if metrics.get("epochs") else "")
    output.print(f"wrote {out}: validation NLL {metrics['valid_nll']:.4f} nats per row{tail}")


@app.command()
@_friendly_errors
def smogn(
    catalog_path: Annotated[Path, typer.Option("--catalog", help="Catalog file to augment.")],
    target: Annotated[str, typer.Option(
        help="Column whose rare values are over-sampled, e.g. sSFR.")],
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Augmented catalog to write: .parquet, .csv or .h5.")],
    features: Annotated[str | None, typer.Option(
        help="Comma-separated columns carried along and used, with the target, for the "
             "neighbour distances [default: every halo and galaxy column present].")] = None,
    figure: Annotated[Path | None, typer.Option(
        help="Also write the target's distribution before/after with phi(y) "
             "(.png, .pdf or .svg).")] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="Nearest neighbours (within a bin) to "
                                                      "interpolate towards.")] = 7,
    pert: Annotated[float, typer.Option(
        help="Gaussian-noise scale: fraction of each column's sd in the bin.")] = 0.04,
    threshold: Annotated[float, typer.Option(
        help="Relevance phi(y) at and above which a target value is rare.")] = 0.8,
    mode: Annotated[str, typer.Option(
        help="balance (every bin gets n / bins rows) or extreme.")] = "balance",
    undersample: Annotated[bool, typer.Option(
        "--undersample/--no-undersample",
        help="Under-sample the bins above their target size.")] = True,
    seed: Seed = 0,
) -> None:
    """Over-sample the rare values of one column with SMOGN (SMOTER + Gaussian noise).

    The relevance phi(y) comes from the target's box plot (coefficient 1.5). The output
    holds the target and feature columns only (ids, positions and velocities are not
    interpolated): the kept original rows, then the synthetic rows. See docs/smogn.md.
    """
    import copy

    from .augment.smogn import augment
    from .catalog import Catalog
    from .columns import parse_column_list

    check_output_path(out)
    if figure is not None:
        check_writable(figure)
    named = parse_column_list(features) if features else ()
    catalog = read_catalog(catalog_path, required=(target, *named))
    names = list(named) or [name for name in (*catalog.halo_columns, *catalog.galaxy_columns)
                            if name != target]
    if "halo_id" in names:
        raise ValueError("--features: halo_id cannot be interpolated; leave it out")
    result = augment(catalog.table, target, features=names, k=k, pert=pert,
                     threshold=threshold, mode=mode, undersample=undersample, seed=seed)
    meta = copy.deepcopy(catalog.meta)
    meta.truth = None  # synthetic rows are not draws from a truth model
    meta.source = f"smogn of {meta.source or catalog_path}"
    meta.extra["smogn"] = {"target": target, "features": names, "k": k, "pert": pert,
                           "threshold": threshold, "mode": mode, "undersample": undersample,
                           "seed": seed, "control_points": result.control_points.tolist(),
                           "synthetic_rows": int(result.synthetic.sum())}
    write_catalog(Catalog(result.table, meta), out)
    table = Table(title=f"SMOGN bins of {target} (rows ordered by {target})")
    for name in ("bin", "rare", "range", "input", "kept", "synthetic", "output"):
        table.add_column(name, justify="right")
    for b, row in result.bins.iterrows():
        table.add_row(str(b), "yes" if row["rare"] else "no",
                      f"{row['lower']:.4g} .. {row['upper']:.4g}", f"{row['rows']:,}",
                      f"{row['kept']:,}", f"{row['synthetic']:,}", f"{row['total']:,}")
    output.print(table)
    output.print(f"wrote {len(result.table):,} rows ({int(result.synthetic.sum()):,} synthetic) "
                 f"to {out}")
    if figure is not None:
        from .report.smogn_figure import smogn_figure

        smogn_figure(catalog.table[target], result.table[target], figure,
                     control_points=result.control_points, threshold=threshold, label=target,
                     synthetic=result.synthetic, title=f"SMOGN of {target} ({mode})")
        output.print(f"wrote figure {figure}")


def _load_scoring_model(spec: str, catalog):
    """A model directory, or ``truth`` for the catalog's own truth model."""
    from .models import load_model

    if spec == "truth":
        if catalog.meta.truth is None:
            raise ValueError("--model truth: this catalog carries no truth model "
                             "(only synthetic catalogs do)")
        from .sim.truth import TruthModel

        return TruthModel.from_dict(catalog.meta.truth)
    return load_model(spec)


def _evaluate(model_spec: str, catalog, select: list[str] | None, samples: int, seed: int,
              importance: bool) -> dict:
    from .evaluate.run import evaluate_model

    model = _load_scoring_model(model_spec, catalog)
    return evaluate_model(model, catalog, scenarios=select or None, n_samples=samples,
                          seed=seed, importance=importance, progress=console.print)


ModelList = Annotated[list[str], typer.Option(
    "--model", help="Model directory (galhalo train), or 'truth' for a synthetic "
                    "catalog's own truth model (scores at the noise floor).")]
Select = Annotated[list[str] | None, typer.Option(
    "--select", help="Scenario: a preset name (whole, high_mass, low_mass, fixed_mass, "
                     "...) or a selection like '11.2<M_h<11.5 & z_h>1'; repeatable "
                     "[default: every preset with enough rows].")]
Samples = Annotated[int, typer.Option(min=5, help="Model draws per catalog row (>= 5).")]


def _model_names(models: list[str]) -> list[str]:
    """Labels of ``--model`` options: directory names (or 'truth'), which must differ."""
    names = [Path(m).name if m != "truth" else "truth" for m in models]
    if len(set(names)) != len(names):
        raise ValueError(f"models need distinct directory names, got {names}")
    return names


def _number(value) -> str:
    return "–" if value is None or value != value else f"{value:.4g}"


def _write_table(frame, path: Path) -> None:
    from .files import atomic_path

    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


@app.command()
@_friendly_errors
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
) -> None:
    """Score one model on a held-out catalog: distribution distances, PCC, calibration,
    NLL (minus the truth's for synthetic catalogs), feature importance; every number with
    its error bar and noise floor. See docs/evaluation.md."""
    from .evaluate.run import results_table
    from .files import write_json

    if len(model) != 1:
        raise ValueError("evaluate scores one --model; use galhalo compare for several")
    check_writable(out)
    check_writable(out.with_suffix(".csv"))
    catalog = read_catalog(catalog_path)
    result = _evaluate(model[0], catalog, select, samples, seed, importance)
    write_json(out, result)
    table = results_table(result)
    _write_table(table, out.with_suffix(".csv"))
    output.print(f"wrote {out} and {out.with_suffix('.csv')} ({len(table)} rows)")


@app.command()
@_friendly_errors
def compare(
    model: ModelList,
    catalog_path: Annotated[Path, typer.Option(
        "--catalog", help="Held-out catalog with the true targets.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Comparison table (CSV).")
                   ] = Path("comparison.csv"),
    select: Select = None,
    samples: Samples = 10,
    seed: Seed = 0,
) -> None:
    """Score several models on the same catalog: one table, families side by side per
    scenario and metric, the best marked ('clear' when it beats the next by > 2 sigma)."""
    from .evaluate.run import compare as compare_results

    if len(model) < 2:
        raise ValueError("compare needs at least two --model options")
    names = _model_names(model)
    check_writable(out)
    catalog = read_catalog(catalog_path)
    results = {name: _evaluate(spec, catalog, select, samples, seed, False)
               for name, spec in zip(names, model, strict=True)}
    frame = compare_results(results)
    _write_table(frame, out)
    whole = frame[frame["scenario"] == "whole"] if "whole" in set(frame["scenario"]) else frame
    table = Table(title="whole sample" if "whole" in set(frame["scenario"]) else "comparison")
    for column in ("metric", "key", *names, "best"):
        table.add_column(column, justify="right")
    for _, row in whole.iterrows():
        table.add_row(str(row["metric"]), str(row["key"]),
                      *(_number(row[n]) for n in names),
                      str(row["best"]))
    output.print(table)
    output.print(f"wrote {out} ({len(frame)} rows)")


@app.command(name="hival")
@_friendly_errors
def hival_command(
    catalog_path: Annotated[Path, typer.Option("--catalog", help="Catalog file.")],
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Directory to write: hival.npz + hival.json (the hierarchy, "
                            "plain arrays) and hival.png (diagnostic figure).")],
    target: Annotated[str, typer.Option(
        help="Comma-separated columns to tessellate (1 to 8).")] = DEFAULT_TARGET,
    candidates: Annotated[int, typer.Option(
        min=1, help="A cell pairs with one of this many nearest cells sharing a face.")] = 3,
    neighbours: Annotated[int, typer.Option(
        min=1, help="Neighbours bounding each local cell (accuracy vs speed).")] = 16,
    directions: Annotated[int, typer.Option(
        min=2, help="Rays per cell for volumes and face measures.")] = 64,
    seed: Seed = 0,
) -> None:
    """Build the HiVAl hierarchy of classes of the target space; print the class counts.

    Every level is kept: generators, memberships, cell volumes, per-class dispersion,
    occupancy and the oracle PCC (docs/hival.md).
    """
    from .columns import parse_column_list
    from .models.hival import hival
    from .report.hival_figure import hival_figure

    names = parse_column_list(target)
    check_writable(out, directory=True)
    catalog = read_catalog(catalog_path, required=names)
    points = catalog.table[list(names)].to_numpy(dtype=float)
    with _Stages(f"HiVAl of {len(points):,} points in {len(names)}-D") as stages:
        hierarchy = hival(points, names, candidates=candidates, neighbours=neighbours,
                          directions=directions, seed=seed, progress=stages)
    hierarchy.save(out)
    hival_figure(hierarchy, out / "hival.png", points=points)
    table = Table(title="HiVAl classes per level (oracle PCC: each point against a random "
                        "member of its class)")
    for name in ("level", "classes", "singletons", "median members", *names):
        table.add_column(name, justify="right")
    for row in hierarchy.summary():
        table.add_row(str(row["level"]), f"{row['classes']:,}", f"{row['singletons']:,}",
                      f"{row['median_occupancy']:g}",
                      *(f"{row['oracle_pcc'][name]:.3f}" for name in names))
    output.print(table)
    output.print(f"wrote {out} ({hierarchy.n_levels} levels: "
                 f"{' -> '.join(f'{c:,}' for c in hierarchy.counts)})")

@app.command()
@_friendly_errors
def sample(
    model_dir: Annotated[Path, typer.Option("--model", help="Model directory (galhalo train).")],
    halos: Annotated[Path, typer.Option(
        help="Catalog with the model's condition columns (e.g. a halo catalog).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Mock catalog file to write.")],
    samples: Annotated[int, typer.Option(
        min=1, help="Realisations per row (adds a 'realization' column when > 1).")] = 1,
    seed: Seed = 0,
) -> None:
    """Sample the model's targets for every row of a catalog: a mock catalog."""
    from .mock import make_mock
    from .models import load_model

    check_output_path(out)
    model = load_model(model_dir)
    catalog = read_catalog(halos, required=model.condition)
    mock = make_mock(model, catalog, samples, seed)
    write_catalog(mock, out)
    output.print(f"wrote {len(mock):,} rows ({samples} per input row) to {out}")


@app.command()
@_friendly_errors
def info(
    catalog_path: Annotated[Path, typer.Argument(
        metavar="CATALOG", help="Catalog file (.parquet, .csv, .h5).")],
) -> None:
    """Validate a catalog and print its metadata and a summary of every column."""
    catalog = read_catalog(catalog_path)
    meta = catalog.meta
    output.print(f"[bold]{catalog_path}[/]: {len(catalog):,} rows, source {meta.source!r}")
    output.print(f"box {meta.box_size} Mpc/h, redshift {meta.redshift}, seed {meta.seed}, "
                 f"cosmology {meta.cosmology or 'unknown'}, "
                 f"truth model {'yes' if meta.truth else 'no'}")
    _print_summary(catalog)


@app.command()
@_friendly_errors
def validate(
    catalog_path: Annotated[Path, typer.Argument(
        metavar="CATALOG", help="Catalog file (.parquet, .csv, .h5).")],
    require: Annotated[str, typer.Option(
        help="Comma-separated columns that must be present, e.g. M_h,smass.")] = "",
) -> None:
    """Check a catalog against the schema (columns, units, NaN/inf, physical bounds)."""
    from .columns import parse_column_list

    required = parse_column_list(require) if require.strip() else ()
    catalog = read_catalog(catalog_path, required=required)
    output.print(f"{catalog_path}: valid, {len(catalog):,} rows, "
                 f"columns {', '.join(catalog.table.columns)}")


def _print_summary(catalog) -> None:
    summary = catalog.describe()
    table = Table(title="column summary (percentiles in each column's unit)")
    for name in ("column", "unit", "p1", "p16", "p50", "p84", "p99", "mean", "sd"):
        table.add_column(name, justify="left" if name in ("column", "unit") else "right")
    for name, row in summary.iterrows():
        table.add_row(name, row["unit"], *(f"{row[key]:.4g}" for key in
                                           ("p1", "p16", "p50", "p84", "p99", "mean", "sd")))
    output.print(table)


def _labelled_paths(specs: list[str], option: str) -> dict[str, Path]:
    """``LABEL=PATH`` or ``PATH`` (label = file stem) -> {label: path}; labels unique."""
    labelled: dict[str, Path] = {}
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep:
            label, path = Path(spec).stem, spec
        if not label.strip() or not path.strip():
            raise ValueError(f"{option} {spec!r}: expected LABEL=PATH or PATH")
        if label in labelled:
            raise ValueError(f"{option}: label {label!r} is used twice; name them "
                             "LABEL=PATH")
        labelled[label.strip()] = Path(path.strip())
    return labelled


@app.command()
@_friendly_errors
def clustering(
    catalog_path: Annotated[Path, typer.Option(
        "--catalog", help="Truth catalog (e.g. the simulation) with positions and box size.")],
    mock: Annotated[list[str], typer.Option(
        "--mock", help="Mock catalog as LABEL=PATH (or PATH: label = file stem), same box; "
                       "repeatable. K realisations (a 'realization' column) measure the "
                       "model's stochasticity.")],
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Directory for clustering.json, clustering.csv, xi.png, "
                            "bias.png (and assembly_bias.csv, stochasticity.csv).")],
    split: Annotated[list[str] | None, typer.Option(
        "--split", help="Populations: 'column:quantiles=N', 'column:thresholds=a,b', "
                        "'column:above=a', 'column:classes' or 'all'; repeatable "
                        "[default: color:quantiles=4].")] = None,
    reference: Annotated[Path | None, typer.Option(
        help="Reference population for b(r) = sqrt(xi_pop / xi_ref) (default: every row "
             "of each catalog, i.e. all its halos).")] = None,
    fit_min: Annotated[float, typer.Option(help="Large-scale bias fit from (Mpc/h).")] = 10.0,
    fit_max: Annotated[float, typer.Option(help="Large-scale bias fit to (Mpc/h).")] = 40.0,
    jackknife: Annotated[int, typer.Option(
        min=2, help="Jackknife cubes per box side (n^3 sub-volumes).")] = 3,
    threads: Annotated[int, typer.Option(min=1, help="Corrfunc threads.")] = 2,
    min_points: Annotated[int, typer.Option(
        min=1, help="Smallest population (per realisation) accepted.")] = 100,
    shuffle_seed: Annotated[int, typer.Option(
        help="Seed of the assembly-bias shuffle (properties shuffled among halos in "
             "0.1-dex mass bins).")] = 0,
    shuffle: Annotated[bool, typer.Option(
        "--shuffle/--no-shuffle", help="Run the assembly-bias shuffle test.")] = True,
    shared_edges: Annotated[bool, typer.Option(
        "--shared-edges", help="Cut the mocks' populations at the truth's quantile values "
                               "instead of their own quantiles.")] = False,
) -> None:
    """Clustering and tracer bias, truth vs mocks, population by population: xi(r), b(r),
    the large-scale bias with jackknife errors, the assembly-bias shuffle test and the
    mocks' stochasticity (docs/clustering.md)."""
    from .evaluate.bias import BiasSettings, compare_clustering, parse_split
    from .evaluate.clustering import DEFAULT_R_EDGES
    from .report.clustering_figure import write_clustering

    splits = [parse_split(s) for s in (split or ["color:quantiles=4"])]
    mocks = _labelled_paths(mock, "--mock")
    if "truth" in mocks:
        raise ValueError("--mock: the label 'truth' is reserved for --catalog")
    settings = BiasSettings(edges=tuple(float(e) for e in DEFAULT_R_EDGES),
                            fit_range=(fit_min, fit_max), jackknife=jackknife,
                            nthreads=threads, min_points=min_points)
    check_writable(out, directory=True)
    truth = read_catalog(catalog_path)
    mock_catalogs = {label: read_catalog(path) for label, path in mocks.items()}
    reference_catalog = read_catalog(reference) if reference is not None else None
    with _Stages("clustering") as stages:
        comparison = compare_clustering(
            truth, mock_catalogs, splits, reference=reference_catalog, settings=settings,
            shuffle_seed=shuffle_seed if shuffle else None, shared_edges=shared_edges,
            progress=stages)
    written = write_clustering(comparison, out)
    table = Table(title=f"large-scale bias, {fit_min:g}-{fit_max:g} Mpc/h (jackknife "
                        f"errors; ratio and deviation paired)")
    for name in ("model", "population", "b truth", "b mock", "ratio", "dev (sigma)"):
        table.add_column(name, justify="left" if name in ("model", "population") else "right")
    for _, row in comparison.table.iterrows():
        table.add_row(str(row["model"]), str(row["population"]),
                      f"{row['b_truth']:.3f} ± {row['b_truth_error']:.3f}",
                      f"{row['b_mock']:.3f} ± {row['b_mock_error']:.3f}",
                      f"{row['ratio']:.3f} ± {row['ratio_error']:.3f}",
                      _number(row["deviation_sigma"]))
    output.print(table)
    output.print(f"wrote {', '.join(str(p) for p in written.values())}")


@app.command()
@_friendly_errors
def populate(
    model_dir: Annotated[Path, typer.Option("--model", help="Model directory (galhalo train).")],
    halos: Annotated[list[str], typer.Option(
        "--halos", help="Halo files: a glob such as 'halos/*.parquet' (quote it), a file or "
                        "a directory; repeatable. Parquet, CSV or HDF5.")],
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Output directory: one Parquet part per input part plus "
                            "_manifest.json; re-running resumes.")],
    samples: Annotated[int, typer.Option(
        min=1, help="Realisations per halo (adds a 'realization' column when > 1).")] = 1,
    keep: Annotated[str | None, typer.Option(
        help="Comma-separated input columns to copy into the mock ('' for none) "
             "[default: every input column except the model's targets].")] = None,
    scheduler: Annotated[str, typer.Option(
        help="'local' (a Dask LocalCluster), 'threads' (this process) or a scheduler "
             "address such as tcp://host:8786.")] = "local",
    workers: Annotated[int | None, typer.Option(
        min=1, help="Workers of a local run [default: usable cores].")] = None,
    chunk_rows: Annotated[int, typer.Option(
        min=1, help="Input rows per output part (bounds each worker's memory).")
                          ] = 1_000_000,
    checksums: Annotated[bool, typer.Option(
        "--checksums", help="Re-hash finished parts before trusting them on a resume.")
                         ] = False,
    seed: Seed = 0,
) -> None:
    """Paint galaxies onto huge halo catalogs: out-of-core, resumable, on Dask from one
    laptop to a cluster (docs/populate.md)."""
    from rich import progress as bars

    from .populate import plan_populate, run_plan

    keep_columns = None if keep is None else [c.strip() for c in keep.split(",") if c.strip()]
    plan = plan_populate(model_dir, halos, out, samples=samples, keep=keep_columns,
                         seed=seed, chunk_rows=chunk_rows)
    console.print(f"{len(plan.tasks)} part(s), {plan.halos:,} halos from "
                  f"{len(plan.files)} file(s), model {plan.model_info['family']} "
                  f"({plan.model_info['hash'][:12]})", highlight=False)
    columns = (bars.TextColumn("[bold]populate"), bars.BarColumn(), bars.MofNCompleteColumn(),
               bars.TextColumn("parts  {task.fields[rate]}"), bars.TimeElapsedColumn())
    with bars.Progress(*columns, console=console) as bar:
        task = bar.add_task("parts", total=len(plan.tasks), rate="")

        def report(state) -> None:
            rate = state.halos_per_second
            bar.update(task, completed=state.parts_done,
                       rate=f"{rate:,.0f} halos/s" if rate > 0 else "")

        result = run_plan(plan, scheduler=scheduler, workers=workers, checksums=checksums,
                          progress=report)
    table = Table(title=f"populate: {result.out}")
    table.add_column("", justify="left")
    table.add_column("", justify="right")
    for name, value in (
            ("parts written / skipped / total",
             f"{result.parts_written} / {result.parts_skipped} / {result.parts_total}"),
            ("parts adopted / redone", f"{result.parts_adopted} / {len(result.redone)}"),
            ("halos (total)", f"{result.halos:,}"), ("mock rows (total)", f"{result.rows:,}"),
            ("halos this run", f"{result.halos_this_run:,}"),
            ("wall time", f"{result.seconds:.1f} s (+{result.startup_seconds:.1f} s start)"),
            ("throughput", f"{result.halos_per_second:,.0f} halos/s"),
            ("scheduler / workers", f"{result.scheduler} / {result.workers}")):
        table.add_row(name, value)
    output.print(table)
    output.print(f"wrote {result.out} (manifest {result.manifest})")


ClusteringMocks = Annotated[list[str] | None, typer.Option(
    "--clustering-mock", help="Also compare clustering and tracer bias of the catalog with "
                              "a mock catalog, LABEL=PATH (repeatable; same box).")]


@app.command()
@_friendly_errors
def report(
    model: ModelList,
    catalog_path: Annotated[Path, typer.Option(
        "--catalog", help="Held-out catalog with the true targets.")],
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
) -> None:
    """Score one or more models on a held-out catalog and write one self-contained HTML
    page: comparison tables, corner plot, per-scenario contours, 1-D histograms,
    calibration, feature importance, loss curves (and clustering with
    --clustering-mock). See docs/report.md."""
    import shlex

    from .report.build import build_report

    names = _model_names(model)
    mocks = _labelled_paths(clustering_mock or [], "--clustering-mock")
    check_writable(out)
    catalog = read_catalog(catalog_path)
    mock_catalogs = {label: read_catalog(path) for label, path in mocks.items()}
    with _Stages(f"report on {len(catalog):,} rows") as stages:
        def clustering():
            from .evaluate.bias import compare_clustering

            return compare_clustering(catalog, mock_catalogs, split, progress=stages)

        written = build_report(dict(zip(names, model, strict=True)), catalog, out,
                               scenarios=select or None, n_samples=samples, seed=seed,
                               importance=importance,
                               clustering=clustering if mock_catalogs else None,
                               progress=stages,
                               command=shlex.join(["galhalo", *sys.argv[1:]]))
    output.print(f"wrote {written} ({written.stat().st_size / 1e6:.2f} MB)")


# Commands living in their own modules register themselves on `app`.
from . import cli_cosmo  # noqa: E402, F401
