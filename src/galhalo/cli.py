"""The ``galhalo`` command line: thin typer wrappers over the Python API.

Every command checks its arguments and output paths before doing any work, and
reports bad input as one clear line (exit code 2) instead of a traceback.
"""

from __future__ import annotations

import functools
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
) -> None:
    """Run the main job on the embedded default data set.

    Simulates the default universe and writes the catalog (OUT_DIR/catalog.parquet) and
    an overview figure (OUT_DIR/overview.png), then prints a summary of every column.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out-dir {out_dir} exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    catalog_path = check_output_path(out_dir / "catalog.parquet")
    figure_path = check_writable(out_dir / "overview.png")
    catalog = _simulate_catalog(n_halos, 205.0, seed)
    write_catalog(catalog, catalog_path)
    from .report.catalog_figure import catalog_overview

    catalog_overview(catalog, figure_path, title=f"galhalo default universe (seed {seed})")
    _print_summary(catalog)
    output.print(f"\nwrote {catalog_path} and {figure_path}")


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
