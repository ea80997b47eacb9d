"""The flow's mixture of experts (``experts``; models/flow.py FlowEnsemble with a gate):
its density, the weights its draws follow, training on the mixture, persistence, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import zuko
from test_mixture_base import two_populations
from zuko.distributions import DiagNormal
from zuko.transforms import IdentityTransform

from galhalo.models import ModelError, load_model, model_family
from galhalo.models.flow import FlowEnsemble


def _point_flow(location: float) -> zuko.flows.Flow:
    """A flow with an identity transform: N(location, 1) in one dimension."""
    base = zuko.flows.UnconditionalDistribution(
        DiagNormal, torch.full((1,), location), torch.ones(1), buffer=True)
    return zuko.flows.Flow([zuko.flows.UnconditionalTransform(IdentityTransform)], base)


def _gated(weights: tuple[float, float]) -> FlowEnsemble:
    gate = torch.nn.Linear(2, 2)
    with torch.no_grad():
        gate.weight.zero_()
        gate.bias.copy_(torch.log(torch.tensor(weights)))
    return FlowEnsemble([_point_flow(-10.0), _point_flow(10.0)], gate=gate)


def test_density_is_the_gate_weighted_mixture():
    mixture = _gated((0.2, 0.8))
    x, y = torch.randn(50, 2), 12 * torch.rand(50, 1) - 6
    normal = torch.distributions.Normal(torch.tensor([-10.0, 10.0]), 1.0)
    expected = torch.log(0.2 * normal.log_prob(y)[:, 0].exp()
                         + 0.8 * normal.log_prob(y)[:, 1].exp())
    with torch.no_grad():
        got = mixture.log_prob(x, y)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_draws_pick_the_members_by_their_weights():
    mixture = _gated((0.2, 0.8))
    n = 20_000
    with torch.no_grad():
        torch.manual_seed(4)
        draws = mixture.sample(torch.zeros(n, 2), 1)
    share = float((draws > 0).double().mean())
    assert abs(share - 0.8) < 5 * math.sqrt(0.8 * 0.2 / n)
    with torch.no_grad():
        torch.manual_seed(4)
        assert torch.equal(draws, mixture.sample(torch.zeros(n, 2), 1))


@pytest.fixture(scope="module")
def experts():
    model = model_family("flow")(epochs=4, batch_size=256, hidden=(32, 32), transforms=2,
                                 experts=2)
    return model.fit(two_populations(1500, 1), "M_h,C_h", "color,sSFR", seed=0, progress=False)


def test_training_maximises_the_mixture_likelihood(experts):
    """Unlike a deep ensemble (each member on its own likelihood), the experts train on
    the gated mixture's: the training objective is the model's log-density."""
    x, y = torch.randn(64, 2), torch.randn(64, 2)
    experts.network.train()
    try:
        torch.testing.assert_close(experts.training_log_prob(x, y),
                                   experts.scaled_log_prob(x, y))
    finally:
        experts.network.eval()
    assert experts.network.gate is not None and len(experts.network.members) == 2


def test_saved_experts_give_the_same_density_and_draws(experts, tmp_path):
    table = two_populations(200, 3)
    experts.save(tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    np.testing.assert_array_equal(loaded.log_prob(table, table),
                                  experts.log_prob(table, table))
    np.testing.assert_array_equal(loaded.sample(table, 2, seed=9),
                                  experts.sample(table, 2, seed=9))
    fast = experts.sample(table, 2, seed=9)
    experts.sampler = "zuko"
    try:
        np.testing.assert_allclose(experts.sample(table, 2, seed=9), fast, atol=2e-4)
    finally:
        experts.sampler = "fast"


@pytest.mark.parametrize("settings", [{"experts": 0}, {"experts": 2, "members": 2}])
def test_bad_expert_settings_are_refused(settings):
    with pytest.raises(ModelError, match="experts must be >= 1"):
        model_family("flow")(**settings).fit(two_populations(300, 6), "M_h,C_h", "color,sSFR",
                                             seed=0, progress=False)
