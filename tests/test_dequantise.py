"""Discrete targets (a formation redshift on a snapshot grid): dequantised training, a
probability per grid value, draws on the grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galhalo.models import ModelError, load_model, model_family
from galhalo.models.transforms import ColumnScaler, Support, detect_grid, grid_edges

# An irregular grid, like the redshifts of simulation snapshots.
SNAPSHOTS = np.array([0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0])
N_TRAIN = 6000


def true_probabilities(mass: np.ndarray) -> np.ndarray:
    """P(snapshot index | M_h): binomial over the grid, older (higher z) at low mass."""
    from scipy import stats

    p = 1 / (1 + np.exp((np.asarray(mass) - 12.0) / 0.5))
    k = np.arange(len(SNAPSHOTS))
    return stats.binom.pmf(k[None, :], len(SNAPSHOTS) - 1, p[:, None])


def discrete_table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mass = rng.uniform(11.0, 13.0, n)
    cumulative = true_probabilities(mass).cumsum(axis=1)
    index = (rng.random(n)[:, None] > cumulative).sum(axis=1)
    return pd.DataFrame({"M_h": mass, "z_h": SNAPSHOTS[np.minimum(index, len(SNAPSHOTS) - 1)]})


@pytest.fixture(scope="module")
def fitted():
    return model_family("flow")(epochs=40, batch_size=256, patience=8, learning_rate=3e-3,
                                hidden=(64, 64), transforms=2, bins=8).fit(
        discrete_table(N_TRAIN, 0), "M_h", "z_h", seed=0, progress=False)


def grid_probabilities(model, mass: float) -> np.ndarray:
    log_p = model.log_prob({"M_h": np.full(len(SNAPSHOTS), mass)}, {"z_h": SNAPSHOTS})
    return np.exp(log_p)


def test_detect_grid_finds_discrete_columns_only():
    rng = np.random.default_rng(1)
    assert detect_grid(rng.normal(size=5000)) is None
    np.testing.assert_array_equal(detect_grid(rng.choice(SNAPSHOTS, 5000)), SNAPSHOTS)
    assert detect_grid(rng.choice(SNAPSHOTS, 50)) is None  # too few repeats to tell


def test_dequantised_values_stay_in_their_cells_and_snap_back():
    scaler = ColumnScaler(("z_h",), [Support("softplus", 0.0)], np.zeros(1), np.ones(1),
                          [SNAPSHOTS])
    values = np.random.default_rng(2).choice(SNAPSHOTS, (4000, 1))
    spread = scaler.dequantise(values, np.random.default_rng(3))
    edges = grid_edges(SNAPSHOTS, Support("softplus", 0.0))
    cell = np.searchsorted(SNAPSHOTS, values[:, 0])
    assert np.all((spread[:, 0] >= edges[cell]) & (spread[:, 0] < edges[cell + 1]))
    assert edges[0] > 0  # the first cell stays inside the support z_h > 0
    np.testing.assert_array_equal(scaler.snap(spread), values)
    with pytest.raises(ValueError, match="not on the grid"):
        scaler.dequantise(np.array([[0.25]]), np.random.default_rng(0))


def test_grid_probabilities_sum_to_one(fitted):
    # The lattice rule integrates the density over each cell; only mass outside the
    # outer cells is lost, which the training data never put there.
    for mass in (11.2, 12.0, 12.8):
        assert grid_probabilities(fitted, mass).sum() == pytest.approx(1.0, abs=0.02)


def test_draws_lie_on_the_grid_with_the_model_probabilities(fitted):
    n = 20_000
    draws = fitted.sample({"M_h": [12.0]}, n, seed=4)[:, 0, 0]
    assert np.isin(draws, SNAPSHOTS).all()
    expected = grid_probabilities(fitted, 12.0)
    observed = np.array([(draws == z).mean() for z in SNAPSHOTS])
    # Multinomial noise: 4 sigma per cell, plus the lattice rule's small integration error.
    sigma = np.sqrt(expected * (1 - expected) / n)
    assert np.all(np.abs(observed - expected / expected.sum()) < 4 * sigma + 0.005)


def test_learned_probabilities_match_the_truth(fitted):
    # Total-variation distance to the true pmf; with 6000 rows over 9 values the
    # estimation noise alone is ~ sqrt(9 / 6000 / (pi/2)) ~ 0.03 per mass slice.
    for mass in (11.5, 12.0, 12.5):
        learned = grid_probabilities(fitted, mass)
        assert 0.5 * np.abs(learned - true_probabilities([mass])[0]).sum() < 0.1


def test_off_grid_values_and_unknown_names_are_refused(fitted, tmp_path):
    with pytest.raises(ModelError, match="not on the grid"):
        fitted.log_prob({"M_h": [12.0]}, {"z_h": [0.25]})
    with pytest.raises(ModelError, match="not targets"):
        model_family("gauss")(epochs=1, dequantise=["M_h"]).fit(
            discrete_table(500, 1), "M_h", "z_h", progress=False)
    loaded = load_model(fitted.save(tmp_path / "model"))
    np.testing.assert_array_equal(grid_probabilities(loaded, 12.0),
                                  grid_probabilities(fitted, 12.0))


def test_dequantise_none_keeps_the_column_continuous():
    model = model_family("gauss")(epochs=2, dequantise="none").fit(
        discrete_table(2000, 5), "M_h", "z_h", progress=False)
    assert model.target_scaler.discrete == []
    draws = model.sample({"M_h": [12.0]}, 200, seed=0)[:, 0, 0]
    assert not np.isin(draws, SNAPSHOTS).all()
