"""The galaxy-truth presets: the ``tng_hard`` density is exact (normalised, consistent
with its sampler, marginals and CDF), the classic preset is unchanged, and the preset
travels with the catalog."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import simpson
from typer.testing import CliRunner

from galhalo.catalog import read_catalog, write_catalog
from galhalo.catalog.schema import GALAXY
from galhalo.cli import app
from galhalo.errors import SimulationError
from galhalo.evaluate.truth import catalog_truth
from galhalo.sim.bijections import Ceiling, Floor, SinhArcsinh
from galhalo.sim.hard_truth import HardTruthModel
from galhalo.sim.presets import DEFAULT_PRESET, GALAXY_PRESETS, preset_class, preset_truth
from galhalo.sim.truth import TruthModel
from galhalo.sim.universe import UniverseConfig, simulate

TRUTH = HardTruthModel()
#: Halos across the mass range (low-mass quenching, transition, groups, clusters).
HALOS = pd.DataFrame({"M_h": [10.8, 11.3, 12.0, 12.6, 13.4, 14.2],
                      "C_h": [1.1, 0.9, 1.0, 1.05, 0.95, 1.0],
                      "S_h": [0.03, 0.05, 0.04, 0.02, 0.06, 0.04],
                      "z_h": [1.8, 1.2, 1.4, 0.9, 0.7, 0.5],
                      "Delta3_h": [6.0, 1.5, 2.0, 3.0, 8.0, 20.0]})
#: Digest of ``simulate(n_halos=800, box=60, seed=5, grid=16)``'s numbers (rounded to
#: 1e-9) computed on main before presets existed (commit cebd029).
CLASSIC_DIGEST = "f60e4e9ce0b70ccace51fe828014e291a6e1b5a10895925c10a796765d15b41b"


def _galaxy(values: np.ndarray) -> dict[str, np.ndarray]:
    return {name: values[..., i] for i, name in enumerate(GALAXY)}


@pytest.mark.parametrize(("bijection", "y"), [
    (SinhArcsinh(center=10.0, scale=0.2, skew=-0.4, tail=0.8), np.linspace(8.5, 11.5, 41)),
    (SinhArcsinh(center=0.5, scale=0.13, skew=0.3, tail=1.2), np.linspace(-0.5, 1.5, 41)),
    (Ceiling(top=1.19, width=0.03), np.linspace(0.0, 1.34, 41)),
    (Floor(bottom=-15.0, width=0.25), np.linspace(-16.0, -9.0, 41))])
def test_bijections_invert_and_their_log_jacobian_is_the_derivative(bijection, y):
    x = bijection.forward(y)
    back, log_det, inside = bijection.inverse(x)
    assert inside.all() and np.all(np.diff(x) > 0)
    np.testing.assert_allclose(back, y, atol=1e-9)
    step = 1e-6
    numeric = (bijection.forward(y + step) - bijection.forward(y - step)) / (2 * step)
    np.testing.assert_allclose(log_det, -np.log(numeric), atol=1e-5)


def _grid_integral(halo: pd.DataFrame, values: dict[str, np.ndarray],
                   columns: tuple[str, ...] | None = None) -> float:
    """Simpson integral of the density over the grid that ``values`` spans."""
    grid = next(v for v in values.values() if np.ndim(v) and len(v) > 1)
    rows = pd.concat([halo] * len(grid), ignore_index=True)
    full = {name: np.broadcast_to(v, grid.shape) for name, v in values.items()}
    return float(simpson(np.exp(TRUTH.log_prob(rows, full, columns)), x=grid))


#: Integration ranges covering each column's support (20,001 points: 1.4e-4 mag steps
#: across the red ceiling, far finer than its 0.03 mag width).
RANGES = {"smass": (8.75, 14.5), "color": (-1.5, 1.19), "sSFR": (-15.0, -6.0),
          "radius": (-1.5, 4.0)}


def test_every_one_dimensional_marginal_integrates_to_one_and_matches_the_cdf():
    for row in (0, 2, 3, 5):
        halo = HALOS.iloc[[row]]
        for column, (low, high) in RANGES.items():
            grid = np.linspace(low, high, 20_001)
            assert _grid_integral(halo, {column: grid}, (column,)) == pytest.approx(
                1.0, abs=1e-4), (row, column)
            mid = float(np.median(TRUTH.sample(halo, 200, seed=row)[:, 0,
                                                                    GALAXY.index(column)]))
            below = _grid_integral(halo, {column: np.linspace(low, mid, 20_001)}, (column,))
            assert TRUTH.cdf(halo, np.array([mid]), column)[0] == pytest.approx(below, abs=1e-4)


def test_the_joint_density_integrates_to_one_by_importance_sampling():
    # Proposal: a Gaussian twice as wide as the model's draws at each halo.
    rng = np.random.default_rng(3)
    n = 100_000
    for row in (2, 4):
        halo = HALOS.iloc[[row]]
        draws = TRUTH.sample(halo, 4000, seed=row)[:, 0]
        mean, cov = draws.mean(axis=0), 4.0 * np.cov(draws.T)
        proposal = rng.multivariate_normal(mean, cov, size=n)
        log_q = (-0.5 * np.einsum("ni,ij,nj->n", proposal - mean, np.linalg.inv(cov),
                                  proposal - mean)
                 - 0.5 * np.linalg.slogdet(2 * np.pi * cov)[1])
        log_p = TRUTH.log_prob(pd.concat([halo] * n, ignore_index=True), _galaxy(proposal))
        weights = np.exp(log_p - log_q)
        error = weights.std() / np.sqrt(n)
        assert abs(weights.mean() - 1.0) < 5 * error + 1e-3, (row, weights.mean(), error)
        assert error < 0.02


def test_marginals_are_the_joint_integrated_over_the_hidden_column():
    halo = HALOS.iloc[[3]]
    g = TRUTH.sample(halo, 3, seed=7)[:, 0]
    for hidden in ("radius", "smass", "color"):
        shown = tuple(name for name in GALAXY if name != hidden)
        for values in g:
            point = dict(zip(GALAXY, values, strict=True))
            integral = _grid_integral(
                halo, {**point, hidden: np.linspace(*RANGES[hidden], 20_001)})
            marginal = TRUTH.log_prob(halo, {k: np.array([v]) for k, v in point.items()},
                                      shown)[0]
            assert np.log(integral) == pytest.approx(marginal, abs=1e-4), hidden


def test_draws_follow_the_density_pit_and_respect_the_support():
    halos = pd.concat([HALOS] * 500, ignore_index=True)
    draws = TRUTH.sample(halos, 1, seed=11)[0]
    assert (draws[:, 0] >= TRUTH.stellar_mass_cut).all()
    assert (draws[:, 1] < TRUTH.color_ceiling).all()
    assert (draws[:, 2] > TRUTH.ssfr_floor).all()
    bound = 1.95 / np.sqrt(len(halos))  # KS critical value at alpha = 0.001
    for j, column in enumerate(GALAXY):
        pit = np.sort(TRUTH.cdf(halos, draws[:, j], column))
        grid = np.arange(1, len(pit) + 1) / len(pit)
        assert np.max(np.abs(pit - grid)) < bound, column
    assert np.isfinite(TRUTH.log_prob(halos, _galaxy(draws))).all()
    # outside the support: zero density
    outside = draws[:3].copy()
    outside[0, 1], outside[1, 2], outside[2, 0] = 1.25, -15.5, 8.7
    assert np.isneginf(TRUTH.log_prob(halos[:3], _galaxy(outside))).all()


def test_selected_quenched_fraction_matches_the_weights():
    # Before selection the passive share is pi_Q + pi_D; draws agree within 5 sigma.
    halos = pd.concat([HALOS.iloc[[2]]] * 20_000, ignore_index=True)
    draws = TRUTH.sample(halos, 1, seed=5, selected=False)[0]
    weights = np.exp(TRUTH.log_weights(HALOS.iloc[[2]]))[0]
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    passive = TRUTH.quenched_fraction(HALOS.iloc[[2]])[0]
    red = (draws[:, 1] > 1.0).mean()
    assert abs(red - passive) < 0.05 + 5 * np.sqrt(passive * (1 - passive) / len(draws))


def _digest(catalog) -> str:
    numbers = np.round(catalog.table.to_numpy(dtype=float), 9)
    return hashlib.sha256(numbers.tobytes()).hexdigest()


def test_classic_preset_is_the_catalog_of_before():
    # The classic preset gives the numbers of the default universe of before the switch
    # to tng_hard (2026-12-07); the default (no preset named) is now tng_hard.
    catalog = simulate(n_halos=800, box=60.0, seed=5, grid=16, preset="classic")
    assert _digest(catalog) == CLASSIC_DIGEST
    assert catalog.meta.truth == json.loads(json.dumps(TruthModel().to_dict()))
    assert "preset" not in catalog.meta.truth
    default = simulate(n_halos=800, box=60.0, seed=5, grid=16)
    assert default.meta.truth["preset"] == DEFAULT_PRESET == "tng_hard"
    assert _digest(default) != CLASSIC_DIGEST
    assert TruthModel.from_dict(default.meta.truth) == HardTruthModel()


def test_bad_or_contradicting_preset_names_raise():
    for build in (lambda: UniverseConfig(preset="tng"), lambda: preset_class("tng"),
                  lambda: TruthModel.from_dict({"preset": "tng"})):
        with pytest.raises(SimulationError, match="known: classic, tng_hard"):
            build()
    with pytest.raises(SimulationError, match="contradicts"):
        UniverseConfig(preset="classic", truth=HardTruthModel())
    with pytest.raises(SimulationError, match="cannot load"):
        HardTruthModel.from_dict(TruthModel().to_dict())
    assert set(GALAXY_PRESETS) == {"classic", "tng_hard"}
    assert isinstance(preset_truth("tng_hard"), HardTruthModel)
    result = CliRunner().invoke(app, ["simulate", "--out", "x.parquet", "--preset", "tng"])
    assert result.exit_code == 2 and "known: classic, tng_hard" in result.output


def test_hard_catalog_meta_round_trips_with_satellites(tmp_path):
    catalog = simulate(n_halos=300, box=60.0, seed=2, grid=16, preset="tng_hard",
                       satellites=True)
    assert catalog.meta.truth["preset"] == "tng_hard"
    path = tmp_path / "hard.parquet"
    write_catalog(catalog, path)
    again = read_catalog(path)
    truth = TruthModel.from_dict(again.meta.truth)
    assert isinstance(truth, HardTruthModel) and truth.satellites is not None
    assert truth == TruthModel.from_dict(catalog.meta.truth)
    assert isinstance(catalog_truth(again, GALAXY), HardTruthModel)
    table = again.table.copy()
    table["sSFR_central"] = table["sSFR"].to_numpy()[table["host_id"].to_numpy()]
    log_p = truth.log_prob(table, table)
    assert np.isfinite(log_p).all() and (~table["is_central"]).sum() > 0
    centrals = table[table["is_central"]].reset_index(drop=True)
    np.testing.assert_array_equal(log_p[table["is_central"].to_numpy()],
                                  HardTruthModel().log_prob(centrals, centrals))
