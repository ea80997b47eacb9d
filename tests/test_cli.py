"""The command line: real runs on small boxes, and bad input refused before any work."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from galhalo import __version__
from galhalo.catalog import read_catalog
from galhalo.cli import app

runner = CliRunner()
SMALL = ["--n-halos", "300", "--box", "50"]
STARTED = "linear density field"  # the first stage message of a simulation


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_simulate_writes_a_valid_catalog_and_figure(tmp_path):
    out, figure = tmp_path / "cat.parquet", tmp_path / "overview.png"
    result = run("simulate", "--out", out, *SMALL, "--seed", "3", "--figure", figure)
    assert result.exit_code == 0, result.output
    catalog = read_catalog(out)
    assert len(catalog) == 300
    assert catalog.meta.box_size == 50.0 and catalog.meta.seed == 3
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat.parquet", "overview.png"]


def test_halos_only_writes_halos_without_galaxies(tmp_path):
    out = tmp_path / "halos.csv"
    result = run("simulate", "--out", out, *SMALL, "--halos-only")
    assert result.exit_code == 0, result.output
    catalog = read_catalog(out)
    assert len(catalog) == 300
    assert catalog.galaxy_columns == ()
    assert catalog.table["M_h"].min() >= 10.5


def test_same_seed_on_the_command_line_gives_the_same_bytes(tmp_path):
    for name in ("a.parquet", "b.parquet"):
        assert run("simulate", "--out", tmp_path / name, *SMALL).exit_code == 0
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


@pytest.mark.parametrize(("args", "message"), [
    (["--box", "-5"], "box"),
    (["--box", "4"], "box"),
    (["--n-halos", "0"], "n-halos"),
    (["--grid", "33"], "grid"),
    (["--redshift", "-0.5"], "redshift"),
    (["--colour", "red"], "No such option"),
])
def test_bad_options_fail_before_any_work_and_write_nothing(tmp_path, args, message):
    out = tmp_path / "cat.parquet"
    result = run("simulate", "--out", out, *args)
    assert result.exit_code == 2
    assert message in result.output
    assert STARTED not in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("name", "message"), [
    ("missing-dir/cat.parquet", "missing-dir"),
    ("cat.txt", "unknown catalog suffix"),
])
def test_bad_output_paths_fail_before_any_work(tmp_path, name, message):
    result = run("simulate", "--out", tmp_path / name, *SMALL)
    assert result.exit_code == 2
    assert message in result.output
    assert STARTED not in result.output
    assert list(tmp_path.iterdir()) == []


def test_output_path_that_is_a_directory_is_refused(tmp_path):
    (tmp_path / "taken.parquet").mkdir()
    result = run("simulate", "--out", tmp_path / "taken.parquet", *SMALL)
    assert result.exit_code == 2
    assert "directory" in result.output


def test_demo_writes_catalog_and_figure_and_prints_a_summary(tmp_path):
    result = run("demo", "--out-dir", tmp_path / "demo", "--n-halos", "400")
    assert result.exit_code == 0, result.output
    assert len(read_catalog(tmp_path / "demo" / "catalog.parquet")) == 400
    assert (tmp_path / "demo" / "overview.png").stat().st_size > 10_000
    for column in ("M_h", "smass", "color", "sSFR", "radius", "Delta3_h"):
        assert column in result.output


def test_info_and_validate_report_a_good_catalog(tmp_path):
    out = tmp_path / "cat.parquet"
    assert run("simulate", "--out", out, *SMALL).exit_code == 0
    info = run("info", out)
    assert info.exit_code == 0, info.output
    assert "300 rows" in info.output and "box 50.0 Mpc/h" in info.output
    valid = run("validate", out, "--require", "M_h,smass")
    assert valid.exit_code == 0 and "valid" in valid.output


def test_validate_names_the_bad_column_and_row_count(tmp_path):
    bad = tmp_path / "bad.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"M_h": rng.uniform(11, 13, 10), "smass": [np.nan] * 3 + [9.5] * 7}).to_csv(
        bad, index=False)
    result = run("validate", bad)
    assert result.exit_code == 2
    assert "smass" in result.output and "3 of 10 rows" in result.output
    missing = run("validate", bad, "--require", "M_h,Delta3_h")
    assert missing.exit_code == 2 and "Delta3_h" in missing.output
    unknown = run("validate", bad, "--require", "M_h,halo_mass")
    assert unknown.exit_code == 2 and "halo_mass" in unknown.output


def test_empty_and_missing_files_are_refused_with_their_name(tmp_path):
    empty = tmp_path / "empty.parquet"
    empty.write_bytes(b"")
    result = run("info", empty)
    assert result.exit_code == 2 and "empty" in result.output
    result = run("info", tmp_path / "nowhere.parquet")
    assert result.exit_code == 2 and "nowhere.parquet" in result.output


def test_version_and_help_state_units_and_defaults():
    assert __version__ in run("--version").output
    help_text = run("simulate", "--help").output
    for expected in ("Mpc/h", "8.75", "100000", "205"):
        assert expected in help_text
