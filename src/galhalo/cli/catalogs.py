"""Catalog commands: ``simulate``, ``demo``, ``ingest``, ``info``, ``validate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..catalog import check_output_path, read_catalog, write_catalog
from ..files import check_writable
from ..sim.presets import DEFAULT_PRESET
from ._common import Box, NHalos, Seed, Stages, command_errors, output, print_summary

__all__ = ["demo", "info", "ingest", "simulate", "validate"]


def _simulate_catalog(n_halos: int, box: float, seed: int, halos_only: bool = False,
                      **options):
    """Build the config (validating it before any work) and run the simulation."""
    from ..sim.universe import UniverseConfig, simulate, simulate_halos

    config = UniverseConfig(n_halos=n_halos, box=box, seed=seed, **options)
    run = simulate_halos if halos_only else simulate
    what = ("halos" if halos_only else
            "centrals and their satellites" if options.get("satellites") else "centrals")
    with Stages(f"simulating {n_halos:,} {what} in a {box:g} Mpc/h box") as stages:
        return run(config=config, progress=stages)


@command_errors
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
    satellites: Annotated[bool, typer.Option(
        "--satellites/--no-satellites", help="Also draw satellite galaxies (rows after "
        "the centrals, with host_id, is_central, N_sat and sub-halo columns; "
        "docs/universe.md). Off by default in this release: every other command still "
        "learns centrals.")] = False,
    figure: Annotated[Path | None, typer.Option(
        help="Also write an overview figure (.png, .pdf or .svg).")] = None,
    preset: Annotated[str | None, typer.Option(
        help=f"Galaxy-truth preset: tng_hard (TNG300-like where TNG300 is hard: quenched "
             f"tail, red ceiling, shapes changing with mass; docs/truth_model.md §7) or "
             f"classic (the default universe until 2026-12-07). Default: "
             f"{DEFAULT_PRESET}.")] = None,
) -> None:
    """Simulate the synthetic TNG300-like universe with a known-truth galaxy model.

    Defaults give the embedded data set: 1e5 centrals with log10 M* >= 8.75 in a
    205 Mpc/h box (Planck 2015 cosmology, z = 0).
    """
    check_output_path(out)
    if figure is not None:
        check_writable(figure)
    catalog = _simulate_catalog(n_halos, box, seed, halos_only, redshift=redshift,
                                grid=grid, particles=particles, satellites=satellites,
                                preset=preset)
    write_catalog(catalog, out)
    output.print(f"wrote {len(catalog):,} rows to {out}")
    if satellites:
        output.print(f"of which {catalog.meta.extra['n_satellites']:,} satellites")
    if figure is not None:
        from ..report.catalog_figure import catalog_overview

        catalog_overview(catalog, figure)
        output.print(f"wrote figure {figure}")


@command_errors
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
    from ..demo import run_demo

    with Stages("demo") as stages:
        result = run_demo(out_dir, n_halos=n_halos, seed=seed, epochs=epochs, progress=stages)
    print_summary(result.catalog)
    if result.metrics:
        m = result.metrics
        output.print(f"held-out NLL: flow {m['flow_nll']:.4f}, truth {m['truth_nll']:.4f} nats "
                     f"per galaxy (flow - truth = {m['flow_minus_truth_nll']:.4f})")
    output.print("\nwrote " + ", ".join(map(str, result.written)))


@command_errors
def ingest(
    source: Annotated[Path, typer.Argument(
        metavar="SOURCE", help="Subfind group catalog (directory of fof_subhalo_tab_NNN.K.hdf5 "
        "chunks, one chunk, or a CAMELS groups_NNN.hdf5), a Rockstar / Consistent-Trees "
        "hlist file, or a table (.csv, .parquet).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Catalog file to write: .parquet, "
                                                          ".csv or .h5.")],
    box: Annotated[float | None, typer.Option(
        help="Tables, Rockstar: periodic box side in Mpc/h (required when a table has "
             "positions and no galhalo metadata, or an hlist header has no box size).")
    ] = None,
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
    satellites: Annotated[bool, typer.Option(
        "--satellites", help="Subfind: also one row per satellite above the cut (host_id, "
        "is_central, N_sat, M_sub, Vmax_sub, r_host, v_r, v_t; with --sublink M_peak, "
        "Vmax_peak, z_infall). Rockstar: also one row per sub-halo (without: host halos "
        "only, the input populate paints).")] = False,
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
    input_format: Annotated[str | None, typer.Option(
        "--format", help="subfind, rockstar or table (default: guessed from the path and, "
        "for a Rockstar hlist, its first line).")] = None,
    min_mass: Annotated[float | None, typer.Option(
        help="Rockstar: keep hosts with log10 Mvir >= this and sub-halos with log10 Mpeak "
             ">= this (log10 Msun/h).")] = None,
    drop_orphans: Annotated[bool, typer.Option(
        "--drop-orphans", help="Rockstar: drop (and count) sub-halos whose upid is no halo "
        "of the file, instead of refusing the file.")] = False,
    chunk_rows: Annotated[int | None, typer.Option(
        min=1, help="Rockstar: lines read at a time (default 100000).")] = None,
) -> None:
    """Turn a real simulation (TNG / CAMELS Subfind, a Rockstar hlist, or a CSV/Parquet
    table) into a catalog.

    Same columns and units as every galhalo catalog; docs/ingest.md has the definitions.
    A Rockstar hlist is streamed into Parquet in bounded memory.
    """
    from ..ingest import ingest as ingest_catalog
    from ..ingest.detect import check_reader_options, detect_input
    from ..ingest.options import ingest_options

    check_output_path(out)
    options = {"satellites": True} if satellites else {}
    options |= ingest_options(
        box=box, mapping=mapping, redshift=redshift, mass_definition=mass_definition,
        stellar_mass_min=stellar_mass_min, stellar_mass_field=stellar_mass_field,
        sfr_floor=sfr_floor, formation_table=formation_table, sublink=sublink,
        snapshot_redshifts=snapshot_redshifts)
    options.update({key: value for key, value in {
        "min_mass": min_mass, "drop_orphans": drop_orphans or None,
        "chunk_rows": chunk_rows}.items()
        if value is not None})
    kind = detect_input(source, input_format)
    check_reader_options(kind, options, source)
    if kind == "rockstar":
        _stream_rockstar(source, out, options)
        return
    with Stages(f"ingesting {source}") as stages:
        catalog = ingest_catalog(source, format=kind, progress=stages, **options)
    write_catalog(catalog, out)
    print_summary(catalog)
    counts = catalog.meta.extra.get("counts")
    if counts:
        output.print("counts: " + ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
                                            for k, v in counts.items()))
    output.print(f"wrote {len(catalog):,} rows to {out}")


def _stream_rockstar(source: Path, out: Path, options: dict) -> None:
    """``ingest`` of a Rockstar hlist: streamed into Parquet, counts printed."""
    from ..ingest import stream_rockstar

    with Stages(f"ingesting {source} (Rockstar hlist, streamed)") as stages:
        result = stream_rockstar(source, out, progress=stages, **options)
    counts = result.meta.extra["counts"]
    output.print("counts: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    output.print(f"wrote {result.rows:,} rows to {out}")


@command_errors
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
    print_summary(catalog)


@command_errors
def validate(
    catalog_path: Annotated[Path, typer.Argument(
        metavar="CATALOG", help="Catalog file (.parquet, .csv, .h5).")],
    require: Annotated[str, typer.Option(
        help="Comma-separated columns that must be present, e.g. M_h,smass.")] = "",
) -> None:
    """Check a catalog against the schema (columns, units, NaN/inf, physical bounds)."""
    from ..catalog.schema import parse_column_list

    required = parse_column_list(require) if require.strip() else ()
    catalog = read_catalog(catalog_path, required=required)
    output.print(f"{catalog_path}: valid, {len(catalog):,} rows, "
                 f"columns {', '.join(catalog.table.columns)}")


