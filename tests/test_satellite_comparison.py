"""Truth vs mocks with satellites: wp(rp) ratios with the truth's jackknife band and the
within-5% verdict, the satellite statistics side by side (files, figures), the
``galhalo clustering`` outputs and the report's Satellites section (in a real browser).

Catalogs: the synthetic universe with satellites (``simulate(satellites=True)``); the
"mocks" are the same catalog (ratio exactly 1), another seed, and the catalog with its
satellites removed (a one-halo deficit). Fixed seeds; the deficit is judged against 5
times the truth's jackknife error.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import pytest
from test_report import _parse, _png_size, _probe, chromium  # noqa: F401 (fixture)
from typer.testing import CliRunner

from galhalo import simulate
from galhalo.catalog import write_catalog
from galhalo.cli import app
from galhalo.errors import ClusteringError
from galhalo.evaluate.satellite_clustering import SmallScaleSettings, measure_small_scales
from galhalo.evaluate.satellite_comparison import (
    SatelliteComparison,
    combine_universes,
    compare_satellites,
    ratio_summary,
    wp_ratios,
)
from galhalo.evaluate.satellite_statistics import (
    occupation,
    quenched_by_radius,
    quenched_mask,
    satellite_distances,
)
from galhalo.report.build import build_report

BOX = 100.0
SIGMA = 5.0
SETTINGS = SmallScaleSettings(rp_min=0.1, rp_max=20.0, per_decade=3, pi_max=20, jackknife=2,
                              nthreads=1, min_points=50, with_xi=False,
                              populations=("all", "satellites", "color q1/4"))


@pytest.fixture(scope="module")
def truth():
    return simulate(n_halos=2500, box=BOX, seed=11, satellites=True)


@pytest.fixture(scope="module")
def measured(truth):
    return measure_small_scales(truth, SETTINGS, label="truth")


def test_a_catalog_against_itself_has_ratio_one_and_a_positive_band(measured):
    ratios = wp_ratios(measured, {"same": measured})
    assert list(ratios.columns) == ["population", "rp", "label", "ratio", "error"]
    assert set(ratios["population"]) == {"all", "satellites", "color q1/4"}
    assert (ratios["ratio"] == 1.0).all()
    assert (ratios["error"] > 0).all()
    # the band is the truth's relative jackknife error
    reference = measured.wp["all"]
    part = ratios[ratios["population"] == "all"]
    assert np.allclose(part["error"], reference.error / reference.value)
    summary = ratio_summary(ratios)
    assert summary["same"]["all"]["max_deviation"] == 0.0
    assert all(entry["within"] for entry in summary["same"].values())


def test_a_mock_without_satellites_shows_the_one_halo_deficit(truth):
    centrals = truth.select(truth.central_mask())
    compared = compare_satellites({"truth": truth, "no satellites": centrals}, SETTINGS)
    ratios = compared.ratios
    first = ratios[(ratios["population"] == "all") & (ratios["rp"] < 0.2)].iloc[0]
    # centrals alone have (almost) no pairs below 0.2 Mpc/h: far below the truth's band
    assert first["ratio"] + SIGMA * first["error"] < 1.0
    assert first["ratio"] < 0.5
    entry = compared.summary["no satellites"]["all"]
    assert not entry["within"] and entry["max_deviation"] > 0.5
    # the satellites population is empty in the mock: skipped, not compared
    assert "satellites" in compared.small["no satellites"].skipped
    assert "satellites" not in compared.summary["no satellites"]
    assert set(compared.verdict()["within 5%"]) == {"no"}


def test_unknown_population_names_are_refused(truth):
    from dataclasses import replace

    with pytest.raises(ClusteringError, match="unknown population"):
        measure_small_scales(truth, replace(SETTINGS, populations=("purple",)))


def test_binned_occupation_equals_a_direct_groupby(truth):
    table = truth.table
    edges = np.arange(11.0, 15.01, 0.5)
    binned = occupation(table, edges)
    counts = table.groupby("host_id")["is_central"].agg(lambda s: int((~s).sum()))
    centrals = table[table["is_central"]].set_index("host_id")
    frame = pd.DataFrame({"n": counts, "M_h": centrals["M_h"]})
    frame["bin"] = pd.cut(frame["M_h"], edges, right=False)
    direct = frame.groupby("bin", observed=True)["n"].agg(["mean", "var", "size"])
    assert np.array_equal(binned["n_hosts"], direct["size"])
    assert np.allclose(binned["mean"], direct["mean"], rtol=1e-12)
    many = direct["size"].to_numpy() > 1
    assert np.allclose(binned["variance"][many], direct["var"][many], rtol=1e-12)


def test_quenched_fraction_by_radius_counts_the_satellites(truth):
    table = truth.table
    distances, _ = satellite_distances(truth)
    edges = np.array([0.0, 0.3, 0.6, 1.0, 3.0])
    frame = quenched_by_radius(table, distances, edges)
    quenched = quenched_mask(table)[0][~truth.central_mask()]
    index = np.searchsorted(edges, distances, side="right") - 1
    for _, row in frame.iterrows():
        here = index == np.flatnonzero(edges == row["r_min"])[0]
        assert row["n_satellites"] == here.sum()
        assert row["fq_satellites"] == pytest.approx(quenched[here].mean(), rel=1e-12)
        assert row["fq_satellites_error"] > 0
    with pytest.raises(ClusteringError, match="distances"):
        quenched_by_radius(table, distances[:-1], edges)


def test_cli_clustering_writes_the_ratio_table_figure_and_verdict(truth, tmp_path):
    other = simulate(n_halos=2500, box=BOX, seed=12, satellites=True)
    paths = {}
    for label, catalog in (("truth", truth), ("learned", other)):
        paths[label] = tmp_path / f"{label}.parquet"
        write_catalog(catalog, paths[label])
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "clustering", "--catalog", str(paths["truth"]), "--mock",
        f"learned={paths['learned']}", "--out", str(out), "--jackknife", "2", "--threads",
        "1", "--no-shuffle", "--split", "all", "--rp-max", "20", "--pi-max", "20",
        "--per-decade", "2", "--min-points", "50"])
    assert result.exit_code == 0, result.output
    ratios = pd.read_csv(out / "wp_ratio.csv")
    assert list(ratios.columns) == ["population", "rp", "label", "ratio", "error"]
    assert set(ratios["label"]) == {"learned"}
    assert {"all", "centrals", "satellites", "color q1/4", "color q4/4"} <= set(
        ratios["population"])
    stored = json.loads((out / "satellites.json").read_text())["wp_ratio"]
    assert stored["tolerance"] == 0.05 and stored["rp_range"] == [0.1, 20.0]
    entry = stored["mocks"]["learned"]["all"]
    inside = ratios[(ratios["population"] == "all") & (ratios["rp"] <= 20)]
    assert entry["max_deviation"] == pytest.approx(np.abs(inside["ratio"] - 1).max(),
                                                   rel=1e-5)
    assert entry["within"] == (entry["max_deviation"] <= 0.05)
    for name in ("wp_ratio.png", "satellite_fraction.png", "satellite_profile.png",
                 "satellite_occupation.png", "satellite_quenched.png",
                 "satellite_conformity.png", "quenched_radius.csv"):
        assert (out / name).stat().st_size > 0, name
    assert "mock / truth" in result.output


@pytest.fixture(scope="module")
def satellite_report(truth, tmp_path_factory):
    root = tmp_path_factory.mktemp("satellite-report")
    centrals = truth.select(truth.central_mask())
    compared = compare_satellites({"truth": truth, "no satellites": centrals}, SETTINGS)
    path = build_report({"truth": "truth"}, centrals, root / "report.html", n_samples=5,
                        importance=False, scenarios=["whole"], satellites=compared)
    return path, _parse(path), compared


def test_the_report_has_a_satellites_section_with_its_figures(satellite_report):
    _, page, compared = satellite_report
    assert "Satellites" in page.headings
    table = next(t for t in page.tables if "within 5%" in (t["caption"] or ""))
    assert len(table["rows"]) == len(compared.verdict())
    assert all(row[-1] == "no" for row in table["rows"])
    # wp ratio + the five satellite figures, after the report's own
    sizes = [_png_size(base64.b64decode(src.split(",", 1)[1])) for src in page.images]
    assert len(sizes) >= 6 and all(w > 100 and h > 100 for w, h in sizes[-6:])


@pytest.mark.slow
def test_headless_chromium_loads_the_satellite_figures(chromium, satellite_report,  # noqa: F811
                                                       tmp_path):
    path, page, _ = satellite_report
    record, console = _probe(chromium, path, tmp_path, "satellites")
    assert record["errors"] == [] and console == []
    declared = [_png_size(base64.b64decode(src.split(",", 1)[1])) for src in page.images]
    assert [(w, h) for _, w, h in record["images"]] == declared
    assert all(complete for complete, _, _ in record["images"])


def _scaled(measured, label, factor):
    """``measured`` with every wp multiplied by ``factor`` (value and jackknife copies)."""
    from dataclasses import replace
    return replace(measured, label=label, wp={
        name: replace(c, value=c.value * factor, copies=c.copies * factor)
        for name, c in measured.wp.items()})


def _comparison(truth, mock):
    table = wp_ratios(truth, {"mock": mock})
    return SatelliteComparison({"truth": truth, "mock": mock}, {}, table,
                               ratio_summary(table))


def test_pooled_universes_average_wp_and_their_error_is_the_standard_error(measured):
    amplitudes = np.array([0.9, 1.0, 1.15, 1.05])  # each universe's own cosmic variance
    comparisons = [_comparison(_scaled(measured, "truth", a), _scaled(measured, "mock", 1.1 * a))
                   for a in amplitudes]
    pooled = combine_universes(comparisons)
    reference = measured.wp["all"]
    truth = pooled.small["truth"].wp["all"]
    np.testing.assert_allclose(truth.value, amplitudes.mean() * reference.value)
    # the delete-one-universe jackknife of a mean is its standard error
    standard_error = amplitudes.std(ddof=1) / np.sqrt(len(amplitudes))
    np.testing.assert_allclose(truth.error, standard_error * np.abs(reference.value))
    # the mock shares each universe's noise: the ratio is exact and its joint error 0
    part = pooled.ratios[pooled.ratios["population"] == "all"]
    np.testing.assert_allclose(part["ratio"], 1.1)
    np.testing.assert_allclose(part["error"], 0.0, atol=1e-12)
    entry = pooled.summary["mock"]["all"]
    assert not entry["within"] and entry["max_deviation"] == pytest.approx(0.1)
    assert "4 universes" in pooled.band and pooled.to_dict()["band"] == pooled.band


def test_pooling_needs_two_universes_with_the_same_catalogs(measured):
    one = _comparison(measured, _scaled(measured, "mock", 1.0))
    with pytest.raises(ClusteringError, match="at least 2"):
        combine_universes([one])
    other = SatelliteComparison({"truth": measured, "other": measured}, {},
                                one.ratios, one.summary)
    with pytest.raises(ClusteringError, match="different catalogs"):
        combine_universes([one, other])
