"""Training weights that balance the halo-mass function (models/mass_balance.py): their values,
their checks, and that the training loop minimises the weighted mean while validating
unweighted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from galhalo.models import ModelError, model_family
from galhalo.models.mass_balance import MASS_BALANCE_BIN_WIDTH, mass_balance_weights
from galhalo.models.training import TrainingConfig, train


def test_power_zero_is_no_weighting_and_weights_average_one():
    values = np.random.default_rng(0).exponential(0.5, 5_000) + 11.0
    assert np.array_equal(mass_balance_weights(values, 0.0), np.ones(5_000))
    for power in (0.3, 0.5, 1.0):
        assert mass_balance_weights(values, power).mean() == pytest.approx(1.0, abs=1e-12)


def test_sparse_bins_weigh_more_and_power_one_equalises_bins():
    width = MASS_BALANCE_BIN_WIDTH
    # three bins of 4,000, 1,000 and 600 rows (all above the 500-row floor)
    values = np.concatenate([np.full(4_000, 11.0), np.full(1_000, 11.0 + width),
                             np.full(600, 11.0 + 2 * width)]) + 0.01
    half = mass_balance_weights(values, 0.5)
    assert half[0] < half[4_000] < half[-1]
    assert half[-1] / half[0] == pytest.approx(np.sqrt(4_000 / 600), rel=1e-12)
    one = mass_balance_weights(values, 1.0)
    totals = [one[:4_000].sum(), one[4_000:5_000].sum(), one[5_000:].sum()]
    assert np.allclose(totals, totals[0], rtol=1e-12, atol=0)


def test_bins_below_the_floor_count_as_the_floor():
    # 2,000 rows in one bin, 10 and 200 rows in two sparse bins: the sparse rows get
    # the same weight, (2,000 / 500) ** 0.5 = 2 times the dense rows'
    values = np.concatenate([np.full(2_000, 11.0), np.full(10, 12.0), np.full(200, 13.0)])
    weights = mass_balance_weights(values, 0.5, min_rows=500)
    assert weights[2_000] == weights[-1]
    assert weights[-1] / weights[0] == pytest.approx(2.0, rel=1e-12)


@pytest.mark.parametrize("power", [-0.1, 1.5, True, "half", None])
def test_a_bad_power_is_refused(power):
    with pytest.raises(ModelError, match="mass_balance must be a number in"):
        mass_balance_weights(np.linspace(11, 14, 100), power)


def test_a_non_finite_column_is_refused():
    with pytest.raises(ModelError, match="finite"):
        mass_balance_weights(np.array([11.0, np.nan, 12.0]), 0.5)


class _Location(torch.nn.Module):
    """One parameter: the per-row loss 0.5 (y - mu)^2 has its weighted minimum at the
    weighted mean of y."""

    def __init__(self):
        super().__init__()
        self.mu = torch.nn.Parameter(torch.zeros(()))

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 0.5 * (y[:, 0] - self.mu) ** 2


def test_the_loop_minimises_the_weighted_mean_and_validates_unweighted():
    y = np.array([[0.0]] * 50 + [[1.0]] * 50, dtype=np.float32)
    x = np.zeros((100, 1), dtype=np.float32)
    weights = np.array([1.5] * 50 + [0.5] * 50)  # weighted mean of y: 0.25
    # validation rows whose plain mean is 0.25 too (75 zeros, 25 ones), so the restored
    # best epoch is where the weighted fit ends
    y_valid = np.array([[0.0]] * 75 + [[1.0]] * 25, dtype=np.float32)
    # min_delta 1e-6: the restored epoch is within sqrt(2e-6) of each optimum
    config = TrainingConfig(epochs=300, batch_size=100, learning_rate=0.02, patience=300,
                            schedule_patience=300, min_delta=1e-6)
    network = _Location()
    history = train(network, network.loss, (x, y), (x[:100], y_valid), config, seed=0,
                    progress=False, weights=weights)
    assert float(network.mu.detach()) == pytest.approx(0.25, abs=0.005)
    # unweighted fits end at the plain mean, 0.5
    plain = _Location()
    train(plain, plain.loss, (x, y), (x, y), config, seed=0, progress=False)
    assert float(plain.mu.detach()) == pytest.approx(0.5, abs=0.005)
    # the validation loss is the plain mean over the validation rows:
    # 0.5 * (0.75 * 0.25^2 + 0.25 * 0.75^2) = 0.09375 at mu = 0.25
    assert min(h["valid"] for h in history) == pytest.approx(0.09375, abs=1e-4)
    with pytest.raises(ModelError, match="one value per training row"):
        train(network, network.loss, (x, y), (x, y), config, seed=0, progress=False,
              weights=weights[:10])


def _table(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    mass = 11.0 + rng.exponential(0.5, rows)
    return pd.DataFrame({"M_h": mass, "C_h": rng.lognormal(2.0, 0.3, rows),
                         "smass": 0.8 * mass + rng.normal(0, 0.2, rows)})


def test_a_model_balances_only_by_one_of_its_conditions():
    small = {"epochs": 2, "hidden": (8,)}
    with pytest.raises(ModelError,
                       match=r"mass_balance_by='C_h' is not a condition column \(M_h\)"):
        model_family("gauss")(**small, mass_balance=0.5, mass_balance_by="C_h").fit(
            _table(300), "M_h", "smass", seed=0, progress=False)
    # 4,000 rows: the densest bins hold more than the 500-row floor, so weights differ
    plain = model_family("gauss")(**small).fit(_table(4_000), "M_h", "smass", seed=0,
                                               progress=False)
    balanced = model_family("gauss")(**small, mass_balance=1.0).fit(
        _table(4_000), "M_h", "smass", seed=0, progress=False)
    # same seed and rows: the first epoch's training loss differs only by the weights
    assert balanced.history[0]["train"] != pytest.approx(plain.history[0]["train"],
                                                         rel=1e-6)
    by_concentration = model_family("gauss")(
        **small, mass_balance=1.0, mass_balance_by="C_h").fit(
        _table(300), "M_h,C_h", "smass", seed=0, progress=False)
    assert by_concentration.hyperparameters["mass_balance_by"] == "C_h"
