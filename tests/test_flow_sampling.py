"""The fast flow sampler (models/flow_sampling.py) against zuko's own inverse: same
draws for the same seed, exact inverses, and a clean fallback for unknown flows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import zuko
from zuko.flows.autoregressive import MaskedAutoregressiveTransform

from galhalo.models import ModelError, model_family
from galhalo.models.flow_sampling import FastSampler, fast_sampler, sample_flow

CONTEXT = 3
# float32 inversion of 4-5 spline layers: zuko's own round trip is good to ~3e-6 on
# these flows; allow an order of magnitude more for a different operation order
TOLERANCE = 5e-5


def random_flow(features: int, passes: int | None, affine: bool, hidden=(32, 32),
                seed: int = 0) -> zuko.flows.Flow:
    """A conditional spline flow with perturbed (non-identity) weights."""
    torch.manual_seed(seed)
    flow = zuko.flows.NSF(features=features, context=CONTEXT, transforms=3, bins=6,
                          hidden_features=hidden, randperm=True, passes=passes)
    transforms = list(flow.transform.transforms)
    if affine:
        transforms.insert(0, MaskedAutoregressiveTransform(
            features=features, context=CONTEXT, passes=1, hidden_features=hidden))
    flow = zuko.flows.Flow(transforms, flow.base)
    with torch.no_grad():
        for parameter in flow.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return flow


@pytest.mark.parametrize("features,passes,affine,hidden", [
    (4, 2, True, (32, 32)), (4, 2, False, (32, 32)), (3, 2, True, (16, 24, 16)),
    (5, 3, False, (32, 32)), (4, None, True, (32,)), (2, 2, True, (32, 32))])
@pytest.mark.parametrize("draws", [1, 5])
@pytest.mark.parametrize("halos", [300, 1])
def test_fast_sampler_draws_what_zuko_draws(features, passes, affine, hidden, draws, halos):
    flow = random_flow(features, passes, affine, hidden)
    sampler = FastSampler.build(flow)
    assert sampler is not None
    context = torch.randn(halos, CONTEXT)
    with torch.no_grad():
        torch.manual_seed(11)
        reference = flow(context).sample((draws,))
        torch.manual_seed(11)
        fast = sampler.sample(context, draws)
        torch.manual_seed(11)
        base = flow.base(context).expand((halos,)).rsample((draws,))
        round_trip = flow(context).transform(fast)
    assert fast.shape == (draws, halos, features)
    # the draws are the samples zuko would give, and map back onto the base draw
    assert torch.allclose(fast, reference, atol=TOLERANCE, rtol=0)
    assert torch.allclose(round_trip, base, atol=TOLERANCE, rtol=0)
    # the draws differ between halos (the sampler does not broadcast one halo's values)
    if halos > 1:
        assert fast[0].std(dim=0).min() > 0.1


def test_unknown_flows_fall_back_to_zuko():
    torch.manual_seed(0)
    one_feature = zuko.flows.NSF(features=1, context=CONTEXT, transforms=2)
    residual = zuko.flows.NSF(features=3, context=CONTEXT, transforms=2, residual=True)
    context = torch.randn(50, CONTEXT)
    for flow in (one_feature, residual):
        assert FastSampler.build(flow) is None
        with torch.no_grad():
            torch.manual_seed(3)
            expected = flow(context).sample((2,))
            torch.manual_seed(3)
            got = sample_flow(flow, context, 2)
        assert torch.equal(got, expected)


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mass = rng.uniform(11, 14, n)
    return pd.DataFrame({"M_h": mass, "C_h": rng.normal(8, 2, n),
                         "smass": 0.6 * mass + rng.normal(2.5, 0.2, n),
                         "color": np.where(rng.random(n) < (mass - 11) / 3,
                                           rng.normal(0.8, 0.05, n), rng.normal(0.4, 0.1, n)),
                         "sSFR": rng.normal(-10.5, 0.5, n)})


@pytest.mark.parametrize("members", [1, 2])
def test_flow_model_samples_the_same_with_either_sampler(members):
    table = _table(1500, 1)
    model = model_family("flow")(epochs=3, batch_size=256, hidden=(32, 32), transforms=2,
                                 members=members)
    model.fit(table, "M_h,C_h", "smass,color,sSFR", seed=0, progress=False)
    fast = model.sample(table.iloc[:400], 3, seed=5)
    model.sampler = "zuko"
    reference = model.sample(table.iloc[:400], 3, seed=5)
    assert fast.shape == reference.shape == (3, 400, 3)
    # physical units: scaled tolerance times the largest scaler width (< 2 here)
    np.testing.assert_allclose(fast, reference, atol=4 * TOLERANCE, rtol=0)
    model.sampler = "fastest"
    with pytest.raises(ModelError, match="sampler must be"):
        model.sample(table.iloc[:10], 1)


def test_the_kept_sampler_follows_the_flows_weights():
    flow = random_flow(4, None, True)
    context = torch.randn(50, CONTEXT)
    first = fast_sampler(flow)
    assert first is not None and fast_sampler(flow) is first  # kept while unchanged

    def draws() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            torch.manual_seed(2)
            reference = flow(context).sample((1,))
            torch.manual_seed(2)
            return sample_flow(flow, context, 1), reference

    with torch.no_grad():  # an in-place update, as an optimiser step makes
        for parameter in flow.parameters():
            parameter.mul_(1.1)
    assert fast_sampler(flow) is not first
    fast, reference = draws()
    assert torch.allclose(fast, reference, atol=TOLERANCE, rtol=0)
    flow.load_state_dict(random_flow(4, None, True, seed=1).state_dict())
    fast, after_load = draws()
    assert not torch.allclose(after_load, reference, atol=0.01)
    assert torch.allclose(fast, after_load, atol=TOLERANCE, rtol=0)
