"""How the command line reports errors: one line whatever the terminal width and path
length; exit code 2 for bad input (a GalhaloError), 1 for a bug, whose traceback
``--debug`` (or GALHALO_DEBUG=1) shows.

Pins issue 17: the error console wrapped at 80 columns when stderr was not a terminal,
so a long path pushed words of the message onto a second line; and every bare
ValueError/KeyError (a bug inside galhalo too) was shown as bad input with exit 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import galhalo
from galhalo.cli import _common, app
from galhalo.errors import CatalogError

try:  # click < 8.2 mixes stderr into stdout unless told not to; 8.2 always keeps it apart
    runner = CliRunner(mix_stderr=False)
except TypeError:
    runner = CliRunner()
SOURCE = Path(galhalo.__file__).resolve().parent.parent


def run(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "40", **(env or {})})


def stderr_lines(result) -> list[str]:
    """The non-empty lines on stderr."""
    return [line for line in result.stderr.splitlines() if line.strip()]


def everything(result) -> str:
    """stdout and stderr, whichever click version ran the command."""
    return result.stdout + result.stderr


@pytest.fixture
def deep(tmp_path) -> Path:
    """An existing directory whose path is longer than 200 characters."""
    path = tmp_path
    while len(str(path)) <= 200:
        path = path / "a_rather_long_directory_name"
    path.mkdir(parents=True)
    return path


def test_error_is_one_line_in_a_narrow_terminal_with_a_long_path(deep):
    """The real program in a subprocess (stderr a pipe, COLUMNS=40): the old console
    broke this message over several lines."""
    missing = deep / "missing.parquet"
    env = {**os.environ, "COLUMNS": "40", "PYTHONPATH": str(SOURCE)}
    env.pop("GALHALO_DEBUG", None)
    done = subprocess.run([sys.executable, "-m", "galhalo", "info", str(missing)],
                          capture_output=True, text=True, env=env, timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and str(missing) in lines[0]
    assert done.stdout == ""


@pytest.mark.parametrize("make_args", [
    lambda d: ["info", d / "missing.parquet"],
    lambda d: ["simulate", "--out", d / "no_such_dir" / "catalog.parquet"],
    lambda d: ["simulate", "--out", d / "catalog.txt"],
    lambda d: ["ingest", d / "table.csv", "--out", d / "x.parquet", "--map", "stellar_mass"],
    lambda d: ["clustering", "--catalog", d / "c.parquet", "--mock", f"truth={d}/m.parquet",
               "--out", d / "out"],
    lambda d: ["evaluate", "--model", d / "a", "--model", d / "b", "--catalog",
               d / "c.parquet"],
    lambda d: ["train", "--model", "gauss", "--catalog", d / "c.parquet", "--out", d / "m",
               "--set", "=3"],
])
def test_bad_input_is_one_line_and_exit_code_2(deep, make_args):
    result = run(*make_args(deep))
    lines = stderr_lines(result)
    assert result.exit_code == 2, everything(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "internal error" not in everything(result)


def test_the_message_names_the_problem(deep):
    result = run("ingest", deep / "table.csv", "--out", deep / "x.parquet", "--map", "smass")
    assert stderr_lines(result) == ["error: --map takes SOURCE=TARGET, got ['smass']"]
    result = run("info", deep / "missing.parquet")
    assert str(deep / "missing.parquet") in stderr_lines(result)[0]


def _raise(error):
    def fail(*args, **kwargs):
        raise error
    return fail


def test_a_bug_is_exit_code_1_with_a_hint_not_bad_input(deep, monkeypatch):
    monkeypatch.setattr("galhalo.cli.catalogs.read_catalog", _raise(KeyError("x")))
    monkeypatch.delenv("GALHALO_DEBUG", raising=False)
    result = run("info", deep / "catalog.parquet")
    lines = stderr_lines(result)
    assert result.exit_code == 1
    assert lines == ["internal error: KeyError: 'x' (a bug in galhalo, not your input; "
                     "rerun with --debug for the traceback)"]
    assert "Traceback" not in everything(result)


def test_a_bare_value_error_is_a_bug_too(deep, monkeypatch):
    monkeypatch.setattr("galhalo.cli.catalogs.read_catalog", _raise(ValueError("bad\nnews")))
    result = run("info", deep / "catalog.parquet")
    assert result.exit_code == 1
    assert stderr_lines(result)[0].startswith("internal error: ValueError: bad news (")


@pytest.mark.parametrize("how", ["option", "environment"])
def test_debug_prints_the_traceback(deep, monkeypatch, how):
    monkeypatch.setattr("galhalo.cli.catalogs.read_catalog", _raise(KeyError("x")))
    if how == "option":
        result = run("--debug", "info", deep / "catalog.parquet")
    else:
        result = run("info", deep / "catalog.parquet", env={"GALHALO_DEBUG": "1"})
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "KeyError: 'x'" in result.stderr
    last = stderr_lines(result)[-1]
    assert last == "internal error: KeyError: 'x' (a bug in galhalo, not your input)"


def test_a_galhalo_error_is_exit_code_2(deep, monkeypatch):
    monkeypatch.setattr("galhalo.cli.catalogs.read_catalog",
                        _raise(CatalogError("catalog.parquet: column 'M_h' is missing")))
    result = run("info", deep / "catalog.parquet")
    assert result.exit_code == 2
    assert stderr_lines(result) == ["error: catalog.parquet: column 'M_h' is missing"]


def test_a_system_error_is_exit_code_1_and_not_called_a_bug(deep, monkeypatch):
    monkeypatch.setattr("galhalo.cli.catalogs.read_catalog",
                        _raise(PermissionError(13, "Permission denied", "/x")))
    result = run("info", deep / "catalog.parquet")
    assert result.exit_code == 1
    line, = stderr_lines(result)
    assert line.startswith("error: PermissionError: ") and "a bug in galhalo" not in line


@pytest.mark.parametrize("code", [0, 3])
def test_an_exit_inside_a_command_passes_through(deep, monkeypatch, code):
    """typer.Exit is not click's Exit (typer vendors click): a command that stops early
    with it keeps its exit code and is not reported as a bug."""
    import typer

    monkeypatch.setattr("galhalo.cli.catalogs.read_catalog", _raise(typer.Exit(code=code)))
    result = run("info", deep / "catalog.parquet")
    assert result.exit_code == code
    assert "internal error" not in everything(result)


@pytest.mark.parametrize(("args", "message"), [
    (["simulate", "--n-halos", "0"], "Invalid value for '--n-halos'"),
    (["info", "CATALOG", "--colour", "red"], "No such option: --colour"),
    (["cosmo", "train"], "Missing option '--suite'"),
])
def test_usage_errors_are_one_line_too(deep, args, message):
    """Unknown options, values out of range and missing options: one line naming the
    problem and the command's help, exit 2, instead of typer's box (which a 40-column
    terminal wrapped over many lines) or click's usage block."""
    args = [str(deep / "catalog.parquet") if a == "CATALOG" else a for a in args]
    result = run(*args)
    assert result.exit_code == 2
    line, = stderr_lines(result)
    assert line.startswith(f"error: {message}") and "--help')" in line
    assert "internal error" not in everything(result)


def test_no_arguments_still_prints_the_help():
    result = run()
    assert result.exit_code == 2
    assert "Commands" in everything(result) and "error:" not in everything(result)


def test_error_line_keeps_multi_line_messages_on_one_line():
    line, code = _common.error_line(CatalogError("first\n  second\n\nthird"))
    assert (line, code) == ("error: first second third", 2)


def test_help_into_a_closed_pipe_ends_without_a_traceback():
    """Pins a crash: ``galhalo sample --help | head -1`` raised AttributeError (the
    Abort handler named an exception typer no longer has) instead of exiting quietly."""
    reader = subprocess.Popen(["head", "-c", "1"], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL)
    result = subprocess.run([sys.executable, "-m", "galhalo.cli", "sample", "--help"],
                            stdout=reader.stdin, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(SOURCE), "COLUMNS": "250"},
                            timeout=120)
    reader.stdin.close()
    reader.wait(timeout=30)
    assert "Traceback" not in result.stderr
    assert "AttributeError" not in result.stderr
