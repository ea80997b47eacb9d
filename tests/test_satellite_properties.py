"""Satellite property models (issue #19 item 2): the derived central columns, the exact
supports of the sub-halo columns, and the command line training and scoring a satellite
model conditioned on its central."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from galhalo.catalog import Catalog, CatalogMeta, validate_table, write_catalog
from galhalo.catalog.hosts import with_central_columns
from galhalo.catalog.schema import CENTRAL, COLUMNS, GALAXY
from galhalo.cli import app
from galhalo.errors import CatalogError
from galhalo.models.transforms import default_supports

try:  # click < 8.2 mixes stderr into stdout unless told not to
    runner = CliRunner(mix_stderr=False)
except TypeError:
    runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def hosts_table() -> pd.DataFrame:
    """Two hosts (ids 10, 20) with satellites, rows interleaved: centrals at rows 1, 3."""
    return pd.DataFrame({
        "halo_id": [11, 10, 21, 20, 12],
        "host_id": [10, 10, 20, 20, 10],
        "is_central": [False, True, False, True, False],
        "M_h": [13.0, 13.0, 12.0, 12.0, 13.0],
        "smass": [9.0, 11.0, 9.5, 10.0, 9.2],
        "color": [0.5, 1.0, 0.4, 0.6, 0.7],
        "sSFR": [-10.0, -12.0, -9.5, -10.5, -11.5],
        "radius": [0.3, 0.9, 0.4, 0.5, 0.2],
    })


def test_central_columns_are_the_hosts_centrals_values():
    table = hosts_table()
    derived = with_central_columns(table)
    assert list(derived.columns) == [*table.columns, *CENTRAL]
    assert derived["sSFR_central"].tolist() == [-12.0, -12.0, -10.5, -10.5, -12.0]
    assert derived["smass_central"].tolist() == [11.0, 11.0, 10.0, 10.0, 11.0]
    assert derived["radius_central"].tolist() == [0.9, 0.9, 0.5, 0.5, 0.9]
    assert "sSFR_central" not in table.columns  # a copy
    satellites = Catalog(table, CatalogMeta(seed=5)).with_centrals().galaxies("satellites")
    assert satellites.table["sSFR_central"].tolist() == [-12.0, -10.5, -12.0]
    assert satellites.meta.seed == 5
    # a centrals-only catalog: every row is its own central
    own = with_central_columns(table.drop(columns=["host_id", "is_central"]), ("color_central",))
    assert own["color_central"].tolist() == table["color"].tolist()


def test_central_columns_schema_and_validation():
    for name, galaxy in zip(CENTRAL, GALAXY, strict=True):
        column, source = COLUMNS[name], COLUMNS[galaxy]
        assert column.kind == "central" and column.unit == source.unit
        assert (column.lower, column.upper) == (source.lower, source.upper)
        assert "host's central galaxy" in column.description
    table = with_central_columns(hosts_table())
    validate_table(table, CatalogMeta())  # accepted when present
    table.loc[2, "sSFR_central"] = -2.0
    with pytest.raises(CatalogError, match=r"sSFR_central.*outside"):
        validate_table(table, CatalogMeta())


def test_central_columns_errors():
    table = hosts_table()
    with pytest.raises(CatalogError, match="no galaxy column 'sSFR'"):
        with_central_columns(table.drop(columns=["sSFR"]), ("sSFR_central",))
    with pytest.raises(CatalogError, match="not central columns"):
        with_central_columns(table, ("sSFR",))
    orphan = table[table["halo_id"] != 20]  # host 20 loses its central
    with pytest.raises(CatalogError, match="no central row"):
        with_central_columns(orphan)
    satellites_alone = table[~table["is_central"]]  # no central at all: no IndexError
    with pytest.raises(CatalogError, match="3 of 3 rows have no central row"):
        with_central_columns(satellites_alone)


def test_default_supports_of_subhalo_columns():
    names = ("r_host", "v_r", "v_t", "Vmax_sub", "Vmax_peak", "z_infall", "M_sub")
    supports = dict(zip(names, default_supports(names, 8.75), strict=True))
    for name in ("r_host", "v_t", "Vmax_sub", "Vmax_peak"):
        assert (supports[name].kind, supports[name].lower) == ("log", 0.0)
    assert (supports["z_infall"].kind, supports["z_infall"].lower) == ("softplus", 0.0)
    assert supports["v_r"].kind == supports["M_sub"].kind == "identity"


def test_profile_flow_draws_no_negative_radius_or_speed():
    """Radii and tangential speeds piled near 0: an identity support would put a
    large share of a (briefly trained) flow's draws below 0."""
    from galhalo.models.flow import FlowModel

    rng = np.random.default_rng(3)
    n = 2000
    table = pd.DataFrame({"M_h": rng.uniform(12, 14, n),
                          "r_host": rng.exponential(0.1, n) + 1e-4,
                          "v_r": rng.normal(0, 200, n),
                          "v_t": np.abs(rng.normal(0, 30, n)) + 1e-3})
    model = FlowModel(epochs=2, hidden=(16,), transforms=1).fit(
        table, "M_h", "r_host,v_r,v_t", seed=0)
    draws = model.sample(table.iloc[:500], 4, seed=1)
    assert (draws[..., 0] > 0).all() and (draws[..., 2] > 0).all()
    outside = table.iloc[:3].assign(r_host=[-0.1, 0.2, 0.3], v_t=[10.0, -1.0, 5.0])
    log_prob = model.log_prob(outside, outside)
    assert np.isneginf(log_prob[:2]).all() and np.isfinite(log_prob[2])


@pytest.fixture(scope="module")
def satellite_catalog(tmp_path_factory):
    path = tmp_path_factory.mktemp("sats") / "sats.parquet"
    result = run("simulate", "--n-halos", 2000, "--box", 60, "--seed", 3, "--satellites",
                 "--out", path)
    assert result.exit_code == 0, result.output
    return path


def test_cli_trains_and_scores_a_satellite_model_on_its_central(satellite_catalog,
                                                                tmp_path):
    condition = "M_h,M_peak,M_sub,z_infall,r_host,sSFR_central"
    model = tmp_path / "sat_flow"
    result = run("train", "--model", "flow", "--catalog", satellite_catalog, "--out", model,
                 "--galaxies", "satellites", "--condition", condition,
                 "--target", ",".join(GALAXY), "--epochs", 3, "--hidden", "16")
    assert result.exit_code == 0, result.stderr
    config = json.loads((model / "config.json").read_text())
    assert "sSFR_central" in config["condition"]
    metrics = tmp_path / "metrics.json"
    result = run("evaluate", "--model", model, "--catalog", satellite_catalog, "--galaxies",
                 "satellites", "--select", "whole", "--samples", 5, "--no-importance",
                 "--out", metrics)
    assert result.exit_code == 0, result.stderr
    scored = json.loads(metrics.read_text())
    assert "sSFR_central" in scored["model"]["condition"]
    versus_truth = scored["scenarios"]["whole"]["metrics"]["nll_vs_truth"]["joint"]
    assert np.isfinite(versus_truth["value"]) and np.isfinite(versus_truth["error"])


def test_cli_refuses_a_central_column_it_cannot_derive(tmp_path):
    """No host columns and no sSFR: sSFR_central cannot be derived."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"halo_id": np.arange(300), "M_h": rng.uniform(11, 14, 300),
                          "smass": rng.uniform(9, 11, 300)})
    path = tmp_path / "halos.parquet"
    write_catalog(Catalog(table, CatalogMeta()), path)
    result = run("train", "--model", "flow", "--catalog", path, "--out", tmp_path / "m",
                 "--condition", "M_h,sSFR_central", "--target", "smass")
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "'sSFR'" in lines[0] and "sSFR_central" in lines[0]
    assert not (tmp_path / "m").exists()
