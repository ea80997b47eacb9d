"""Model commands: ``train`` (a conditional model), ``hival`` (the class hierarchy) and
``sample`` (a mock catalog from a model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..catalog import check_output_path, write_catalog
from ..catalog.schema import GALAXY, HALO
from ..errors import ModelError
from ..files import check_writable
from ._common import Galaxies, Seed, Stages, command_errors, load_galaxies, output, say

__all__ = ["hival_command", "sample", "train"]

DEFAULT_CONDITION = ",".join(HALO)
DEFAULT_TARGET = ",".join(GALAXY)


def _parse_settings(settings: list[str] | None) -> dict:
    """``--set key=value`` options: values read as JSON (numbers, true/false, null,
    lists), else as text; "a,b" lists of numbers become tuples."""
    hyper: dict = {}
    for item in settings or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ModelError(f"--set expects key=value, got {item!r}")
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
            raise ModelError(f"--hidden must be comma-separated integers, got "
                             f"{given['hidden']!r}") from None
    return {**hyper, **_parse_settings(settings)}


def _train_model(family: str, catalog, condition: str, target: str, seed: int, valid,
                 hyperparameters: dict, grid=None):
    """Fit ``family`` with ``hyperparameters``; with a search ``grid``, every
    combination of it on top of them, keeping the lowest validation NLL."""
    from ..models import model_family
    from ..models.search import grid_search

    say(f"training {family}: {condition} -> {target} on {len(catalog):,} rows")
    if grid is None:
        return model_family(family)(**hyperparameters).fit(catalog, condition, target,
                                                           valid=valid, seed=seed)

    def report(index: int, total: int, candidate: dict) -> None:
        say(f"search {index + 1}/{total}: {json.dumps(candidate)}")

    best = grid_search(family, catalog, condition, target, grid, fixed=hyperparameters,
                       valid=valid, seed=seed, report=report)
    _print_search(best.metrics["search"])
    return best


def _print_search(rows: list[dict]) -> None:
    """The candidates of a grid search, the chosen one marked."""
    chosen = min(range(len(rows)), key=lambda i: rows[i]["valid_nll"])
    table = Table(title="search: validation NLL per candidate (lowest kept)")
    for name in ("candidate", "validation NLL", "epochs", "fit s", ""):
        table.add_column(name)
    for i, row in enumerate(rows):
        table.add_row(json.dumps(row["hyperparameters"]), f"{row['valid_nll']:.4f}",
                      str(row["epochs"]), f"{row['fit_seconds']:.0f}",
                      "kept" if i == chosen else "")
    output.print(table)


@command_errors
def train(
    model: Annotated[str, typer.Option(help=(
        "Model family: gauss (NNgauss), flow (conditional neural spline flow), "
        "flow_rodrigues25 (the published TNG300 flow of Rodrigues+25, a baseline), nnclass "
        "(classifier over HiVAl classes), knn, "
        "extra_trees, lightgbm, mlp_regression, stacked (point-estimate regressors with "
        "a residual scatter); for a count target such as N_sat: occupation (neural "
        "negative binomial), hod (Zheng07 HOD, decorated with one secondary column); "
        "for the profile target r_host,v_r,v_t: nfw (the HOD's NFW profile)."))],
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
        help="Hidden layer widths, e.g. 128,128 [gauss 256,256,256; flow 219,219,219].")] = None,
    transforms: Annotated[int | None, typer.Option(
        help="Flow: number of spline transforms [default 1].")] = None,
    bins: Annotated[int | None, typer.Option(help="Flow: spline bins [default 12].")] = None,
    settings: Annotated[list[str] | None, typer.Option(
        "--set", help="Any other hyperparameter as key=value, repeatable, e.g. --set "
                      "weight_decay=1e-4 --set passes=2 (see docs/models.md); --set "
                      "search='{\"bins\": [8, 12]}' fits every combination and keeps "
                      "the lowest validation NLL.")] = None,
    galaxies: Galaxies = "centrals",
) -> None:
    """Learn p(target | condition) from a catalog and save the model directory.

    The directory holds config.json (family, columns, scalers, metrics), weights.pt and
    history.json (the loss curve). Log-densities are in the targets' physical units.
    """
    from ..models import model_family
    from ..models.base import check_columns

    hyper = _hyperparameters(settings, epochs=epochs, batch_size=batch_size,
                             learning_rate=learning_rate, patience=patience, hidden=hidden,
                             transforms=transforms, bins=bins)
    grid = hyper.pop("search", None)
    if grid is not None:  # a bad grid or unknown name: fail before reading
        from ..models.search import check_grid
        check_grid(model, grid, hyper)
    else:
        model_family(model)(**hyper)  # unknown family or hyperparameter: fail before reading
    columns = tuple(name for names in check_columns(condition, target) for name in names)
    check_writable(out, directory=True)
    catalog = load_galaxies(catalog_path, galaxies, columns)
    fitted = _train_model(model, catalog, condition, target, seed, valid, hyper, grid)
    fitted.save(out)
    metrics = fitted.metrics
    tail = (f" after {metrics['epochs']} epochs (best {metrics['best_epoch']})"
            if metrics.get("epochs") else "")
    zero = metrics.get("valid_zero_probability") or 0
    if zero:  # an HOD's hard M_0 cut-off: hosts whose satellites it deems impossible
        tail += (f"; {zero:,} validation rows have probability 0 under the model (e.g. "
                 "satellites in hosts below an HOD's fitted M_0), hence the infinite NLL")
    output.print(f"wrote {out}: validation NLL {metrics['valid_nll']:.4f} nats per row{tail}")
    if metrics.get("edges"):
        found = ", ".join(f"{name} > {edge['lower']:.4g}" if "lower" in edge
                          else f"{name} < {edge['upper']:.4g}"
                          for name, edge in metrics["edges"].items())
        output.print(f"edges found in the training rows: {found} (the density is zero "
                     "beyond them; --set edges=none to fit without)")
    if metrics.get("atoms"):
        found = ", ".join(f"{name} = {atom['value']:.4g} ({atom['share']:.1%} of rows)"
                          for name, atom in metrics["atoms"].items())
        output.print(f"point masses found in the training rows: {found} (modelled as "
                     "atoms, drawn exactly; --set dequantise=none to fit without)")



@command_errors
def hival_command(
    catalog_path: Annotated[Path, typer.Option("--catalog", help="Catalog file.")],
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Directory to write: config.json + arrays.npz (the hierarchy, "
                            "a model-store directory) and hival.png (diagnostic figure).")],
    target: Annotated[str, typer.Option(
        help="Comma-separated columns to tessellate (1 to 8).")] = DEFAULT_TARGET,
    candidates: Annotated[int, typer.Option(
        min=1, help="A cell pairs with one of this many nearest cells sharing a face.")] = 3,
    neighbours: Annotated[int | None, typer.Option(
        min=1, help="Bisectors tested before the k-d tree check (speed only) "
                    "[default: 16 (D - 1), at least 16].")] = None,
    directions: Annotated[int | None, typer.Option(
        min=2, help="Rays per cell for volumes and face measures "
                    "[default: 64 in 1-2-D, 128 from 3-D on].")] = None,
    oracle: Annotated[str, typer.Option(
        help="Oracle PCC rule: 'paper' (a random member of the class plus Gaussian noise "
             "of the class dispersion, Rodrigues+2023) or 'member' (the member alone).")
    ] = "paper",
    seed: Seed = 0,
    galaxies: Galaxies = "centrals",
) -> None:
    """Build the HiVAl hierarchy of classes of the target space; print the class counts.

    Every level is kept: generators, memberships, cell volumes, per-class dispersion,
    occupancy and the oracle PCC (docs/hival.md).
    """
    from ..catalog.schema import parse_column_list
    from ..models.hival import hival
    from ..report.hival_figure import hival_figure

    names = parse_column_list(target)
    check_writable(out, directory=True)
    catalog = load_galaxies(catalog_path, galaxies, names)
    points = catalog.table[list(names)].to_numpy(dtype=float)
    with Stages(f"HiVAl of {len(points):,} points in {len(names)}-D") as stages:
        hierarchy = hival(points, names, candidates=candidates, neighbours=neighbours,
                          directions=directions, oracle=oracle, seed=seed,
                          progress=stages)
    hierarchy.save(out)
    hival_figure(hierarchy, out / "hival.png", points=points)
    rule = {"paper": "a random member of its class plus the class dispersion's noise",
            "member": "a random member of its class"}.get(hierarchy.oracle, hierarchy.oracle)
    table = Table(title=f"HiVAl classes per level (oracle PCC: each point against {rule})")
    for name in ("level", "classes", "singletons", "median members", *names):
        table.add_column(name, justify="right")
    for row in hierarchy.summary():
        table.add_row(str(row["level"]), f"{row['classes']:,}", f"{row['singletons']:,}",
                      f"{row['median_occupancy']:g}",
                      *(f"{row['oracle_pcc'][name]:.3f}" for name in names))
    output.print(table)
    output.print(f"wrote {out} ({hierarchy.n_levels} levels: "
                 f"{' -> '.join(f'{c:,}' for c in hierarchy.counts)})")

@command_errors
def sample(
    model_dir: Annotated[Path, typer.Option("--model", help="Model directory (galhalo train).")],
    halos: Annotated[Path, typer.Option(
        "--halos", "--catalog",
        help="Catalog with the model's condition columns (e.g. a halo catalog; for a "
             "composite model: hosts, or centrals and sub-halos).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Mock catalog file to write.")],
    samples: Annotated[int, typer.Option(
        min=1, help="Realisations per row (adds a 'realization' column when > 1).")] = 1,
    seed: Seed = 0,
    galaxies: Galaxies = "centrals",
    halo_only: Annotated[bool, typer.Option(
        "--halo-only", help="Composite model: use only the central rows of a catalog with "
                            "sub-halos as hosts (satellites painted by the profile).")
    ] = False,
) -> None:
    """Sample the model's targets for every row of a catalog: a mock catalog. A
    composite model (galhalo compose) paints centrals and satellites onto the hosts."""
    from ..mock import make_mock
    from ..models.composite import CompositeModel, load_any
    from .composing import sample_composite

    check_output_path(out)
    model = load_any(model_dir)
    if isinstance(model, CompositeModel):
        return sample_composite(model, halos, out, samples, seed, halo_only)
    if halo_only:
        raise ModelError(f"--halo-only is for a composite model (galhalo compose); "
                         f"{model_dir} holds a {model.family} model")
    rows = None
    if galaxies == "satellites":
        # Satellites alone are no catalog (every host needs its central row): sample the
        # satellites and keep the centrals as they are.
        catalog = load_galaxies(halos, "all", model.condition)
        rows = ~catalog.central_mask()
        if not rows.any():
            catalog.galaxies("satellites")  # the error naming the missing satellites
        say(f"sampling the {rows.sum():,} satellites; the {(~rows).sum():,} centrals keep "
            "their values")
    else:
        catalog = load_galaxies(halos, galaxies, model.condition)
    mock = make_mock(model, catalog, samples, seed, rows=rows)
    write_catalog(mock, out)
    output.print(f"wrote {len(mock):,} rows ({samples} per input row) to {out}")
