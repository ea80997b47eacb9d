"""The command line: real runs on small boxes, and bad input refused before any work."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from galhalo import __version__
from galhalo.catalog import read_catalog
from galhalo.cli import app
from galhalo.models import load_model

runner = CliRunner()
SMALL = ["--n-halos", "300", "--box", "50"]
STARTED = "linear density field"  # the first stage message of a simulation


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


#: A terminal wide enough that help texts are not wrapped mid-word, whatever the
#: COLUMNS of the shell running the tests (CI runs them with COLUMNS=40 too).
WIDE = {"COLUMNS": "250", "TERMINAL_WIDTH": "250"}


def wide_help(command: str) -> str:
    """The --help text of a command as a 250-column terminal shows it."""
    return runner.invoke(app, [command, "--help"], env=WIDE).output


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


def test_demo_simulates_trains_samples_and_scores(tmp_path):
    out = tmp_path / "demo"
    result = run("demo", "--out-dir", out, "--n-halos", "600", "--epochs", "3")
    assert result.exit_code == 0, result.output
    assert len(read_catalog(out / "catalog.parquet")) == 600
    assert (out / "overview.png").stat().st_size > 10_000
    for column in ("M_h", "smass", "color", "sSFR", "radius", "Delta3_h"):
        assert column in result.output
    mock = read_catalog(out / "mock.parquet")
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(mock) == metrics["held_out_rows"] > 0
    assert metrics["flow_minus_truth_nll"] == pytest.approx(
        metrics["flow_nll"] - metrics["truth_nll"])
    assert load_model(out / "flow").family == "flow"
    assert (out / "mock_vs_truth.png").stat().st_size > 10_000


@pytest.fixture(scope="module")
def small_universe(tmp_path_factory):
    path = tmp_path_factory.mktemp("universe") / "cat.parquet"
    assert run("simulate", "--out", path, "--n-halos", "800", "--box", "60").exit_code == 0
    return path


def test_train_then_sample_makes_a_mock_with_realisations(small_universe, tmp_path):
    model_dir, mock = tmp_path / "gauss", tmp_path / "mock.parquet"
    result = run("train", "--model", "gauss", "--catalog", small_universe, "--out", model_dir,
                 "--epochs", "4", "--hidden", "32,32")
    assert result.exit_code == 0, result.output
    assert "validation NLL" in result.output
    result = run("sample", "--model", model_dir, "--halos", small_universe, "--out", mock,
                 "--samples", "3", "--seed", "1")
    assert result.exit_code == 0, result.output
    table = read_catalog(mock).table
    assert len(table) == 3 * 800
    assert sorted(table["realization"].unique()) == [0, 1, 2]
    halos = read_catalog(small_universe).table
    np.testing.assert_array_equal(table["M_h"].to_numpy()[:800], halos["M_h"].to_numpy())
    assert not np.array_equal(table["smass"].to_numpy()[:800], halos["smass"].to_numpy())


def test_inverse_direction_on_the_command_line(small_universe, tmp_path):
    result = run("train", "--model", "flow", "--catalog", small_universe, "--out",
                 tmp_path / "inverse", "--condition", "smass,color", "--target", "M_h",
                 "--epochs", "3", "--hidden", "16,16", "--transforms", "2",
                 "--set", "passes=2", "--set", "weight_decay=1e-4")
    assert result.exit_code == 0, result.output
    model = load_model(tmp_path / "inverse")
    assert model.target == ("M_h",)
    assert model.hyperparameters["passes"] == 2
    assert model.hyperparameters["weight_decay"] == pytest.approx(1e-4)


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "forest"], "unknown model family 'forest'"),
    (["--model", "flow", "--condition", "M_h,halo_mass"], "halo_mass"),
    (["--model", "flow", "--condition", "M_h", "--target", "M_h"], "both condition and target"),
    (["--model", "gauss", "--hidden", "32,x"], "--hidden"),
    (["--model", "gauss", "--set", "passes"], "key=value"),
    (["--model", "gauss", "--set", "leaves=3"], "unknown gauss hyperparameters ['leaves']"),
    (["--model", "flow", "--set", 'search={"leaves": [3, 4]}'],
     "unknown flow hyperparameters ['leaves']"),
    (["--model", "flow", "--set", 'search={"bins": []}'], "'bins' needs a non-empty list"),
    (["--model", "flow", "--bins", "6", "--set", 'search={"bins": [4, 8]}'],
     "search: bins set both in the grid and outside it"),
])
def test_bad_training_requests_fail_before_training(small_universe, tmp_path, args, message):
    result = run("train", "--catalog", small_universe, "--out", tmp_path / "m", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "training" not in result.output
    assert not (tmp_path / "m").exists()


def test_search_keeps_the_lowest_validation_nll(small_universe, tmp_path):
    result = run("train", "--model", "gauss", "--catalog", small_universe, "--out",
                 tmp_path / "best", "--epochs", "3", "--set", 'search={"hidden": [[8], [32, 32]]}')
    assert result.exit_code == 0, result.output
    model = load_model(tmp_path / "best")
    rows = model.metrics["search"]
    assert [row["hyperparameters"]["hidden"] for row in rows] == [[8], [32, 32]]
    best = min(rows, key=lambda row: row["valid_nll"])
    assert list(model.hyperparameters["hidden"]) == best["hyperparameters"]["hidden"]
    assert model.metrics["valid_nll"] == pytest.approx(best["valid_nll"])
    assert "kept" in result.output and "search 2/2" in result.output


def test_sampling_needs_the_condition_columns(small_universe, tmp_path):
    model_dir = tmp_path / "gauss"
    assert run("train", "--model", "gauss", "--catalog", small_universe, "--out", model_dir,
               "--epochs", "2", "--hidden", "16").exit_code == 0
    galaxies_only = tmp_path / "galaxies.csv"
    read_catalog(small_universe).table[["smass", "color"]].to_csv(galaxies_only, index=False)
    result = run("sample", "--model", model_dir, "--halos", galaxies_only, "--out",
                 tmp_path / "mock.parquet")
    assert result.exit_code == 2
    assert "M_h" in result.output
    assert not (tmp_path / "mock.parquet").exists()


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
    help_text = wide_help("simulate")
    for expected in ("Mpc/h", "8.75", "100000", "205"):
        assert expected in help_text


def test_ingest_subfind_and_tables_on_the_command_line(tmp_path):
    from subfind_fixtures import make_snapshot, write_snapshot

    write_snapshot(make_snapshot(200, seed=1), tmp_path / "groups_099")
    out = tmp_path / "tng.parquet"
    result = run("ingest", tmp_path / "groups_099", "--out", out, "--sfr-floor", "-15")
    assert result.exit_code == 0, result.output
    catalog = read_catalog(out)
    assert len(catalog) > 0 and "Delta3_h" in catalog.table
    assert catalog.table["sSFR"].min() >= -15.0
    # A table with a column mapping, through the same command.
    table = tmp_path / "table.csv"
    catalog.table.rename(columns={"smass": "stellar_mass"}).to_csv(table, index=False)
    remapped = tmp_path / "remapped.parquet"
    result = run("ingest", table, "--out", remapped, "--map", "stellar_mass=smass", "--box",
                 catalog.meta.box_size)
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(read_catalog(remapped).table["smass"], catalog.table["smass"])


@pytest.mark.parametrize(("args", "message"), [
    (["--box", "100"], "do not apply"),
    (["--map", "stellar_mass"], "SOURCE=TARGET"),
    (["--sublink", "trees"], "--snapshot-redshifts"),
])
def test_bad_ingest_options_fail_clearly_and_write_nothing(tmp_path, args, message):
    from subfind_fixtures import make_snapshot, write_snapshot

    write_snapshot(make_snapshot(50, seed=2), tmp_path / "groups_099")
    result = run("ingest", tmp_path / "groups_099", "--out", tmp_path / "x.parquet", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "x.parquet").exists()


def test_smogn_augments_rare_values_and_writes_the_figure(small_universe, tmp_path):
    out, figure = tmp_path / "augmented.parquet", tmp_path / "smogn.png"
    result = run("smogn", "--catalog", small_universe, "--target", "sSFR", "--out", out,
                 "--features", "M_h,C_h", "--threshold", "0.5", "--figure", figure)
    assert result.exit_code == 0, result.output
    augmented = read_catalog(out)
    assert augmented.meta.extra["smogn"]["synthetic_rows"] > 0
    assert set(augmented.table.columns) == {"M_h", "C_h", "sSFR"}
    assert figure.stat().st_size > 0
    bad = run("smogn", "--catalog", small_universe, "--target", "sSFR", "--out",
              tmp_path / "x.parquet", "--mode", "sideways")
    assert bad.exit_code == 2 and "sideways" in bad.output
    assert not (tmp_path / "x.parquet").exists()


def test_evaluate_and_compare_score_models_on_a_held_out_catalog(small_universe, tmp_path):
    model_dir = tmp_path / "gauss"
    assert run("train", "--model", "gauss", "--catalog", small_universe, "--out", model_dir,
               "--epochs", "3", "--hidden", "16").exit_code == 0
    out = tmp_path / "metrics.json"
    result = run("evaluate", "--model", "truth", "--catalog", small_universe, "--out", out,
                 "--select", "whole", "--select", "M_h>11.5", "--no-importance",
                 "--samples", "5")
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert set(metrics["scenarios"]) == {"whole", "M_h>11.5"}
    assert out.with_suffix(".csv").stat().st_size > 0
    # The truth scores its own catalog at the floor: NLL minus the truth's is exactly 0.
    whole = metrics["scenarios"]["whole"]["metrics"]
    assert whole["nll_vs_truth"]["joint"]["value"] == pytest.approx(0.0, abs=1e-9)
    table = tmp_path / "comparison.csv"
    result = run("compare", "--model", "truth", "--model", model_dir, "--catalog",
                 small_universe, "--out", table, "--select", "whole", "--samples", "5")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(table)
    nll = frame[frame["metric"] == "nll"].iloc[0]
    assert nll["best"] == "truth" and nll["truth"] < nll["gauss"]
    empty = run("evaluate", "--model", "truth", "--catalog", small_universe, "--out",
                tmp_path / "e.json", "--select", "M_h>20")
    assert empty.exit_code == 2 and "M_h>20" in empty.output


def test_hival_command_writes_the_hierarchy_and_prints_the_counts(small_universe, tmp_path):
    out = tmp_path / "hival"
    result = run("hival", "--catalog", small_universe, "--target", "smass,color", "--out", out)
    assert result.exit_code == 0, result.output
    from galhalo.models.hival import Hierarchy

    hierarchy = Hierarchy.load(out)
    assert hierarchy.counts[0] == 800 and hierarchy.counts[-1] < hierarchy.counts[0]
    assert (out / "hival.png").stat().st_size > 0
    assert f"{hierarchy.counts[1]:,}" in result.output


def test_hival_command_oracle_rule_and_dimension_defaults(small_universe, tmp_path):
    """--oracle reaches the hierarchy (and the table's title); without --directions the
    library's by-dimension default applies, not the old fixed 64 rays."""
    from galhalo.models.hival import Hierarchy, default_directions

    out = tmp_path / "member"
    result = run("hival", "--catalog", small_universe, "--target", "smass,color,sSFR",
                 "--out", out, "--oracle", "member")
    assert result.exit_code == 0, result.output
    hierarchy = Hierarchy.load(out)
    assert hierarchy.oracle == "member"
    assert "against a random member of its class)" in " ".join(result.output.split())
    assert hierarchy.settings["directions"] == default_directions(3) != 64
    bad = run("hival", "--catalog", small_universe, "--target", "smass,color",
              "--out", tmp_path / "bad", "--oracle", "oracle")
    assert bad.exit_code == 2 and "oracle" in bad.output
