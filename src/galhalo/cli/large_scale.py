"""Large-scale commands: ``clustering`` (truth vs mocks, population by population) and
``populate`` (paint galaxies onto huge halo catalogs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..catalog import read_catalog
from ..errors import ClusteringError
from ..files import check_writable
from ..report.numbers import format_value
from ._common import (
    Seed,
    Stages,
    command_errors,
    console,
    labelled_paths,
    output,
    say,
)

__all__ = ["clustering", "populate"]


@command_errors
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
    from ..evaluate.bias import BiasSettings, compare_clustering, parse_split
    from ..evaluate.clustering import DEFAULT_R_EDGES
    from ..report.clustering_figure import write_clustering

    splits = [parse_split(s) for s in (split or ["color:quantiles=4"])]
    mocks = labelled_paths(mock, "--mock")
    if "truth" in mocks:
        raise ClusteringError("--mock: the label 'truth' is reserved for --catalog")
    settings = BiasSettings(edges=tuple(float(e) for e in DEFAULT_R_EDGES),
                            fit_range=(fit_min, fit_max), jackknife=jackknife,
                            nthreads=threads, min_points=min_points)
    check_writable(out, directory=True)
    truth = read_catalog(catalog_path)
    mock_catalogs = {label: read_catalog(path) for label, path in mocks.items()}
    reference_catalog = read_catalog(reference) if reference is not None else None
    with Stages("clustering") as stages:
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
                      format_value(row["deviation_sigma"]))
    output.print(table)
    output.print(f"wrote {', '.join(str(p) for p in written.values())}")


@command_errors
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

    from ..populate import plan_populate, run_plan

    keep_columns = None if keep is None else [c.strip() for c in keep.split(",") if c.strip()]
    plan = plan_populate(model_dir, halos, out, samples=samples, keep=keep_columns,
                         seed=seed, chunk_rows=chunk_rows)
    say(f"{len(plan.tasks)} part(s), {plan.halos:,} halos from "
        f"{len(plan.files)} file(s), model {plan.model_info['family']} "
        f"({plan.model_info['hash'][:12]})")
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
