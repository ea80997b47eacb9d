"""``galhalo survey …``: the whole chain filters → depths → simulate → observe → train →
evaluate → report on a tiny mock (3,000 galaxies in a 60 Mpc/h box, a 1 deg² light-cone
to z = 0.3, a few epochs), and every bad input of issue #21 as one line, exit 2, nothing
written."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from test_report import _parse, _png_size, _probe, chromium  # noqa: F401 (fixture)
from typer.testing import CliRunner

from galhalo.catalog import write_catalog
from galhalo.cli import app
from galhalo.errors import ReportError
from galhalo.photometry import (
    CLASSES,
    flux_from_ab,
    jpas_depths,
    jpas_like,
    read_depths,
    read_filters,
    sdss,
)
from galhalo.photometry.filters import smooth_top_hat
from galhalo.photometry.survey_metrics import R_BINS
from galhalo.report.survey_figure import FIGURES
from galhalo.sim.universe import simulate

runner = CliRunner()
AREA, Z_MAX = 1.0, 0.3
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def ok(*args):
    result = run(*args)
    assert result.exit_code == 0, result.output + result.stderr
    return result


def refused(*args, written=()):
    """The command fails as bad input: exit 2, ONE stderr line 'error: ...' (after any
    progress lines of the stages done), and none of ``written`` exists. Returns that line
    (the tests check what it names)."""
    result = run(*args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output + result.stderr
    progress = [line for line in lines[:-1] if re.match(r"^\s*\d+\.\d s  ", line)]
    assert progress == lines[:-1] and lines[-1].startswith("error: "), lines
    for path in written:
        assert not path.exists(), f"{path} was written"
    return lines[-1]


@pytest.fixture(scope="module")
def mock(tmp_path_factory):
    path = tmp_path_factory.mktemp("mock") / "mock.parquet"
    write_catalog(simulate(3000, 60.0, 1), path)
    return path


@pytest.fixture(scope="module")
def chain(mock, tmp_path_factory):
    """Sources, two observations (train / test), a 3-epoch CNN and its evaluation."""
    root = tmp_path_factory.mktemp("survey")
    paths = {name: root / name for name in ("sources.parquet", "train.parquet",
                                            "test.parquet", "cnn", "evaluation")}
    simulated = ok("survey", "simulate", "--catalog", mock, "--area", AREA, "--z-max", Z_MAX,
                   "--seed", 1, "--out", paths["sources.parquet"])
    ok("survey", "observe", "--sources", paths["sources.parquet"], "--seed", 2,
       "--out", paths["train.parquet"])
    ok("survey", "observe", "--sources", paths["sources.parquet"], "--seed", 3,
       "--out", paths["test.parquet"])
    ok("survey", "train", "--catalog", paths["train.parquet"], "--model", "survey_cnn",
       "--set", "epochs=3", "--set", "patience=3", "--seed", 4, "--out", paths["cnn"])
    evaluated = ok("survey", "evaluate", "--model", paths["cnn"], "--catalog",
                   paths["test.parquet"], "--out", paths["evaluation"])
    return root, paths, simulated.stdout, evaluated.stdout


# ----------------------------------------------------------------------------- files
def test_filter_and_depth_files_a_user_can_edit(tmp_path):
    ok("survey", "filters", "--system", "sdss", "--out", tmp_path / "sdss.csv")
    written = read_filters(tmp_path / "sdss.csv")
    assert written.names == sdss().names
    for mine, theirs in zip(written, sdss(), strict=True):
        np.testing.assert_allclose(mine.transmission, theirs.transmission, rtol=1e-9)
    ok("survey", "filters", "--out", tmp_path / "jpas.csv")
    assert read_filters(tmp_path / "jpas.csv").names == jpas_like().names
    ok("survey", "depths", "--filters", tmp_path / "jpas.csv", "--out", tmp_path / "d.csv")
    assert read_depths(tmp_path / "d.csv") == jpas_depths(jpas_like().names)
    # SDSS names have no J-PAS-like default depth
    line = refused("survey", "depths", "--filters", tmp_path / "sdss.csv", "--out",
                   tmp_path / "none.csv", written=[tmp_path / "none.csv"])
    assert "uSDSS" in line, line
    line = refused("survey", "filters", "--system", "hst", "--out", tmp_path / "x.csv",
                   written=[tmp_path / "x.csv"])
    assert "hst" in line, line


# ----------------------------------------------------------------------------- chain
def _printed_counts(text: str) -> dict[str, float]:
    """{class: the 'all' column} of the printed counts table."""
    counts = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃|]", line) if cell.strip()]
        if cells and cells[0] in (*CLASSES, "total"):
            counts[cells[0]] = float(cells[-1].replace(",", ""))
    return counts


def test_simulate_writes_every_class_and_prints_their_counts(chain):
    _, paths, printed, _ = chain
    table = pq.read_table(paths["sources.parquet"])
    meta = json.loads(table.schema.metadata[b"galhalo.survey"])
    sources = table.to_pandas()
    assert meta["filters"] == list(jpas_like().names) and meta["area_deg2"] == AREA
    counts = sources["source_class"].value_counts()
    assert all(counts.get(name, 0) > 0 for name in CLASSES), counts
    shown = _printed_counts(printed)
    assert shown == {**{name: counts[name] / AREA for name in CLASSES},
                     "total": len(sources) / AREA}
    mag = sources["mag_r"].to_numpy()
    assert ((mag >= 17.0) & (mag < 23.6)).all()
    flux = sources[[f"flux_{n}" for n in meta["filters"]]].to_numpy()
    assert np.isfinite(flux).all()
    galaxies = sources[sources["source_class"] == "galaxy"]
    assert galaxies["redshift"].between(0, Z_MAX + 0.01).all()  # + peculiar velocities
    # every galaxy of the cone placed, only those in the r range photometered and kept
    assert meta["galaxies_in_cone"] > len(galaxies)
    quasar = sources["source_class"].isin(["qso_low", "qso_high"])
    assert ((sources.loc[quasar, "redshift"] > 2.1)
            == (sources.loc[quasar, "source_class"] == "qso_high")).all()


def test_galaxies_alone_are_the_same_galaxies(chain, mock):
    root, paths, _, _ = chain
    ok("survey", "simulate", "--catalog", mock, "--area", AREA, "--z-max", Z_MAX, "--seed", 1,
       "--no-quasars", "--no-stars", "--out", root / "galaxies.parquet")
    alone = pd.read_parquet(root / "galaxies.parquet")
    mixed = pd.read_parquet(paths["sources.parquet"])
    assert set(alone["source_class"]) == {"galaxy"}
    np.testing.assert_array_equal(
        np.sort(alone["flux_J0500"].to_numpy()),
        np.sort(mixed.loc[mixed["source_class"] == "galaxy", "flux_J0500"].to_numpy()))


def test_a_mock_with_satellites_paints_its_satellites_too(tmp_path):
    from galhalo.catalog import read_catalog

    ok("simulate", "--satellites", "--n-halos", 3000, "--box", 60, "--seed", 1, "--out",
       tmp_path / "sat.parquet")
    catalog = read_catalog(tmp_path / "sat.parquet")
    assert catalog.has_satellites
    ok("survey", "simulate", "--catalog", tmp_path / "sat.parquet", "--area", AREA,
       "--z-max", Z_MAX, "--no-quasars", "--no-stars", "--out", tmp_path / "s.parquet")
    galaxies = pd.read_parquet(tmp_path / "s.parquet")
    satellites = catalog.table.loc[~catalog.central_mask(), "halo_id"]
    painted = galaxies["halo_id"].isin(satellites)
    assert 0 < painted.sum() < len(galaxies)


def test_observed_fluxes_scatter_about_the_true_ones_by_the_stated_sigma(chain):
    _, paths, _, _ = chain
    observed = pd.read_parquet(paths["train.parquet"])
    names = list(jpas_like().names)
    true = observed[[f"true_flux_{n}" for n in names]].to_numpy()
    sources = pd.read_parquet(paths["sources.parquet"])
    np.testing.assert_array_equal(true, sources[[f"flux_{n}" for n in names]].to_numpy())
    flux = observed[[f"flux_{n}" for n in names]].to_numpy()
    error = observed[[f"flux_err_{n}" for n in names]].to_numpy()
    # the sky model: sigma = f_5 / 5 in every filter, f_5 the flux of the 5σ depth
    depths = jpas_depths(names)
    expected = np.array([flux_from_ab(depths[n]) / 5 for n in names])
    np.testing.assert_allclose(error, np.broadcast_to(expected, error.shape), rtol=1e-12)
    pull = ((flux - true) / error).ravel()
    n = pull.size
    assert not np.allclose(flux, true)
    assert abs(pull.mean()) < 5 / np.sqrt(n)
    assert abs(pull.std() - 1) < 5 / np.sqrt(2 * n)


def test_evaluation_scores_every_class_and_bin_and_draws_the_figures(chain):
    _, paths, _, printed = chain
    metrics = json.loads((paths["evaluation"] / "metrics.json").read_text())
    scores = metrics["scores"]
    assert metrics["family"] == "survey_cnn" and metrics["classes"] == list(CLASSES)
    assert set(scores["classes"]["all"]) == set(CLASSES)
    bins = scores["classes"]["bins"]
    assert [(b["low"], b["high"]) for b in bins] == [tuple(b) for b in R_BINS]
    test = pd.read_parquet(paths["test.parquet"])
    for entry in bins:
        assert set(entry["scores"]) == set(CLASSES)
        inside = test["mag_r"].between(entry["low"], entry["high"], inclusive="left")
        assert entry["n"] == int(inside.sum())
        for name in CLASSES:
            expected = int((inside & (test["source_class"] == name)).sum())
            assert entry["scores"][name]["support"] == expected
    assert np.sum(scores["confusion_counts"]) == len(test)
    assert metrics["published"]["f1"]["qso_high"] == [0.99, 0.93, 0.63]
    assert len(scores["qso_high_curve"]["threshold"]) == 100
    assert scores["redshift"]["n"] == int(test["source_class"].str.startswith("qso").sum())
    for name in FIGURES:
        data = (paths["evaluation"] / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and min(_png_size(data)) > 200
    for name in (*CLASSES, "M-S+23 ANN1"):
        assert name in printed


def test_same_seed_same_files_and_another_seed_differs(chain, mock):
    root, paths, _, _ = chain
    again = root / "again.parquet"
    ok("survey", "simulate", "--catalog", mock, "--area", AREA, "--z-max", Z_MAX,
       "--seed", 1, "--out", again)
    assert again.read_bytes() == paths["sources.parquet"].read_bytes()
    observed = root / "observed-again.parquet"
    ok("survey", "observe", "--sources", again, "--seed", 2, "--out", observed)
    assert observed.read_bytes() == paths["train.parquet"].read_bytes()
    other = root / "other.parquet"
    ok("survey", "observe", "--sources", again, "--seed", 5, "--out", other)
    assert other.read_bytes() != paths["train.parquet"].read_bytes()
    # the same evaluation again: same metrics, same figures
    evaluation = root / "evaluation-again"
    ok("survey", "evaluate", "--model", paths["cnn"], "--catalog", paths["test.parquet"],
       "--out", evaluation)
    for name in ("metrics.json", *FIGURES):
        assert (evaluation / name).read_bytes() == (paths["evaluation"] / name).read_bytes()


def test_lightgbm_trains_and_is_deterministic(chain):
    root, paths, _, _ = chain
    scores = []
    for label in ("a", "b"):
        ok("survey", "train", "--catalog", paths["train.parquet"], "--model",
           "survey_lightgbm", "--set", "estimators=20", "--seed", 7, "--out",
           root / f"lgb-{label}")
        ok("survey", "evaluate", "--model", root / f"lgb-{label}", "--catalog",
           paths["test.parquet"], "--out", root / f"lgb-{label}-evaluation")
        scores.append(json.loads((root / f"lgb-{label}-evaluation" / "metrics.json")
                                 .read_text())["scores"])
    assert scores[0] == scores[1]
    assert (root / "lgb-a" / "classifier.txt").read_text() == (
        root / "lgb-b" / "classifier.txt").read_text()


# ----------------------------------------------------------------------------- report
def test_report_survey_section_alone(chain, tmp_path):
    _, paths, _, _ = chain
    out = tmp_path / "survey.html"
    ok("report", "--survey", paths["evaluation"], "--out", out)
    page = _parse(out)
    assert "Survey" in page.headings
    assert len(page.images) == len(FIGURES)
    text = out.read_text(encoding="utf-8")
    assert "Martínez-Solaeche+23 ANN1" in text and "survey_cnn" in text
    line = refused("report", "--survey", paths["cnn"], "--out", tmp_path / "bad.html",
                   written=[tmp_path / "bad.html"])
    assert "metrics.json" in line, line
    line = refused("report", "--out", tmp_path / "none.html", written=[tmp_path / "none.html"])
    assert "--survey" in line, line


def test_build_report_checks_the_survey_directory_before_any_work(chain, mock, tmp_path):
    from galhalo.catalog import read_catalog
    from galhalo.report.build import build_report

    _, paths, _, _ = chain

    def never(message):
        raise AssertionError(f"work started: {message}")

    with pytest.raises(ReportError, match=r"metrics\.json"):
        build_report({"truth": "truth"}, read_catalog(mock), tmp_path / "r.html",
                     survey=paths["cnn"], progress=never)
    assert not (tmp_path / "r.html").exists()


@pytest.mark.slow
def test_headless_chromium_shows_the_survey_section(chromium, chain, tmp_path):  # noqa: F811
    _, paths, _, _ = chain
    out = tmp_path / "survey.html"
    ok("report", "--survey", paths["evaluation"], "--out", out)
    record, console = _probe(chromium, out, tmp_path, "survey")
    assert record["errors"] == [] and console == [] and record["fetched"] == []
    assert len(record["images"]) == len(FIGURES)
    declared = [_png_size((paths["evaluation"] / name).read_bytes()) for name in FIGURES]
    assert [(w, h) for _, w, h in record["images"]] == declared
    assert all(complete for complete, _, _ in record["images"])


# ----------------------------------------------------------------------------- bad input
def _filter_csv(path, wavelength, name="bad"):
    rows = [f"{name},{w},{t}" for w, t in zip(wavelength, [0, 1, 1, 0], strict=True)]
    path.write_text("filter,wavelength,transmission\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("wavelength, words", [
    ((-10.0, 4000.0, 4100.0, 4200.0), ["non-positive"]),
    ((4000.0, 4200.0, 4100.0, 4300.0), ["not strictly increasing"])])
def test_a_bad_filter_file_is_refused(mock, tmp_path, wavelength, words):
    bad = _filter_csv(tmp_path / "bad.csv", wavelength)
    line = refused("survey", "depths", "--filters", bad, "--out", tmp_path / "d.csv",
                   written=[tmp_path / "d.csv"])
    assert all(word in line for word in [str(bad), *words]), line
    line = refused("survey", "simulate", "--catalog", mock, "--area", AREA, "--z-max", Z_MAX,
                   "--filters", bad, "--out", tmp_path / "s.parquet",
                   written=[tmp_path / "s.parquet"])
    assert all(word in line for word in words), line


def test_depths_missing_for_a_filter(chain, tmp_path):
    _, paths, _, _ = chain
    partial = tmp_path / "partial.csv"
    partial.write_text("filter,depth\nrSDSS,23.6\ngSDSS,23.5\n")
    line = refused("survey", "observe", "--sources", paths["sources.parquet"], "--depths", partial,
                   "--out", tmp_path / "o.parquet", written=[tmp_path / "o.parquet"])
    assert all(word in line for word in ["no depth", "J0378"]), line


def test_a_catalog_without_a_galaxy_column(mock, tmp_path):
    from galhalo.catalog import read_catalog

    catalog = read_catalog(mock)
    catalog.table = catalog.table.drop(columns=["color"])
    write_catalog(catalog, tmp_path / "no_color.parquet")
    line = refused("survey", "simulate", "--catalog", tmp_path / "no_color.parquet", "--area", AREA,
                   "--z-max", Z_MAX, "--out", tmp_path / "s.parquet",
                   written=[tmp_path / "s.parquet"])
    assert "color" in line, line


def test_a_source_outside_the_template_range_after_redshifting(mock, tmp_path):
    """A far-UV band at 700-800 Å: the galaxy templates start at 600 Å rest, so the band
    is covered at z = 0 but not once redshifted to z = 0.3."""
    far_uv = smooth_top_hat("FUV", 750.0, 100.0)
    from galhalo.photometry import FilterSet, write_filters

    write_filters(FilterSet((far_uv, *sdss())), tmp_path / "fuv.csv")
    line = refused("survey", "simulate", "--catalog", mock, "--area", AREA, "--z-max", Z_MAX,
                   "--filters", tmp_path / "fuv.csv", "--out", tmp_path / "s.parquet",
                   written=[tmp_path / "s.parquet"])
    assert all(word in line for word in ["do not cover", "0.3"]), line


def test_bad_models(chain, mock, tmp_path):
    _, paths, _, _ = chain
    line = refused("survey", "train", "--catalog", paths["train.parquet"], "--model", "survey_svm",
                   "--out", tmp_path / "m", written=[tmp_path / "m"])
    assert "survey_svm" in line, line
    line = refused("survey", "train", "--catalog", paths["train.parquet"], "--model", "survey_cnn",
                   "--set", "depth=3", "--out", tmp_path / "m", written=[tmp_path / "m"])
    assert "depth" in line, line
    line = refused("survey", "train", "--catalog", paths["sources.parquet"], "--model",
                   "survey_cnn", "--out", tmp_path / "m", written=[tmp_path / "m"])
    assert "flux_err_" in line, line
    # a conditional model (halo -> galaxy) is not a survey classifier
    ok("train", "--model", "knn", "--catalog", mock, "--out", tmp_path / "knn")
    line = refused("survey", "evaluate", "--model", tmp_path / "knn", "--catalog",
                   paths["test.parquet"], "--out", tmp_path / "e", written=[tmp_path / "e"])
    assert all(word in line for word in ["knn", "not a survey classifier"]), line
