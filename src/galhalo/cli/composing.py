"""``galhalo compose``: join four trained models into a composite galaxy-halo model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..files import check_writable
from ._common import command_errors, output

__all__ = ["compose", "print_components"]


def print_components(model, title: str) -> None:
    """A table of the composite's components: role, family, condition, target."""
    table = Table(title=title)
    for name in ("component", "family", "condition", "target"):
        table.add_column(name)
    for part in model.describe():
        table.add_row(part["role"], part["family"], ", ".join(part["condition"]),
                      ", ".join(part["target"]))
    output.print(table)


@command_errors
def compose(
    central: Annotated[Path, typer.Option(
        help="Model directory of p(galaxy | host) for centrals (galhalo train --galaxies "
             "centrals).")],
    occupation: Annotated[Path, typer.Option(
        help="Count model of N_sat per host (family occupation or hod).")],
    profile: Annotated[Path, typer.Option(
        help="Model of the satellites' orbits: target r_host,v_r,v_t.")],
    satellite: Annotated[Path, typer.Option(
        help="Model of p(galaxy | host, central, sub-halo) for satellites (galhalo train "
             "--galaxies satellites); same targets as the central.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Composite model directory to "
                                                          "write.")],
) -> None:
    """Join central, occupation, profile and satellite models into one composite model
    that `galhalo sample` paints centrals and satellites with (docs/satellites.md)."""
    from ..models import load_model
    from ..models.composite import CompositeModel

    check_writable(out, directory=True)
    model = CompositeModel(central=load_model(central), occupation=load_model(occupation),
                           profile=load_model(profile), satellite=load_model(satellite))
    model.save(out)
    print_components(model, "composite model")
    needs = (f"needs sub-halo columns {', '.join(model.subhalo_columns)} (paint a catalog "
             "with sub-halos)" if model.needs_subhalos else
             "paints from hosts alone or from sub-halos")
    output.print(f"wrote {out}: {len(model.target)} galaxy columns "
                 f"({', '.join(model.target)}); {needs}")


def sample_composite(model, catalog_path: Path, out: Path, samples: int, seed: int,
                     halo_only: bool) -> None:
    """``galhalo sample`` with a composite model: paint, write, say what was painted."""
    from ..catalog import read_catalog, write_catalog
    from ..mock import has_subhalo_rows, make_mock

    catalog = read_catalog(catalog_path, required=model.host_columns)
    mock = make_mock(model, catalog, samples, seed, halo_only=halo_only)
    write_catalog(mock, out)
    counts = mock.meta.extra["mock"]["painting"]
    path = ("sub-halos (largest Vmax_peak first)"
            if has_subhalo_rows(catalog) and not halo_only else "hosts alone")
    line = (f"wrote {len(mock):,} galaxies to {out}: {counts['centrals']:,} centrals and "
            f"{counts['satellites']:,} satellites painted on {path}")
    if counts.get("from_subhalos") is not None:
        line += (f"; {counts['from_subhalos']:,} satellites in sub-halos, "
                 f"{counts['from_profile']:,} placed by the profile")
        if counts.get("unpainted"):
            line += (f", {counts['unpainted']:,} drawn satellites not painted (hosts with "
                     "too few sub-halos)")
    output.print(line + (f" ({samples} realisations)" if samples > 1 else ""))
