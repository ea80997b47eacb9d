"""The shared training loop: the restored weights are the best evaluated ones, with and
without weight averaging; seeds reproduce; bad settings are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from galhalo.models.training import TrainingConfig, mean_loss, train


def _problem(seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(600, 3)).astype(np.float32)
    y = (x @ [[0.5], [-1.0], [0.2]] + 0.3 * rng.normal(size=(600, 1))).astype(np.float32)
    return (x[:400], y[:400]), (x[400:], y[400:])


def _fit(average: float, seed: int = 0):
    torch.manual_seed(seed)
    network = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.SiLU(),
                                  torch.nn.Linear(16, 1))

    def loss(x, y):
        return 0.5 * ((network(x) - y) ** 2).sum(dim=1)

    (train_data, valid_data) = _problem(1)
    config = TrainingConfig(epochs=12, batch_size=32, learning_rate=3e-2, patience=4,
                            average=average)
    history = train(network, loss, train_data, valid_data, config, seed, progress=False)
    valid = tuple(torch.as_tensor(a) for a in valid_data)
    return network, history, mean_loss(loss, *valid, 128)


@pytest.mark.parametrize("average", [0.0, 1.0])
def test_restored_weights_are_the_best_evaluated_ones(average):
    _, history, restored = _fit(average)
    assert restored == pytest.approx(min(h["valid"] for h in history), rel=1e-6)


def test_averaging_changes_the_weights_and_seeds_reproduce():
    plain, _, _ = _fit(0.0)
    averaged, _, _ = _fit(1.0)
    again, _, _ = _fit(1.0)
    first = torch.cat([p.flatten() for p in averaged.parameters()])
    assert torch.equal(first, torch.cat([p.flatten() for p in again.parameters()]))
    assert not torch.equal(first, torch.cat([p.flatten() for p in plain.parameters()]))


@pytest.mark.parametrize(("field", "value"), [("average", -0.1), ("average", float("inf")),
                                              ("epochs", 0), ("learning_rate", 0.0)])
def test_bad_settings_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        TrainingConfig(**{field: value})


def test_a_separate_validation_loss_drives_early_stopping():
    """With ``valid_loss`` the history's ``valid`` and the restored epoch follow it, not
    the training loss: here the validation rows are scored by the absolute error while
    the network trains on the squared error, so the two curves differ."""
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.SiLU(),
                                  torch.nn.Linear(16, 1))

    def squared(x, y):
        return 0.5 * ((network(x) - y) ** 2).sum(dim=1)

    def absolute(x, y):
        return (network(x) - y).abs().sum(dim=1)

    train_data, valid_data = _problem(1)
    config = TrainingConfig(epochs=12, batch_size=32, learning_rate=3e-2, patience=4)
    history = train(network, squared, train_data, valid_data, config, 0, progress=False,
                    valid_loss=absolute)
    valid = tuple(torch.as_tensor(a) for a in valid_data)
    with torch.no_grad():
        restored_absolute = mean_loss(absolute, *valid, 128)
        restored_squared = mean_loss(squared, *valid, 128)
    assert restored_absolute == pytest.approx(min(h["valid"] for h in history), rel=1e-6)
    assert restored_squared != pytest.approx(restored_absolute, rel=1e-2)
