"""What every command module of the command line shares: the two consoles, the error
wrapper, stage printing, tables and the options several commands take.

Errors: :func:`command_errors` turns a :class:`~galhalo.errors.GalhaloError` (bad
input) into ONE line ``error: <message>`` on stderr and exit code 2, and any other
exception (a bug in galhalo) into one line ``internal error: <type>: <message> (...)``
and exit code 1; ``galhalo --debug`` (or ``GALHALO_DEBUG=1``) adds the traceback. The
line is written straight to stderr, never through rich, so no terminal width or path
length can break it over two lines (a log grep or a script that parses it sees it whole).
"""

from __future__ import annotations

import functools
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from typer._click import exceptions as click_exceptions
from typer.core import TyperGroup

from ..errors import GalhaloError, one_line

__all__ = ["Box", "NHalos", "OneLineErrors", "Seed", "Stages", "command_errors", "console",
           "error_line",
           "labelled_paths", "load_galaxies", "output", "print_summary", "say",
           "set_debug", "write_table"]

#: Progress, stages and errors (stderr).
console = Console(stderr=True)
#: Results (stdout); wide enough for the summary tables when writing to a file or a
#: pipe. Lines of text are never broken by the console (tables fit its width).
output = Console(width=None if sys.stdout.isatty() else 120, soft_wrap=True)

#: Environment variable that turns on tracebacks like ``galhalo --debug``.
DEBUG_VARIABLE = "GALHALO_DEBUG"
_debug = {"on": False}

F = TypeVar("F", bound=Callable)


def set_debug(on: bool) -> None:
    """Print the traceback of every error (the ``--debug`` option)."""
    _debug["on"] = bool(on)


def _debugging() -> bool:
    return _debug["on"] or os.environ.get(DEBUG_VARIABLE, "").strip() not in ("", "0")


def error_line(error: BaseException) -> tuple[str, int]:
    """(the one line printed for ``error``, the exit code).

    A :class:`GalhaloError` is bad input: ``error: <message>``, exit code 2. An
    :class:`OSError` from the system (a full disk, a permission): ``error: <type>:
    <message>``, exit code 1. Anything else is a bug in galhalo: ``internal error:
    <type>: <message> (a bug in galhalo, not your input; ...)``, exit code 1. Newlines
    inside a message become spaces.
    """
    if isinstance(error, GalhaloError):
        return f"error: {one_line(error)}", 2
    message = one_line(error)
    what = f"{type(error).__name__}: {message}" if message else type(error).__name__
    hint = "" if _debugging() else "rerun with --debug for the traceback"
    if isinstance(error, OSError):
        return f"error: {what}" + (f" ({hint})" if hint else ""), 1
    return (f"internal error: {what} (a bug in galhalo, not your input"
            + (f"; {hint})" if hint else ")")), 1


def _print_error_line(line: str) -> None:
    """Write ``line`` to stderr as it is: one line whatever the terminal width; the
    ``error:`` prefix in bold red on a colour terminal only."""
    stream = sys.stderr
    if stream.isatty() and "NO_COLOR" not in os.environ:
        head, sep, rest = line.partition(": ")
        line = f"\x1b[1;31m{head}:\x1b[0m {rest}" if sep else line
    stream.write(line + "\n")
    stream.flush()


def command_errors(command: F) -> F:
    """Wrap a command: bad input -> one line and exit 2; a bug -> one line and exit 1
    (with the traceback under ``--debug``). Typer/click's own exits pass through."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (click_exceptions.ClickException, typer.Exit, typer.Abort):
            raise
        except Exception as err:  # every other error: reported once, as a bug
            if _debugging():
                traceback.print_exception(err, file=sys.stderr)
            line, code = error_line(err)
            _print_error_line(line)
            raise typer.Exit(code=code) from None

    return wrapper  # type: ignore[return-value]


class OneLineErrors(TyperGroup):
    """The top-level command group: a usage error (unknown option, a value out of range,
    a missing argument) is ONE line too, ``error: <message> (galhalo CMD --help)``, exit
    code 2, instead of click's usage block or typer's box, which a narrow terminal wraps.
    ``galhalo`` alone still prints the help."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             windows_expand_args=True, **extra):
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False,
                                  windows_expand_args=windows_expand_args, **extra)
        except click_exceptions.NoArgsIsHelpError as err:
            if not standalone_mode:
                raise
            err.show()
            sys.exit(err.exit_code)
        except click_exceptions.ClickException as err:
            if not standalone_mode:
                raise
            context = getattr(err, "ctx", None)
            hint = f" (see '{context.command_path} --help')" if context is not None else ""
            _print_error_line(f"error: {one_line(err.format_message())}{hint}")
            sys.exit(err.exit_code)
        except typer.Abort:
            if not standalone_mode:
                raise
            _print_error_line("error: aborted")
            sys.exit(1)
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


def say(message: str) -> None:
    """One progress line on stderr (never wrapped by the console)."""
    console.print(message, highlight=False, soft_wrap=True)


class Stages:
    """Progress reporting for a long job: a live spinner plus one line per stage."""

    def __init__(self, title: str):
        self.title = title
        self.start = time.perf_counter()
        self._status = console.status(title)

    def __enter__(self) -> Stages:
        self._status.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._status.__exit__(*exc)

    def __call__(self, message: str) -> None:
        elapsed = time.perf_counter() - self.start
        console.print(f"[dim]{elapsed:7.1f} s[/]  {message}", highlight=False, soft_wrap=True)
        self._status.update(f"{self.title}: {message}")


def write_table(frame, path: Path) -> None:
    """Write a pandas table as CSV, atomically."""
    from ..files import atomic_path

    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def print_summary(catalog) -> None:
    """The column summary table of a catalog (percentiles in each column's unit)."""
    summary = catalog.describe()
    table = Table(title="column summary (percentiles in each column's unit)")
    for name in ("column", "unit", "p1", "p16", "p50", "p84", "p99", "mean", "sd"):
        table.add_column(name, justify="left" if name in ("column", "unit") else "right")
    for name, row in summary.iterrows():
        table.add_row(name, row["unit"], *(f"{row[key]:.4g}" for key in
                                           ("p1", "p16", "p50", "p84", "p99", "mean", "sd")))
    output.print(table)
    if catalog.has_satellites:
        output.print(satellite_summary(catalog))


def satellite_summary(catalog) -> str:
    """One line: galaxies, centrals, satellites (their share), hosts, most per host."""
    central = catalog.central_mask()
    satellites = int((~central).sum())
    hosts = catalog.table.loc[~central, "host_id"].value_counts()
    most = int(hosts.max()) if len(hosts) else 0
    return (f"{len(catalog):,} galaxies: {int(central.sum()):,} centrals and {satellites:,} "
            f"satellites ({satellites / len(catalog):.1%}); {len(hosts):,} hosts hold "
            f"satellites, at most {most:,} in one")


def labelled_paths(specs: list[str], option: str) -> dict[str, Path]:
    """``LABEL=PATH`` or ``PATH`` (label = file stem) -> {label: path}; labels unique."""
    from ..errors import CatalogError

    labelled: dict[str, Path] = {}
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep:
            label, path = Path(spec).stem, spec
        if not label.strip() or not path.strip():
            raise CatalogError(f"{option} {spec!r}: expected LABEL=PATH or PATH")
        if label in labelled:
            raise CatalogError(f"{option}: label {label!r} is used twice; name them "
                               "LABEL=PATH")
        labelled[label.strip()] = Path(path.strip())
    return labelled


def pick_galaxies(catalog, which: str):
    """The rows a model command works on (``--galaxies``), saying what was left out.

    A centrals-only catalog is returned as it is for ``centrals`` and ``all``.
    """
    picked = catalog.galaxies(which)
    left_out = len(catalog) - len(picked)
    if left_out:
        say(f"using the {len(picked):,} {which} of the catalog ({left_out:,} other rows "
            f"left out; --galaxies chooses)")
    return picked


def load_galaxies(path: Path, which: str, required: Iterable[str] | None = None):
    """Read the catalog at ``path``, derive the central columns, pick the rows
    ``which`` (``--galaxies``): what every model command works on.

    The central columns (``sSFR_central`` ...: ``galhalo.catalog.schema.CENTRAL``) are
    derived from the whole catalog *before* rows are picked (a satellite's central must
    still be a row), never demanded from the file: those named in ``required`` (a
    model's columns) and missing from the file are added; with ``required`` None (the
    scoring commands, whose models are not known yet) every one whose galaxy column is
    present is added to a catalog with satellites. The other ``required`` columns must
    be in the file.
    """
    from ..catalog import read_catalog
    from ..catalog.schema import CENTRAL

    names = () if required is None else tuple(required)
    catalog = read_catalog(path, required=[name for name in names if name not in CENTRAL])
    present = set(catalog.table.columns)
    if required is None:
        derived = [name for name in CENTRAL if catalog.has_satellites
                   and name.removesuffix("_central") in present]
    else:
        derived = [name for name in names if name in CENTRAL]
    derived = [name for name in derived if name not in present]
    if derived:
        try:
            catalog = catalog.with_centrals(derived)
        except GalhaloError as err:
            raise type(err)(f"{path}: {err}") from None
    return pick_galaxies(catalog, which)


# Options shared by several commands.
Galaxies = Annotated[str, typer.Option(
    "--galaxies", help="Rows of a catalog with satellites to use: centrals, satellites or "
                       "all (a centrals-only catalog is all centrals).")]
NHalos = Annotated[int, typer.Option(
    "--n-halos", min=1, help="Rows of the catalog: central galaxies above the stellar-mass "
    "cut log10 M* >= 8.75 (with --halos-only: halos above log10 M_h = 10.5).")]
Box = Annotated[float, typer.Option(
    "--box", help="Side of the periodic box in Mpc/h (comoving).")]
Seed = Annotated[int, typer.Option("--seed", help="Master random seed; same seed, same bytes.")]
