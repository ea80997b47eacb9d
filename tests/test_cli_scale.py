"""Command-line tests of the large-scale jobs: clustering and populate."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from galhalo.catalog import read_catalog, write_catalog
from galhalo.cli import app
from galhalo.cosmo import CosmoGNN, Galaxies
from galhalo.manifest import MANIFEST_FILE
from galhalo.sim.suites import SuiteSettings

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def universe(tmp_path_factory):
    path = tmp_path_factory.mktemp("universe") / "universe.parquet"
    result = run("simulate", "--out", path, "--n-halos", "3000", "--box", "120", "--seed", "3")
    assert result.exit_code == 0, result.output
    return path


def test_clustering_of_the_truth_against_itself_and_a_shuffle(universe, tmp_path):
    catalog = read_catalog(universe)
    shuffled = catalog.table.copy()
    # Colours moved to random halos: the red population loses its excess bias.
    shuffled["color"] = np.random.default_rng(0).permutation(shuffled["color"].to_numpy())
    shuffled_path = tmp_path / "shuffled.parquet"
    write_catalog(type(catalog)(shuffled, catalog.meta), shuffled_path)
    out = tmp_path / "clustering"
    result = run("clustering", "--catalog", universe, "--mock", f"same={universe}",
                 "--mock", shuffled_path, "--out", out, "--split", "color:quantiles=2",
                 "--fit-min", "10", "--fit-max", "30", "--jackknife", "2", "--min-points",
                 "50", "--no-shuffle")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "clustering.csv")
    assert set(table["model"]) == {"same", "shuffled"}
    same = table[table["model"] == "same"]
    # The truth measured as its own mock: identical pairs, so ratio exactly one.
    np.testing.assert_allclose(same["ratio"], 1.0, atol=1e-12)
    np.testing.assert_allclose(same["b_mock"], same["b_truth"], atol=1e-12)
    assert (out / "xi.png").stat().st_size > 0 and (out / "bias.png").stat().st_size > 0
    stored = json.loads((out / "clustering.json").read_text())
    assert stored["settings"]["fit_range"] == [10.0, 30.0]
    assert "shuffled" in result.output and "color" in result.output


@pytest.mark.parametrize("args, message", [
    (["--split", "color:median"], "unknown kind"),
    (["--mock", "truth=x.parquet"], "reserved"),
    (["--fit-min", "30", "--fit-max", "20"], "fit range"),
])
def test_bad_clustering_requests_fail_before_any_work(universe, tmp_path, args, message):
    out = tmp_path / "clustering"
    base = ["clustering", "--catalog", universe, "--out", out]
    if "--mock" not in args:
        base += ["--mock", universe]
    result = run(*base, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


@pytest.fixture(scope="module")
def model_and_halos(universe, tmp_path_factory):
    root = tmp_path_factory.mktemp("populate")
    model = root / "gauss"
    result = run("train", "--model", "gauss", "--catalog", universe, "--out", model,
                 "--epochs", "2", "--hidden", "16")
    assert result.exit_code == 0, result.output
    catalog = read_catalog(universe)
    halos = root / "halos"
    halos.mkdir()
    halo_columns = ["M_h", "C_h", "S_h", "z_h", "Delta3_h", "x", "y", "z"]
    for i, rows in enumerate(np.array_split(np.arange(len(catalog)), 3)):
        part = catalog.table.iloc[rows][halo_columns].reset_index(drop=True)
        write_catalog(type(catalog)(part, catalog.meta), halos / f"halos_{i}.parquet")
    return model, halos, len(catalog)


def _parts(directory):
    return pd.concat([pd.read_parquet(p) for p in sorted(directory.glob("*.parquet"))],
                     ignore_index=True)


def test_populate_writes_every_halo_times_samples_and_resumes(model_and_halos, tmp_path):
    model, halos, n = model_and_halos
    out = tmp_path / "mock"
    args = ["populate", "--model", model, "--halos", f"{halos}/*.parquet", "--out", out,
            "--samples", "2", "--keep", "M_h,x", "--scheduler", "threads", "--workers", "1",
            "--seed", "5"]
    result = run(*args)
    assert result.exit_code == 0, result.output
    mock = _parts(out)
    assert len(mock) == 2 * n
    assert set(mock.columns) >= {"M_h", "x", "smass", "color", "sSFR", "radius",
                                 "realization"}
    assert "y" not in mock.columns
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert len(manifest["parts"]) == 3
    again = run(*args)
    assert again.exit_code == 0, again.output
    assert "0 / 3 / 3" in again.output  # nothing rewritten, everything skipped
    pd.testing.assert_frame_equal(_parts(out), mock)
    other = tmp_path / "other"
    assert run(*[other if a == out else a for a in args]).exit_code == 0
    pd.testing.assert_frame_equal(_parts(other), mock)  # same seed, same galaxies


def test_populate_refuses_bad_requests_before_any_work(model_and_halos, tmp_path):
    model, halos, _ = model_and_halos
    out = tmp_path / "mock"
    nothing = run("populate", "--model", model, "--halos", f"{tmp_path}/*.parquet",
                  "--out", out)
    assert nothing.exit_code == 2 and "match" in nothing.output
    missing = run("populate", "--model", model, "--halos", halos, "--out", out,
                  "--keep", "M_h,vx")
    assert missing.exit_code == 2 and "vx" in missing.output
    remote = run("populate", "--model", model, "--halos", halos, "--out", out,
                 "--scheduler", "tcp://127.0.0.1:1", "--workers", "2")
    assert remote.exit_code == 2 and "workers" in remote.output
    assert not out.exists()


def test_report_command_writes_one_self_contained_page(universe, tmp_path):
    out = tmp_path / "report.html"
    result = run("report", "--model", "truth", "--catalog", universe, "--out", out,
                 "--select", "whole", "--samples", "5", "--no-importance")
    assert result.exit_code == 0, result.output
    page = out.read_text()
    images = page.count("<img ")
    assert images >= 4 and page.count('src="data:image/png;base64,') == images
    assert "<th>truth</th>" in page or '<th class="text">truth</th>' in page
    bad = run("report", "--model", "truth", "--catalog", universe, "--out",
              tmp_path / "bad.html", "--select", "M_h>20", "--samples", "5")
    assert bad.exit_code == 2 and "M_h>20" in bad.output
    assert not (tmp_path / "bad.html").exists()


def test_suite_then_cosmo_train_and_evaluate(tmp_path):
    suite, model, scores = tmp_path / "suite", tmp_path / "gnn", tmp_path / "scores"
    # 12 small universes (32^3 particles in 12.5 Mpc/h: the 25 Mpc/h, 64^3 resolution).
    result = run("suite", "--out", suite, "--universes", "12", "--particles", "32", "--box",
                 "12.5", "--scheduler", "threads", "--workers", "1", "--seed", "2",
                 "--complete-particles", "30")
    assert result.exit_code == 0, result.output
    settings = json.loads((suite / "suite.json").read_text())["settings"]
    expected = SuiteSettings(box_size=12.5, particles=32, complete_particles=30).cut
    assert settings["complete_particles"] == 30 and settings["stellar_mass_cut"] == expected
    assert expected < SuiteSettings(box_size=12.5, particles=32).cut  # more galaxies
    table = pd.read_csv(suite / "parameters.txt", sep=r"\s+")
    assert len(table) == 12 and table["#Name"].tolist() == [f"LH_{i}" for i in range(12)]
    assert table["Omega_m"].between(0.1, 0.5).all()
    result = run("cosmo", "train", "--suite", suite, "--out", model, "--epochs", "3",
                 "--hidden", "16", "--seed", "1", "--members", "2", "--test-fraction", "0.25")
    assert result.exit_code == 0, result.output
    assert "std calibration factors: Omega_m" in result.output
    saved = json.loads((model / "config.json").read_text())
    factor = saved["metrics"]["std_scale"]["Omega_m"]
    assert saved["std_scale"] == [factor] and f"Omega_m {factor:.3f}" in result.output
    assert saved["hyperparameters"]["members"] == 2 and len(saved["metrics"]["member_epochs"]) == 2
    # 3 of the 12 universes held out: the model trained and validated on the other 9
    held = saved["metrics"]["held_out"]
    assert len(held) == 3 and set(held) < set(table["#Name"])
    assert saved["metrics"]["train_boxes"] + saved["metrics"]["valid_boxes"] == 9
    result = run("cosmo", "evaluate", "--model", model, "--suite", suite, "--held-out",
                 "--out", scores)
    assert result.exit_code == 0, result.output
    metrics = json.loads((scores / "metrics.json").read_text())
    omega = metrics["suites"]["suite"]["metrics"]["Omega_m"]
    assert omega["boxes"] == 12 and 0 <= omega["coverage_1sigma"] <= 1
    assert metrics["suites"]["held out"]["metrics"]["Omega_m"]["boxes"] == 3
    assert list(metrics["suites"]) == ["held out", "suite"]
    assert (scores / "predicted_vs_true.png").stat().st_size > 0
    page = (scores / "report.html").read_text()
    # the model, validation and suite score tables, the figure and the loss curve
    assert page.count("<table>") == 2 and page.count("<img ") == 2
    assert page.count('src="data:image/png;base64,') == 2
    assert '<td class="text">suite</td>' in page and "Omega_m" in page
    assert '<td class="text">held out</td>' in page
    assert '<td class="text">validation, uncalibrated</td>' in page
    # predict: one row per catalog, the same numbers as the Python API
    boxes = [suite / "LH_0.parquet", suite / "LH_5.parquet"]
    result = run("cosmo", "predict", *boxes, "--model", model, "--out", tmp_path / "p.csv")
    assert result.exit_code == 0, result.output
    posterior = pd.read_csv(tmp_path / "p.csv")
    assert posterior["catalog"].tolist() == [str(b) for b in boxes]
    gnn = CosmoGNN.load(model)
    mean, std = gnn.predict([Galaxies.from_catalog(read_catalog(b)) for b in boxes])
    np.testing.assert_allclose(posterior["Omega_m_mean"], mean[:, 0], rtol=1e-6)
    np.testing.assert_allclose(posterior["Omega_m_std"], std[:, 0], rtol=1e-6)
    wrong = run("cosmo", "predict", boxes[0], "--model", model, "--box-size", "25")
    assert wrong.exit_code == 2 and "trained on 12.5 Mpc/h" in wrong.output
    nothing = run("cosmo", "evaluate", "--model", model, "--out", tmp_path / "none")
    assert nothing.exit_code == 2 and "nothing to score" in nothing.output
    del saved["metrics"]["held_out"]
    (model / "config.json").write_text(json.dumps(saved))
    unheld = run("cosmo", "evaluate", "--model", model, "--held-out", "--out", tmp_path / "u")
    assert unheld.exit_code == 2 and "no held-out universes" in unheld.output
    # one line, whatever the length of the temporary path in it (issue 17)
    assert [line for line in unheld.output.splitlines() if line.strip()] == [
        f"error: {model} holds no held-out universes: train it with --test-fraction"]
    bad = run("cosmo", "train", "--suite", suite, "--out", tmp_path / "bad",
              "--mask-fraction", "1.5")
    assert bad.exit_code == 2 and "mask" in bad.output
    assert not (tmp_path / "bad").exists()
