"""Cosmology commands: ``suite`` (simulation suites) and ``cosmo train | evaluate |
predict`` (GNNs that infer Omega_m); see docs/suites.md and docs/cosmology.md."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..files import check_writable
from ._common import Seed, Stages, command_errors, console, output, write_table

__all__ = ["cosmo_evaluate", "cosmo_predict", "cosmo_train", "suite"]


@command_errors
def suite(
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Suite directory (created; re-running resumes it).")],
    universes: Annotated[int, typer.Option(
        min=1, help="Number of universes (rows of the Latin hypercube).")],
    particles: Annotated[int, typer.Option(
        help="PM particles per side (a power of two >= 16); mesh = 2 x particles.")] = 64,
    box: Annotated[float, typer.Option(
        "--box", help="Side of each periodic box in Mpc/h (comoving).")] = 25.0,
    galaxy_model: Annotated[str, typer.Option(
        help="Stellar-to-halo-mass relation: 'standard' (training) or 'alternative' "
             "(out-of-distribution test suite).")] = "standard",
    complete_particles: Annotated[int, typer.Option(
        min=1, help="Halo size (particles, in the densest universe of the prior) whose "
                    "mean stellar mass sets the selection cut; lower gives more galaxies "
                    "per box, down to the FoF resolution limit (~20).")] = 50,
    stellar_mass_cut: Annotated[float | None, typer.Option(
        help="Selection cut, log10 M* (Msun/h), before the per-universe factor 1-2; "
             "overrides --complete-particles.")] = None,
    seed: Seed = 0,
    workers: Annotated[int, typer.Option(
        min=1, help="Worker processes (or threads with --scheduler threads).")] = 2,
    scheduler: Annotated[str, typer.Option(
        help="'local' (Dask LocalCluster), 'threads', or a scheduler address "
             "tcp://host:8786.")] = "local",
) -> None:
    """Generate a training suite: small universes over a Latin hypercube of Omega_m,
    sigma_8 and galaxy-model nuisance parameters (PM + FoF + central galaxies)."""
    from rich import progress as bars

    from ..sim.suites import SuiteSettings, make_suite

    settings = SuiteSettings(box_size=box, particles=particles, galaxy_model=galaxy_model,
                             complete_particles=complete_particles,
                             stellar_mass_cut=stellar_mass_cut)
    columns = (bars.TextColumn("[bold]suite[/] {task.description}"), bars.BarColumn(),
               bars.MofNCompleteColumn(), bars.TimeElapsedColumn(),
               bars.TimeRemainingColumn())
    with bars.Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"{universes} universes, {particles}^3 in {box:g} Mpc/h",
                            total=universes)

        def update(state) -> None:
            bar.update(task, completed=state.done,
                       description=f"{state.last or 'starting'} ({state.skipped} done before)")

        path = make_suite(out, universes, settings, seed=seed, scheduler=scheduler,
                          workers=workers, progress=update)
    output.print(f"wrote suite {path}: {universes} universes, galaxy model {galaxy_model}, "
                 f"stellar-mass cut {settings.cut:.3f} x [1, 2]")


@command_errors
def cosmo_train(
    suite: Annotated[Path, typer.Option(help="Training suite directory (parameters.txt, "
                                             "suite.json, LH_<i>.parquet).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model directory to write.")],
    parameter: Annotated[list[str] | None, typer.Option(
        help="Parameter to infer, repeatable [default Omega_m].")] = None,
    redshift_space: Annotated[bool, typer.Option(
        "--redshift-space", help="Positions in redshift space along z; only v_z kept.")
    ] = False,
    mask_fraction: Annotated[float, typer.Option(
        help="Fraction of the box volume masked, in random cubic cells.")] = 0.0,
    position_error: Annotated[float, typer.Option(
        help="Gaussian error per position coordinate, Mpc/h.")] = 0.0,
    velocity_error: Annotated[float, typer.Option(
        help="Gaussian error per velocity component, km/s.")] = 0.0,
    stellar_mass_min: Annotated[float | None, typer.Option(
        help="Keep galaxies with log10 M* >= this, log10(Msun/h).")] = None,
    no_global: Annotated[bool, typer.Option(
        "--no-global", help="Leave out the global feature log10 N_gal.")] = False,
    galaxy_property: Annotated[list[str] | None, typer.Option(
        "--property", help="Galaxy column used as a node feature, repeatable, e.g. smass.")
    ] = None,
    r_link: Annotated[float, typer.Option(help="Linking length, Mpc/h.")] = 1.25,
    hidden: Annotated[int, typer.Option(help="Hidden units.")] = 64,
    layers: Annotated[int, typer.Option(help="Message-passing layers.")] = 2,
    epochs: Annotated[int, typer.Option(help="Maximum epochs.")] = 300,
    members: Annotated[int, typer.Option(
        help="Networks in a deep ensemble (each trained apart; their mixture predicts)."
    )] = 1,
    test_fraction: Annotated[float, typer.Option(
        help="Hold out this seeded fraction of the suite's universes from training "
             "(recorded in the model; score them with evaluate --held-out).")] = 0.0,
    calibrate: Annotated[bool, typer.Option(
        help="Scale each parameter's std so the validation boxes have χ² = 1.")] = True,
    seed: Seed = 0,
) -> None:
    """Train a GNN on a simulation suite: posterior mean and std of each parameter."""
    from ..cosmo import CosmoGNN, Systematics
    from ..cosmo.calibration import validation_scores
    from ..cosmo.suite_runs import train_on_suite
    from ..report.console import rich_table
    from ..report.cosmo_report import score_table

    systematics = Systematics(redshift_space=redshift_space, mask_fraction=mask_fraction,
                              position_error=position_error, velocity_error=velocity_error,
                              stellar_mass_min=stellar_mass_min)
    model = CosmoGNN(systematics, hidden=hidden, layers=layers, r_link=r_link,
                     use_global=not no_global, properties=tuple(galaxy_property or ()),
                     epochs=epochs, calibrate=calibrate,
                     members=members)
    check_writable(out, directory=True)
    train_on_suite(model, suite, parameter or ("Omega_m",), test_fraction, seed,
                   progress=Stages(f"reading suite {suite}"))
    held_out = model.metrics.get("held_out", ())
    model.save(out)
    output.print(rich_table(score_table(validation_scores(model.metrics))))
    output.print("std calibration factors: " + ", ".join(
        f"{name} {factor:.3f}" for name, factor in model.metrics["std_scale"].items()))
    output.print(f"wrote {out} after {model.metrics['epochs']} epochs "
                 f"(best {model.metrics['best_epoch']})")
    if held_out:
        output.print(f"{len(held_out)} universes held out; score them with galhalo cosmo "
                     f"evaluate --model {out} --held-out --out DIR")


@command_errors
def cosmo_evaluate(
    model_dir: Annotated[Path, typer.Option("--model", help="Model directory "
                                                            "(galhalo cosmo train).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory (created): "
                                      "metrics.json, predicted_vs_true.png, report.html.")],
    suite: Annotated[list[Path] | None, typer.Option(
        help="Suite directory to score, repeatable (a test suite, out-of-distribution "
             "suites).")] = None,
    held_out: Annotated[bool, typer.Option(
        "--held-out", help="Score the universes of the training suite that train "
                           "--test-fraction held out (labelled 'held out').")] = False,
    seed: Seed = 0,
) -> None:
    """Score a cosmology GNN per suite: R², mean relative error, χ², 1σ/2σ coverage."""
    from ..cosmo import CosmoGNN, evaluate_suites
    from ..cosmo.suite_runs import suites_to_score
    from ..files import write_json
    from ..report.console import rich_table
    from ..report.cosmo_figure import write_predicted_vs_true
    from ..report.cosmo_report import cosmo_report, score_table

    model = CosmoGNN.load(model_dir)
    suites, paths = suites_to_score(model, suite or (), held_out, model_name=str(model_dir))
    out.mkdir(parents=True, exist_ok=True)
    check_writable(out / "metrics.json")
    trained_on = model.metrics.get("suite")
    results = evaluate_suites(model, suites, seed)
    write_json(out / "metrics.json", {
        "model": str(model_dir), "trained_on": trained_on,
        "systematics": model.systematics.to_dict(),
        "suites": {label: {"path": path, "metrics": results[label]["metrics"]}
                   for label, path in paths.items()}})
    write_predicted_vs_true(results, model.parameter_names, out / "predicted_vs_true.png")
    cosmo_report(model, results, paths,
                 command=shlex.join(["galhalo", *sys.argv[1:]])).write(out / "report.html")
    output.print(rich_table(score_table(results)))
    output.print(f"wrote {out / 'metrics.json'}, {out / 'predicted_vs_true.png'} and "
                 f"{out / 'report.html'}")


@command_errors
def cosmo_predict(
    catalogs: Annotated[list[Path], typer.Argument(
        metavar="CATALOG", help="Galaxy catalog(s), one periodic box each (Parquet, CSV "
        "or HDF5 with x, y, z in Mpc/h and vx, vy, vz in km/s).")],
    model_dir: Annotated[Path, typer.Option("--model", help="Model directory "
                                                            "(galhalo cosmo train).")],
    box_size: Annotated[float | None, typer.Option(
        help="Box side in Mpc/h, for catalogs whose metadata lack it (overrides it).")
    ] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="CSV to write: catalog, galaxies, <parameter>_mean, "
                            "<parameter>_std.")] = None,
    seed: Seed = 0,
) -> None:
    """Posterior mean and std of the model's parameters for each galaxy catalog."""
    import pandas as pd

    from ..catalog import read_catalog
    from ..cosmo import CosmoGNN, Galaxies
    from ..report.console import rich_table

    model = CosmoGNN.load(model_dir)
    if out is not None:
        check_writable(out)
    boxes = []
    for path in catalogs:
        catalog = read_catalog(path, required=("x", "y", "z", "vx", "vy", "vz",
                                               *model.graph_config.properties))
        if box_size is not None:
            catalog.meta.box_size = box_size
            catalog.validate()
        boxes.append(Galaxies.from_catalog(catalog, model.graph_config.properties))
    mean, std = model.predict(boxes, seed)
    frame = pd.DataFrame({"catalog": [str(path) for path in catalogs],
                          "galaxies": [len(box) for box in boxes]})
    for j, name in enumerate(model.parameter_names):
        frame[f"{name}_mean"] = mean[:, j]
        frame[f"{name}_std"] = std[:, j]
    output.print(rich_table(frame, title=f"posterior of {', '.join(model.parameter_names)} "
                                         f"({model_dir})"))
    if out is not None:
        write_table(frame, out)
        output.print(f"wrote {out}")
