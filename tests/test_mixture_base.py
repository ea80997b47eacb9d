"""The flow's conditional Gaussian-mixture base (``components``; models/mixture_base.py):
an exact density, draws that follow it, the fast sampler's draws, persistence, errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from galhalo.models import ModelError, load_model, model_family
from galhalo.models.flow import FlowEnsemble
from galhalo.models.flow_sampling import FastSampler
from galhalo.models.mixture_base import MIN_SCALE, ConditionalGaussianMixture

CONTEXT, FEATURES, COMPONENTS = 3, 2, 3


def perturbed_mixture(seed: int = 0) -> ConditionalGaussianMixture:
    torch.manual_seed(seed)
    mixture = ConditionalGaussianMixture(FEATURES, CONTEXT, COMPONENTS, hidden=(16,))
    with torch.no_grad():
        for parameter in mixture.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return mixture


def test_log_prob_is_the_mixture_of_the_stated_gaussians():
    mixture = perturbed_mixture()
    context, z = torch.randn(20, CONTEXT), 2 * torch.randn(20, FEATURES)
    with torch.no_grad():
        got = mixture(context).log_prob(z).numpy()
        raw = mixture.network(context)
    logits, means, scales = raw.split([COMPONENTS, COMPONENTS * FEATURES,
                                       COMPONENTS * FEATURES], dim=-1)
    weights = torch.softmax(logits, -1).numpy()
    means = means.unflatten(-1, (COMPONENTS, FEATURES)).numpy()
    scales = (torch.nn.functional.softplus(scales) + MIN_SCALE).unflatten(
        -1, (COMPONENTS, FEATURES)).numpy()
    expected = np.log(np.sum(weights * np.prod(
        stats.norm.pdf(z.numpy()[:, None, :], means, scales), axis=-1), axis=-1))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert scales.min() >= MIN_SCALE


def test_density_integrates_to_one():
    """Riemann sum (step 1e-3) on a grid wide enough for every component, in 1-D."""
    torch.manual_seed(1)
    mixture = ConditionalGaussianMixture(1, CONTEXT, 4, hidden=(8,))
    grid = torch.linspace(-15, 15, 30_001)[:, None]
    with torch.no_grad():
        for row in torch.randn(3, CONTEXT):
            density = mixture(row.expand(len(grid), -1)).log_prob(grid).exp()
            assert float(density.double().sum()) * 30 / 30_000 == pytest.approx(
                1.0, abs=1e-4)


def test_draws_follow_the_component_weights_and_moments():
    mixture = perturbed_mixture(2)
    context = torch.randn(1, CONTEXT)
    n = 40_000
    with torch.no_grad():
        torch.manual_seed(5)
        draws = mixture(context).sample((n,))[:, 0]
        again = (torch.manual_seed(5), mixture(context).sample((n,))[:, 0])[1]
        distribution = mixture(context)
        mean = (torch.softmax(distribution.logits, -1)[0, :, None]
                * distribution.base.mean[0]).sum(0)
    assert torch.equal(draws, again)  # a seed fixes the draws
    # the sample mean of each feature within 5 standard errors of the mixture's mean
    spread = draws.std(dim=0)
    assert torch.all((draws.mean(dim=0) - mean).abs() < 5 * spread / math.sqrt(n))


def two_populations(n: int, seed: int) -> pd.DataFrame:
    """Halo mass and concentration; stellar mass, colour and sSFR of a star-forming and a
    narrow quenched population whose shares follow the halo mass."""
    rng = np.random.default_rng(seed)
    mass = rng.uniform(11, 14, n)
    quenched = rng.random(n) < (mass - 11) / 3
    return pd.DataFrame({
        "M_h": mass, "C_h": rng.normal(8, 2, n),
        "smass": 0.6 * mass + rng.normal(2.5, 0.2, n),
        "color": np.where(quenched, rng.normal(1.0, 0.02, n), rng.normal(0.5, 0.1, n)),
        "sSFR": np.where(quenched, rng.normal(-12, 0.2, n), rng.normal(-10, 0.3, n))})


@pytest.fixture(scope="module")
def fitted():
    model = model_family("flow")(epochs=4, batch_size=256, hidden=(32, 32), transforms=2,
                                 components=3)
    model.fit(two_populations(2000, 1), "M_h,C_h", "smass,color,sSFR", seed=0, progress=False)
    return model


def test_fast_sampler_draws_what_zuko_draws_on_a_mixture_base(fitted):
    network = fitted.network  # the default ensemble: the fast sampler works per member
    members = network.members if isinstance(network, FlowEnsemble) else [network]
    assert len(members) == 2
    assert all(FastSampler.build(member) is not None for member in members)
    table = two_populations(300, 2)
    fast = fitted.sample(table, 3, seed=5)
    fitted.sampler = "zuko"
    try:
        reference = fitted.sample(table, 3, seed=5)
    finally:
        fitted.sampler = "fast"
    assert fast.shape == (3, 300, 3)
    np.testing.assert_allclose(fast, reference, atol=2e-4, rtol=0)


def test_saved_mixture_flow_gives_the_same_density_and_draws(fitted, tmp_path):
    table = two_populations(200, 3)
    fitted.save(tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    assert loaded.hyperparameters["components"] == 3
    np.testing.assert_array_equal(loaded.log_prob(table, table),
                                  fitted.log_prob(table, table))
    np.testing.assert_array_equal(loaded.sample(table, 2, seed=9),
                                  fitted.sample(table, 2, seed=9))


def test_a_mixture_base_fits_a_bimodal_law_better_than_one_gaussian():
    """Same flow, same seed and epochs: on two narrow, well separated populations whose
    shares follow the halo, the mixture base's held-out NLL is lower. One flow (the
    default ensemble of two with its own front closes the gap without it at this size)."""
    train, test = two_populations(4000, 4), two_populations(2000, 5)
    nll = {}
    for components in (1, 3):
        model = model_family("flow")(epochs=12, batch_size=256, hidden=(32, 32),
                                     transforms=2, components=components, members=1,
                                     affine_hidden=None)
        model.fit(train, "M_h,C_h", "smass,color,sSFR", seed=0, progress=False)
        nll[components] = -model.log_prob(test, test).mean()
    # the difference must exceed 4 standard errors of a per-row mean (~0.03 nats here)
    assert nll[3] < nll[1] - 0.1


@pytest.mark.parametrize("components", [0, -2])
def test_bad_component_counts_are_refused(components):
    with pytest.raises(ModelError, match="components must be >= 1"):
        model_family("flow")(components=components).fit(
            two_populations(300, 6), "M_h,C_h", "smass,color", seed=0, progress=False)
