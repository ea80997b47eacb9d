"""The ``galhalo`` command line: thin typer wrappers over the Python API.

Every command checks its arguments and output paths before doing any work. Bad input
(a :class:`~galhalo.errors.GalhaloError`) is reported as one line ``error: ...`` and
exit code 2; anything else is a bug in galhalo, reported as one line ``internal error:
...`` and exit code 1 (``galhalo --debug ...`` or ``GALHALO_DEBUG=1`` prints the
traceback). A usage error (unknown option, value out of range) is one line too, exit
code 2 (:class:`._common.OneLineErrors`).

This package builds :data:`app` from one thin module per command group (parsing and
printing only): :mod:`.catalogs`, :mod:`.training`, :mod:`.composing`, :mod:`.augment`,
:mod:`.scoring`, :mod:`.large_scale`, :mod:`.cosmology` and :mod:`.survey`; what they
share is in :mod:`._common`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from . import augment, catalogs, composing, cosmology, large_scale, scoring, survey, training
from ._common import DEBUG_VARIABLE, OneLineErrors, output, set_debug

__all__ = ["app", "main"]

app = typer.Typer(
    name="galhalo",
    help="Learn the stochastic galaxy-halo connection and score it against a known truth.\n\n"
         "Units everywhere: masses log10(Msun/h), lengths Mpc/h, velocities km/s.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,
)


def _version(value: bool) -> None:
    if value:
        output.print(f"galhalo {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option(
        "--debug", help=f"On any error, also print the full traceback (or set "
                        f"{DEBUG_VARIABLE}=1).")] = False,
) -> None:
    """galhalo command line."""
    set_debug(debug)


# The commands, in the order `galhalo --help` lists them.
app.command()(catalogs.simulate)
app.command()(catalogs.demo)
app.command()(catalogs.ingest)
app.command()(training.train)
app.command()(composing.compose)
app.command()(augment.smogn)
app.command()(scoring.evaluate)
app.command()(scoring.compare)
app.command(name="hival")(training.hival_command)
app.command()(training.sample)
app.command()(catalogs.info)
app.command()(catalogs.validate)
app.command()(large_scale.clustering)
app.command()(large_scale.populate)
app.command()(scoring.report)
app.command()(cosmology.suite)

cosmo_app = typer.Typer(help="Cosmology from galaxy catalogs: GNNs that infer Omega_m "
                             "from simulation suites (docs/cosmology.md).",
                        no_args_is_help=True)
cosmo_app.command("train")(cosmology.cosmo_train)
cosmo_app.command("evaluate")(cosmology.cosmo_evaluate)
cosmo_app.command("predict")(cosmology.cosmo_predict)
app.add_typer(cosmo_app, name="cosmo")

app.add_typer(survey.survey_app, name="survey")
