"""Scores by region (galhalo.evaluate.regions): constructed log-densities whose gap per
halo-mass bin, per sSFR population and in the worst rows is known exactly, the sSFR
boundaries, a catalog without a truth, bad input; then ``galhalo evaluate`` on a tiny
trained model (metrics.json, the terminal table, --mass-edges)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from galhalo.cli import app
from galhalo.errors import EvaluationError
from galhalo.evaluate.regions import (
    DEFAULT_MASS_EDGES,
    SSFR_POPULATIONS,
    mass_bins,
    region_scores,
    regions_result,
)

runner = CliRunner()

#: Per-bin gaps (nats) of the constructed model, one per default halo-mass bin.
GAPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
ROWS_PER_BIN = (40, 400, 300, 100, 40, 20)
SPREAD = 0.03  # each row's gap is its bin's gap +- SPREAD, alternating


def _constructed():
    """A table with rows in every mass bin and sSFR population, and (model, truth)
    log-densities whose per-row gap is GAPS[bin] +- SPREAD (an even count per bin, so
    the bin's mean gap is exactly GAPS[bin] and the sample sd SPREAD sqrt(n / (n - 1)))."""
    rng = np.random.default_rng(4)
    mass, gap = [], []
    for lo, hi, g, n in zip(DEFAULT_MASS_EDGES[:-1], DEFAULT_MASS_EDGES[1:], GAPS,
                            ROWS_PER_BIN, strict=True):
        mass.append(rng.uniform(lo, hi, n))
        gap.append(g + SPREAD * np.where(np.arange(n) % 2 == 0, 1.0, -1.0))
    mass, gap = np.concatenate(mass), np.concatenate(gap)
    ssfr = rng.uniform(-12.5, -8.5, len(mass))
    truth = rng.normal(-2.0, 1.0, len(mass))
    return pd.DataFrame({"M_h": mass, "sSFR": ssfr}), truth - gap, truth, gap


def test_gap_per_mass_bin_its_error_and_share_are_the_constructed_ones():
    table, model, truth, _ = _constructed()
    frame = region_scores(model, truth, table).set_index("region")
    assert frame.attrs["quantity"] == "nll_vs_truth" and frame.attrs["skipped"] == {}
    total = sum(g * n for g, n in zip(GAPS, ROWS_PER_BIN, strict=True))
    for b, (g, n) in enumerate(zip(GAPS, ROWS_PER_BIN, strict=True)):
        row = frame.loc[mass_bins()[b].name]
        assert row["kind"] == "halo mass" and row["rows"] == n
        assert row["value"] == pytest.approx(g, abs=1e-12)
        assert row["error"] == pytest.approx(SPREAD / math.sqrt(n - 1), rel=1e-9)
        assert row["share"] == pytest.approx(g * n / total, rel=1e-9)
    whole = frame.loc["whole"]
    assert whole["rows"] == len(table) and whole["share"] == pytest.approx(1.0)
    assert whole["value"] == pytest.approx(total / len(table), rel=1e-12)
    # the mass bins cover every row: their shares add up to one
    assert frame[frame["kind"] == "halo mass"]["share"].sum() == pytest.approx(1.0)


def test_populations_and_worst_rows_carry_their_known_share():
    table, model, truth, gap = _constructed()
    frame = region_scores(model, truth, table).set_index("region")
    total = gap.sum()
    for population in SSFR_POPULATIONS:
        mask = population.mask(table)
        row = frame.loc[population.name]
        assert row["kind"] == "population" and row["rows"] == mask.sum() > 50
        assert row["value"] == pytest.approx(gap[mask].mean(), rel=1e-12)
        assert row["share"] == pytest.approx(gap[mask].sum() / total, rel=1e-12)
    assert frame[frame["kind"] == "population"]["share"].sum() == pytest.approx(1.0)
    # worst 1% of 900 rows: the 9 largest gaps, all in the top bin (0.5 + 0.03)
    worst = frame.loc["worst 1%"]
    assert worst["kind"] == "worst rows" and worst["rows"] == 9
    assert worst["value"] == pytest.approx(GAPS[-1] + SPREAD, abs=1e-12)
    assert worst["share"] == pytest.approx(9 * (GAPS[-1] + SPREAD) / total, rel=1e-12)
    record = regions_result(region_scores(model, truth, table, worst_fraction=0.1),
                            DEFAULT_MASS_EDGES)
    assert record["table"][-1]["region"] == "worst 10%" and record["table"][-1]["rows"] == 90
    json.dumps(record, allow_nan=False)


def test_ssfr_boundaries_follow_the_stated_inequalities():
    """quenched sSFR <= -11, green valley -11 < sSFR <= -10.5, star-forming
    -10.5 < sSFR < -9, starburst sSFR >= -9: rows exactly on the boundaries."""
    ssfr = np.array([-11.0, -11.0, -10.5, -10.5, -10.0, -10.0, -9.0, -9.0, -12.0, -12.0])
    table = pd.DataFrame({"M_h": np.full(10, 11.2), "sSFR": ssfr})
    frame = region_scores(np.zeros(10), np.zeros(10), table).set_index("region")
    counts = frame.loc[[p.name for p in SSFR_POPULATIONS], "rows"].tolist()
    assert counts == [4, 2, 2, 2]


def test_without_a_truth_the_held_out_nll_per_region():
    table, model, _, _ = _constructed()
    frame = region_scores(model, None, table.drop(columns="sSFR")).set_index("region")
    assert frame.attrs["quantity"] == "nll"
    first = mass_bins()[0]
    mask = first.mask(table)
    assert frame.loc[first.name, "value"] == pytest.approx(-model[mask].mean(), rel=1e-12)
    assert frame["share"].isna().all()
    # no sSFR column: the populations are skipped and named
    assert set(frame.attrs["skipped"]) == {p.name for p in SSFR_POPULATIONS}
    assert not set(frame.index) & set(frame.attrs["skipped"])
    assert frame.loc["worst 1%", "value"] == pytest.approx(np.sort(-model)[-9:].mean())


def test_rows_off_the_support_and_small_regions_are_flagged():
    table, model, truth, _ = _constructed()
    model = model.copy()
    model[0] = -np.inf  # the first row lies in the first mass bin
    frame = region_scores(model, truth, table, mass_edges=(10.5, 11.0, 11.0001)
                          ).set_index("region")
    assert math.isinf(frame.loc["M_h 10.5-11", "value"])
    assert "off the model's support" in frame.loc["M_h 10.5-11", "note"]
    assert frame.loc["M_h 11-11.0001", "rows"] < 2
    assert "too few" in frame.loc["M_h 11-11.0001", "note"]
    assert regions_result(region_scores(model, truth, table), "10.5,12,15")["mass_edges"] \
        == [10.5, 12.0, 15.0]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"mass_edges": (12.0, 11.0)}, "strictly increasing"),
    ({"mass_edges": (12.0,)}, "at least two"),
    ({"mass_edges": "11,x"}, "numbers"),
    ({"worst_fraction": 0.0}, "worst_fraction"),
])
def test_bad_settings_are_refused(kwargs, message):
    table, model, truth, _ = _constructed()
    with pytest.raises(EvaluationError, match=message):
        region_scores(model, truth, table, **kwargs)


def test_mismatched_lengths_are_refused():
    table, model, truth, _ = _constructed()
    with pytest.raises(EvaluationError, match="rows"):
        region_scores(model, truth[:-1], table)
    with pytest.raises(EvaluationError, match="rows"):
        region_scores(model, truth, table.iloc[:-1])


# ----------------------------------------------------------------------------- the CLI
def run(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def test_evaluate_writes_and_prints_the_scores_by_region(tmp_path):
    catalog = tmp_path / "cat.parquet"
    assert run("simulate", "--out", catalog, "--n-halos", "800", "--box", "60").exit_code == 0
    model = tmp_path / "gauss"
    assert run("train", "--model", "gauss", "--catalog", catalog, "--out", model,
               "--epochs", "3", "--hidden", "16").exit_code == 0
    out = tmp_path / "metrics.json"
    result = run("evaluate", "--model", model, "--catalog", catalog, "--out", out,
                 "--select", "whole", "--no-importance", "--samples", "5",
                 "--mass-edges", "10.5,11.5,16")
    assert result.exit_code == 0, result.output
    assert "scores by region" in result.output and "quenched" in result.output
    regions = json.loads(out.read_text())["regions"]
    assert regions["quantity"] == "nll_vs_truth" and regions["mass_edges"] == [10.5, 11.5, 16]
    by_name = {r["region"]: r for r in regions["table"]}
    assert [r["region"] for r in regions["table"] if r["kind"] == "halo mass"] \
        == ["M_h 10.5-11.5", "M_h 11.5-16"]
    # the whole-sample region is the evaluation's own NLL excess over the truth
    whole = json.loads(out.read_text())["scenarios"]["whole"]["metrics"]["nll_vs_truth"]
    assert by_name["whole"]["value"] == pytest.approx(whole["joint"]["value"], rel=1e-12)
    assert by_name["whole"]["value"] > 0  # three epochs of a small network: a real gap
    masses = [r for r in regions["table"] if r["kind"] == "halo mass"]
    assert sum(r["rows"] for r in masses) == by_name["whole"]["rows"]
    assert sum(r["share"] for r in masses) == pytest.approx(1.0)
    bad = run("evaluate", "--model", model, "--catalog", catalog, "--out",
              tmp_path / "bad.json", "--mass-edges", "12,11")
    assert bad.exit_code == 2 and "mass edges" in bad.output
    assert not (tmp_path / "bad.json").exists()
    bad = run("report", "--model", model, "--catalog", catalog, "--out",
              tmp_path / "bad.html", "--mass-edges", "11")
    assert bad.exit_code == 2 and "mass edges" in bad.output
    assert not (tmp_path / "bad.html").exists()
