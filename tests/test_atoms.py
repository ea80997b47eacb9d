"""Point masses at a column's edge (atoms, models/transforms.py): an sSFR floor that every
galaxy with SFR = 0 sits on exactly. Found in the training rows, modelled over a cell
beyond the atom, scored as a probability, drawn exactly."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from galhalo.models import load_model, model_family
from galhalo.models.atoms import ATOM_CELL, ATOM_MIN_SHARE, Atom, detect_atom
from galhalo.models.transforms import ColumnScaler, Support

FLOOR = -13.0


def _floored(rows: int, seed: int, dead_share: float = 0.2) -> np.ndarray:
    """A smooth sSFR with ``dead_share`` of the rows set to the floor."""
    rng = np.random.default_rng(seed)
    values = -10.0 + 0.4 * rng.standard_normal(rows)
    values[rng.random(rows) < dead_share] = FLOOR
    return values


@pytest.mark.parametrize("rows", [500, 5_000, 100_000])
def test_a_floor_is_found_and_smooth_columns_have_none(rows):
    values = _floored(rows, 0)
    atom = detect_atom(values)
    assert atom is not None and atom.value == FLOOR and atom.beyond < FLOOR
    rest = values[values != FLOOR]  # the cell scales with the other rows' 1-99 % range
    assert atom.width == pytest.approx(
        ATOM_CELL * np.subtract(*np.quantile(rest, [0.99, 0.01])), rel=1e-12)
    rng = np.random.default_rng(1)
    for smooth in (rng.normal(size=rows), rng.gamma(0.5, size=rows),
                   np.round(rng.normal(size=rows), 6)):
        assert detect_atom(smooth) is None
    # a ceiling is found on the other side
    ceiling = detect_atom(-_floored(rows, 2))
    assert ceiling is not None and ceiling.value == -FLOOR and ceiling.beyond > -FLOOR


def test_too_few_rows_on_the_edge_are_no_atom():
    values = _floored(10_000, 3, 0.0)
    needed = int(ATOM_MIN_SHARE * len(values))
    values[:needed - 1] = FLOOR
    assert detect_atom(values) is None
    values[:needed] = FLOOR
    assert detect_atom(values) is not None


def test_cells_dequantise_and_snap_treat_only_the_atom():
    atom = Atom(FLOOR, FLOOR - 0.1)
    scaler = ColumnScaler(("sSFR",), [Support()], np.zeros(1), np.ones(1), atoms=[atom])
    values = np.array([[FLOOR], [-10.0], [FLOOR], [-11.5]])
    low, width = scaler.cells(values)[0]
    np.testing.assert_allclose(width, [0.1, 0.0, 0.1, 0.0], rtol=1e-12, atol=0)
    np.testing.assert_allclose(low, [FLOOR - 0.1, -10.0, FLOOR - 0.1, -11.5], rtol=1e-12)
    spread = scaler.dequantise(values, np.random.default_rng(0))[:, 0]
    assert np.all((spread[[0, 2]] > FLOOR - 0.1) & (spread[[0, 2]] < FLOOR))
    np.testing.assert_array_equal(spread[[1, 3]], [-10.0, -11.5])
    np.testing.assert_array_equal(scaler.snap(np.array([[-13.05], [-14.0], [-12.9]]))[:, 0],
                                  [FLOOR, FLOOR, -12.9])
    np.testing.assert_array_equal(scaler.beyond_atoms(np.array([[-13.05], [FLOOR], [-9.0]])),
                                  [True, False, False])
    again = ColumnScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    assert again.atoms == [atom]
    plain = scaler.to_dict()
    del plain["atoms"]  # as saved before atoms existed
    assert ColumnScaler.from_dict(plain).atoms == [None]


def _table(rows: int, seed: int) -> pd.DataFrame:
    """Halo mass, and an sSFR whose floor share rises with it."""
    rng = np.random.default_rng(seed)
    mass = rng.uniform(11.0, 14.0, rows)
    ssfr = -10.0 - 0.4 * (mass - 12.0) + 0.4 * rng.standard_normal(rows)
    ssfr[rng.random(rows) < 0.05 + 0.1 * (mass - 11.0)] = FLOOR
    return pd.DataFrame({"M_h": mass, "sSFR": ssfr})


@pytest.fixture(scope="module")
def gauss():
    model = model_family("gauss")(epochs=40, hidden=(32,), patience=5)
    return model.fit(_table(6000, 0), "M_h", "sSFR", seed=0, progress=False)


def test_the_atom_probability_is_the_models_mass_in_its_cell(gauss):
    assert set(gauss.found_atoms) == {"sSFR"} and gauss.metrics["atoms"]["sSFR"]["value"] == FLOOR
    atom = gauss.target_scaler.atoms[0]
    halos = pd.DataFrame({"M_h": np.linspace(11.2, 13.8, 7)})
    at_floor = halos.assign(sSFR=FLOOR)
    # NNgauss has an exact CDF: the atom's probability is all the mass below it
    mass = gauss.cdf(halos, np.full(7, atom.value), "sSFR")
    np.testing.assert_allclose(gauss.log_prob(at_floor, at_floor), np.log(mass), atol=2e-3)
    # off the atom: the density, and nothing beyond it
    off = halos.assign(sSFR=-10.5)
    assert np.all(np.isfinite(gauss.log_prob(off, off)))
    beyond = halos.assign(sSFR=FLOOR - 0.01)
    assert np.all(gauss.log_prob(beyond, beyond) == -np.inf)


def test_draws_hold_the_atom_as_often_as_its_probability(gauss):
    halos = pd.DataFrame({"M_h": np.full(20_000, 13.0)})
    draws = gauss.sample(halos, 1, seed=3)[0][:, 0]
    assert draws.min() == FLOOR  # exactly on it, never beyond
    probability = float(np.exp(gauss.log_prob(halos.iloc[:1].assign(sSFR=FLOOR),
                                              halos.iloc[:1].assign(sSFR=FLOOR))[0]))
    share = np.mean(draws == FLOOR)
    assert abs(share - probability) < 4 * np.sqrt(probability * (1 - probability) / len(draws))


def test_a_flow_learns_the_atoms_share_saves_loads_and_can_do_without(tmp_path):
    table = _table(6000, 1)
    flow = model_family("flow")(epochs=30, hidden=(32, 32), members=1, transforms=1)
    flow.fit(table, "M_h", "sSFR", seed=0, progress=False)
    assert "sSFR" in flow.metrics["atoms"] and not flow.found_edges  # the atom, not an edge
    # the probability of the floor follows the data's share, 0.05 + 0.1 (M_h - 11), within
    # 4 binomial errors of the ~1,000 training rows within 0.25 dex of that mass
    for mass in (12.0, 13.0):
        at = pd.DataFrame({"M_h": [mass], "sSFR": [FLOOR]})
        share = 0.05 + 0.1 * (mass - 11.0)
        assert abs(np.exp(flow.log_prob(at, at)[0]) - share) < 4 * np.sqrt(
            share * (1 - share) / 1000)
    flow.save(tmp_path / "flow")
    loaded = load_model(tmp_path / "flow")
    np.testing.assert_array_equal(loaded.log_prob(table, table), flow.log_prob(table, table))
    assert np.all(loaded.sample(table, 1, seed=0)[0][:, 0] >= FLOOR)
    without = model_family("flow")(epochs=1, hidden=(16,), members=1, transforms=1,
                                   dequantise="none")
    without.fit(table, "M_h", "sSFR", seed=0, progress=False)
    assert without.found_atoms == {} and "atoms" not in without.metrics


def test_train_says_which_point_masses_it_found(tmp_path):
    """``galhalo train`` names the atoms (compared with rich's line breaks undone)."""
    from typer.testing import CliRunner

    import galhalo
    from galhalo.catalog import write_catalog
    from galhalo.cli import app

    catalog = galhalo.simulate(1_500, 70.0, 5)
    catalog.table["sSFR"] = _floored(len(catalog), 5)
    path = tmp_path / "floored.parquet"
    write_catalog(catalog, path)
    result = CliRunner().invoke(app, [
        "train", "--model", "flow", "--catalog", str(path), "--out", str(tmp_path / "m"),
        "--epochs", "2", "--hidden", "16,16", "--bins", "4", "--set", "members=1"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    share = load_model(tmp_path / "m").metrics["atoms"]["sSFR"]["share"]
    assert f"point masses found in the training rows: sSFR = -13 ({share:.1%} of rows)" in text
    assert "edges found" not in text  # the floor is the atom's, not an edge


def test_a_count_model_takes_its_zeros_as_counts_not_an_atom():
    """Most hosts have no satellite: the count model (no ``dequantise``) fits the pmf of
    the counts as they are, with no atom at 0."""
    from galhalo.models.occupation import OccupationModel

    rng = np.random.default_rng(4)
    mass = rng.uniform(11.0, 14.0, 2000)
    table = pd.DataFrame({"M_h": mass, "N_sat": rng.poisson(np.exp(mass - 13.0))})
    assert np.mean(table["N_sat"] == 0) > 0.5
    model = OccupationModel(epochs=2, hidden=(8,)).fit(table, "M_h", "N_sat", seed=0,
                                                       progress=False)
    assert model.found_atoms == {} and model.target_scaler.atoms == [None]
    assert "atoms" not in model.metrics
