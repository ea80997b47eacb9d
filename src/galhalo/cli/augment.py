"""Augmentation command: ``smogn`` (over-sample the rare values of one column)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..catalog import check_output_path, read_catalog, write_catalog
from ..files import check_writable
from ._common import Seed, command_errors, output

__all__ = ["smogn"]


@command_errors
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
    from ..augment.catalogs import smogn_catalog
    from ..catalog.schema import parse_column_list

    check_output_path(out)
    if figure is not None:
        check_writable(figure)
    named = parse_column_list(features) if features else ()
    catalog = read_catalog(catalog_path, required=(target, *named))
    augmented, result = smogn_catalog(catalog, target, features=named, k=k, pert=pert,
                                      threshold=threshold, mode=mode,
                                      undersample=undersample, seed=seed,
                                      source=str(catalog_path))
    write_catalog(augmented, out)
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
        from ..report.smogn_figure import smogn_figure

        smogn_figure(catalog.table[target], result.table[target], figure,
                     control_points=result.control_points, threshold=threshold, label=target,
                     synthetic=result.synthetic, title=f"SMOGN of {target} ({mode})")
        output.print(f"wrote figure {figure}")
