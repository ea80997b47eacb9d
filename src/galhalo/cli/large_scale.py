"""Large-scale commands: ``clustering`` (truth vs mocks or one catalog, population by
population; satellites and small scales when the catalog has them) and ``populate``
(paint galaxies onto huge halo catalogs)."""

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
        "--catalog", help="Truth catalog (e.g. the simulation) with positions and box size; "
                          "alone (no --mock) it is measured by itself.")],
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Directory for clustering.json, clustering.csv, xi.png, "
                            "bias.png (and assembly_bias.csv, stochasticity.csv; with "
                            "satellites also small_scales.csv, satellites.json, the "
                            "satellite tables and figures, and with mocks wp_ratio.csv / "
                            "wp_ratio.png).")],
    mock: Annotated[list[str] | None, typer.Option(
        "--mock", help="Mock catalog as LABEL=PATH (or PATH: label = file stem), same box; "
                       "repeatable. K realisations (a 'realization' column) measure the "
                       "model's stochasticity. None: measure --catalog alone.")] = None,
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
        min=1, help="Smallest population (per realisation) accepted; with satellites, "
                    "smaller small-scale populations are skipped with a note.")] = 100,
    shuffle_seed: Annotated[int, typer.Option(
        help="Seed of the assembly-bias shuffle (properties shuffled among halos in "
             "0.1-dex mass bins).")] = 0,
    shuffle: Annotated[bool, typer.Option(
        "--shuffle/--no-shuffle", help="Run the assembly-bias shuffle test.")] = True,
    shared_edges: Annotated[bool, typer.Option(
        "--shared-edges", help="Cut the mocks' populations at the truth's quantile values "
                               "instead of their own quantiles.")] = False,
    rp_min: Annotated[float, typer.Option(
        help="Satellites: smallest separation of wp(rp) and xi(r) (Mpc/h).")] = 0.1,
    rp_max: Annotated[float, typer.Option(
        help="Satellites: largest separation of wp(rp) and xi(r) (Mpc/h).")] = 40.0,
    per_decade: Annotated[int, typer.Option(
        min=1, help="Satellites: logarithmic separation bins per decade.")] = 5,
    pi_max: Annotated[float, typer.Option(
        help="Satellites: wp line-of-sight depth |pi| < pi_max (whole Mpc/h; los z).")
                      ] = 40.0,
    colour_cut: Annotated[float, typer.Option(
        help="Satellites: red / blue boundary in g - i (mag).")] = 0.9,
    quenched_by: Annotated[str | None, typer.Option(
        help="Satellites: quenched by 'sSFR' (< -11) or 'color' (> 0.9); unset: sSFR "
             "if the catalog has it, else color.")] = None,
) -> None:
    """Clustering and tracer bias, truth vs mocks (or one catalog), population by
    population: xi(r), b(r), the large-scale bias with jackknife errors, the
    assembly-bias shuffle test and the mocks' stochasticity; for catalogs with
    satellites also wp(rp) / xi(r) from 0.1 Mpc/h by central/satellite and colour, and
    the satellite statistics (docs/clustering.md)."""
    from ..evaluate.bias import BiasSettings, compare_clustering, parse_split
    from ..evaluate.clustering import DEFAULT_R_EDGES
    from ..evaluate.positions import box_size_of
    from ..evaluate.satellite_clustering import SmallScaleSettings
    from ..evaluate.satellite_comparison import compare_satellites
    from ..evaluate.satellite_quenching import QUENCHED_CUTS, quenched_mask
    from ..evaluate.satellite_statistics import check_satellite_catalog
    from ..evaluate.single_catalog import measure_catalog
    from ..report.clustering_figure import write_clustering
    from ..report.satellite_figure import write_satellites
    from ..report.wp_ratio_figure import write_wp_ratio

    splits = [parse_split(s) for s in (split or ["color:quantiles=4"])]
    mocks = labelled_paths(mock or [], "--mock")
    if "truth" in mocks:
        raise ClusteringError("--mock: the label 'truth' is reserved for --catalog")
    settings = BiasSettings(edges=tuple(float(e) for e in DEFAULT_R_EDGES),
                            fit_range=(fit_min, fit_max), jackknife=jackknife,
                            nthreads=threads, min_points=min_points)
    small_settings = SmallScaleSettings(
        rp_min=rp_min, rp_max=rp_max, per_decade=per_decade, pi_max=pi_max,
        jackknife=jackknife, nthreads=threads, min_points=min_points,
        colour_cut=colour_cut)
    if quenched_by is not None and quenched_by not in QUENCHED_CUTS:
        raise ClusteringError(f"--quenched-by {quenched_by!r}: use one of "
                              f"{', '.join(QUENCHED_CUTS)}")
    check_writable(out, directory=True)
    truth = read_catalog(catalog_path)
    mock_catalogs = {label: read_catalog(path) for label, path in mocks.items()}
    reference_catalog = read_catalog(reference) if reference is not None else None
    with_satellites = {label: catalog for label, catalog
                       in [("truth", truth), *mock_catalogs.items()] if catalog.has_satellites}
    for label, catalog in with_satellites.items():
        where = catalog_path if label == "truth" else mocks[label]
        try:
            check_satellite_catalog(catalog)
            small_settings.check(box_size_of(catalog))
            if quenched_by is not None:
                quenched_mask(catalog.table, quenched_by)
        except ClusteringError as err:
            raise ClusteringError(f"{where}: {err}") from None
    with Stages("clustering") as stages:
        if mock_catalogs:
            comparison = compare_clustering(
                truth, mock_catalogs, splits, reference=reference_catalog,
                settings=settings, shuffle_seed=shuffle_seed if shuffle else None,
                shared_edges=shared_edges, progress=stages)
        else:
            comparison = measure_catalog(
                truth, splits, reference=reference_catalog, settings=settings,
                shuffle_seed=shuffle_seed if shuffle else None, progress=stages)
        satellites = (compare_satellites(with_satellites, small_settings,
                                         shared_edges=shared_edges, quenched_by=quenched_by,
                                         progress=stages, ratios="truth" in with_satellites)
                      if with_satellites else None)
    written = write_clustering(comparison, out)
    if satellites is not None:
        small, statistics = satellites.small, satellites.statistics
        has_ratios = not satellites.ratios.empty
        written.update(write_satellites(small, statistics, out,
                                        satellites.to_dict() if has_ratios else None))
        if has_ratios:
            written.update(write_wp_ratio(satellites, out))
    output.print(_bias_table(comparison, fit_min, fit_max))
    for label in with_satellites:
        output.print(_small_scale_table(small[label]))
        output.print(_satellite_line(statistics[label]))
    if satellites is not None and not satellites.ratios.empty:
        output.print(_ratio_table(satellites))
    output.print(f"wrote {', '.join(str(p) for p in written.values())}")


def _bias_table(comparison, fit_min: float, fit_max: float) -> Table:
    """The large-scale bias table: truth vs each mock, or the one catalog's."""
    if not comparison.mocks:
        table = Table(title=f"large-scale bias, {fit_min:g}-{fit_max:g} Mpc/h (jackknife "
                            "errors)")
        names = ["population", "n", "b"] + (["b - b_shuffled"] if "ab_truth" in
                                            comparison.table else [])
        for name in names:
            table.add_column(name, justify="left" if name == "population" else "right")
        for _, row in comparison.table.iterrows():
            cells = [str(row["population"]), f"{row['n_truth']:,.0f}",
                     f"{row['b_truth']:.3f} ± {row['b_truth_error']:.3f}"]
            if "ab_truth" in comparison.table:
                cells.append(f"{row['ab_truth']:+.3f} ± {row['ab_truth_error']:.3f}")
            table.add_row(*cells)
        return table
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
    return table


def _ratio_table(satellites) -> Table:
    """Per mock and population: max |wp ratio - 1| over the judged range, within or not."""
    low, high = satellites.rp_range
    table = Table(title=f"wp(rp) mock / truth, {low:g}-{high:g} Mpc/h (band: the truth's "
                        "jackknife error)")
    verdict = satellites.verdict()
    for name in verdict.columns:
        table.add_column(name, justify="left" if name in ("mock", "population") else "right")
    for _, row in verdict.iterrows():
        table.add_row(*(format_value(v) if isinstance(v, float) else str(v) for v in row))
    return table


def _small_scale_table(measured) -> Table:
    """wp(rp) of each population at three separations (first bin, ~1 and ~10 Mpc/h)."""
    edges = measured.settings.edges
    centres = (edges[:-1] * edges[1:]) ** 0.5
    picks = sorted({0, *(int(abs(centres - r).argmin()) for r in (1.0, 10.0)
                        if edges[0] < r < edges[-1])})
    table = Table(title=f"{measured.label}: wp(rp) [Mpc/h], |pi| < "
                        f"{measured.settings.pi_max:g} (jackknife errors)")
    table.add_column("population", justify="left")
    table.add_column("n", justify="right")
    for i in picks:
        table.add_column(f"rp {centres[i]:.2g}", justify="right")
    for name, correlation in measured.wp.items():
        table.add_row(name, " x ".join(f"{n:,}" for n in correlation.n_points),
                      *(f"{correlation.value[i]:.3g} ± {correlation.error[i]:.2g}"
                        for i in picks))
    for name, why in measured.skipped.items():
        table.add_row(name, "skipped", why, *[""] * (len(picks) - 1))
    return table


def _satellite_line(statistics) -> str:
    """One line of satellite statistics: counts, f_sat, distances, conformity."""
    summary = statistics.summary
    text = (f"{statistics.label}: {summary['satellites']:,} satellites of "
            f"{summary['galaxies']:,} galaxies (f_sat {summary['satellite_fraction']:.3f}); "
            f"r/R_vir from {summary['distance_source']}")
    if summary.get("median_r_host") is not None:
        text += f", median {summary['median_r_host']:.2f}"
    combined = (statistics.conformity[statistics.conformity["scope"] == "combined"]
                if len(statistics.conformity) else statistics.conformity)
    if len(combined):
        row = combined.iloc[0]
        text += (f"; conformity Δf_Q {row['difference']:+.3f} ± "
                 f"{row['difference_error']:.3f} ({row['quenched']})")
    return text + "".join(f"\n  note: {note}" for note in statistics.notes)


@command_errors
def populate(
    model_dir: Annotated[Path, typer.Option(
        "--model", help="Model directory (galhalo train), or a composite model (centrals "
                        "and satellites).")],
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
    halo_only: Annotated[bool, typer.Option(
        "--halo-only", help="Composite model on a catalog with sub-halos: paint on its "
                            "central rows alone, placing satellites with the profile model.")
                         ] = False,
    seed: Seed = 0,
) -> None:
    """Paint galaxies onto huge halo catalogs: out-of-core, resumable, on Dask from one
    laptop to a cluster (docs/populate.md)."""
    from rich import progress as bars

    from ..populate import plan_populate, run_plan

    keep_columns = None if keep is None else [c.strip() for c in keep.split(",") if c.strip()]
    plan = plan_populate(model_dir, halos, out, samples=samples, keep=keep_columns,
                         seed=seed, chunk_rows=chunk_rows, halo_only=halo_only)
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
    if "paint" in plan.settings:  # a composite model: what it painted
        for name, value in (("hosts", result.hosts), ("centrals painted", result.centrals),
                            ("satellites painted", result.satellites)):
            table.add_row(name, "-" if value is None else f"{value:,}")
    output.print(table)
    output.print(f"wrote {result.out} (manifest {result.manifest})")
