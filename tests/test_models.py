"""Conditional density models: normalisation, agreement with their own samples, known
answers, both directions, persistence, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import integrate, stats

from galhalo import __version__
from galhalo.errors import CatalogError
from galhalo.models import ModelError, load_model, model_family

FAST = {"epochs": 60, "batch_size": 256, "patience": 10, "learning_rate": 3e-3}
#: One flow, not the default ensemble of two: these tests are about a flow's density and
#: draws (the ensemble's own tests are in test_flow_shape / test_flow_sampling), and one
#: member halves their fit time.
SMALL_NETWORKS = {"gauss": {"hidden": (64, 64)},
                  "flow": {"hidden": (64, 64), "transforms": 3, "bins": 8, "members": 1}}
KS_CRITICAL = 1.949  # Kolmogorov distribution at alpha = 0.001, times sqrt(n)


def make_model(family: str, **extra):
    return model_family(family)(**FAST, **SMALL_NETWORKS[family], **extra)


# A linear-Gaussian relation with a known answer: condition (M_h, radius), target
# (color, sSFR) = A @ condition + b + correlated noise.
SLOPES = np.array([[0.30, 0.20], [-0.50, 0.40]])
OFFSET = np.array([0.60, -10.0])
NOISE = np.array([[0.010, -0.006], [-0.006, 0.040]])  # covariance of (color, sSFR)


def linear_gaussian(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    condition = np.column_stack([rng.normal(12.0, 0.5, n), rng.normal(0.5, 0.2, n)])
    centred = condition - [12.0, 0.5]
    target = OFFSET + centred @ SLOPES.T + rng.multivariate_normal([0, 0], NOISE, n)
    return pd.DataFrame({"M_h": condition[:, 0], "radius": condition[:, 1],
                         "color": target[:, 0], "sSFR": target[:, 1]})


def true_log_prob(table: pd.DataFrame) -> np.ndarray:
    centred = table[["M_h", "radius"]].to_numpy() - [12.0, 0.5]
    mean = OFFSET + centred @ SLOPES.T
    residual = table[["color", "sSFR"]].to_numpy() - mean
    return stats.multivariate_normal([0, 0], NOISE).logpdf(residual)


def bimodal(n: int, seed: int) -> pd.DataFrame:
    """sSFR given M_h: a star-forming / quenched mixture whose weight depends on M_h."""
    rng = np.random.default_rng(seed)
    mass = rng.uniform(11.0, 13.0, n)
    quenched = rng.random(n) < 1 / (1 + np.exp(-(mass - 12.0) / 0.3))
    ssfr = np.where(quenched, rng.normal(-12.0, 0.6, n), rng.normal(-10.0, 0.25, n))
    return pd.DataFrame({"M_h": mass, "sSFR": ssfr})


@pytest.fixture(scope="module")
def linear_data():
    return linear_gaussian(8000, 0), linear_gaussian(4000, 1)


@pytest.fixture(scope="module")
def fitted_linear(linear_data):
    train, _ = linear_data
    return {family: make_model(family).fit(train, "M_h,radius", "color,sSFR", seed=0,
                                           progress=False)
            for family in ("gauss", "flow")}


@pytest.fixture(scope="module")
def fitted_bimodal():
    return {family: make_model(family).fit(bimodal(8000, 2), "M_h", "sSFR", seed=0,
                                           progress=False)
            for family in ("gauss", "flow")}


def test_gauss_recovers_the_linear_gaussian_mean_and_covariance(fitted_linear, linear_data):
    """Mean within 10 standard errors of the noise (sigma / sqrt(n)); covariance of the
    residuals of its own samples within 10 % (a relative error of sqrt(2/n) is 1.6 %)."""
    model = fitted_linear["gauss"]
    _, test = linear_data
    n_train = 8000
    predicted = model.predict(test)
    centred = test[["M_h", "radius"]].to_numpy() - [12.0, 0.5]
    expected = OFFSET + centred @ SLOPES.T
    sigma = np.sqrt(np.diag(NOISE))
    assert np.all(np.abs(predicted - expected).mean(axis=0) < 10 * sigma / np.sqrt(n_train))
    draws = model.sample(test, 1, seed=0)[0]
    np.testing.assert_allclose(np.cov((draws - expected).T), NOISE, rtol=0.10, atol=5e-4)


@pytest.mark.parametrize("family", ["gauss", "flow"])
def test_models_recover_the_true_density(fitted_linear, linear_data, family):
    """Held-out mean log-likelihood within 0.05 nats of the true density (KL bound), with
    5 standard errors of the mean log ratio on top."""
    _, test = linear_data
    ratio = true_log_prob(test) - fitted_linear[family].log_prob(test, test)
    assert ratio.mean() < 0.05 + 5 * ratio.std() / np.sqrt(len(ratio))


@pytest.mark.parametrize("family", ["gauss", "flow"])
def test_log_prob_integrates_to_one(fitted_bimodal, family):
    model = fitted_bimodal[family]
    grid = np.linspace(-20.0, -5.0, 30_001)
    for mass in (11.3, 12.0, 12.8):
        density = np.exp(model.log_prob({"M_h": np.full_like(grid, mass)}, {"sSFR": grid}))
        assert integrate.trapezoid(density, grid) == pytest.approx(1.0, abs=2e-3)


def test_flow_samples_match_its_own_density_ks(fitted_bimodal):
    model = fitted_bimodal["flow"]
    n = 20_000
    draws = model.sample({"M_h": [12.0]}, n, seed=5)[:, 0, 0]
    grid = np.linspace(-20.0, -5.0, 30_001)
    cdf = integrate.cumulative_trapezoid(
        np.exp(model.log_prob({"M_h": np.full_like(grid, 12.0)}, {"sSFR": grid})), grid,
        initial=0.0)
    statistic = stats.kstest(draws, lambda x: np.interp(x, grid, cdf / cdf[-1])).statistic
    assert statistic < KS_CRITICAL / np.sqrt(n)


def test_flow_captures_bimodality_that_gauss_cannot(fitted_bimodal):
    test = bimodal(4000, 3)
    nll = {f: -fitted_bimodal[f].log_prob(test, test).mean() for f in ("gauss", "flow")}
    difference = nll["gauss"] - nll["flow"]
    assert difference > 0.2


def test_stellar_mass_cut_is_a_hard_boundary_of_the_density():
    """With a selected sample (smass >= 8.75), no probability leaks below the cut."""
    rng = np.random.default_rng(4)
    mass = rng.uniform(11.0, 12.5, 6000)
    smass = 8.75 + np.abs(rng.normal(0, 0.4, 6000) + (mass - 11.0) * 0.8)
    table = pd.DataFrame({"M_h": mass, "smass": smass})
    model = make_model("flow").fit(table, "M_h", "smass", progress=False)
    grid = np.linspace(8.75 + 1e-7, 14.0, 60_001)
    density = np.exp(model.log_prob({"M_h": np.full_like(grid, 11.5)}, {"smass": grid}))
    assert integrate.trapezoid(density, grid) == pytest.approx(1.0, abs=2e-3)
    below = model.log_prob({"M_h": [11.5]}, {"smass": [8.70]})
    assert below[0] == -np.inf
    assert (model.sample({"M_h": [11.5]}, 2000, seed=1) > 8.75).all()


def test_inverse_direction_recovers_halo_mass_from_galaxies():
    """galaxy -> halo is the same code path: M_h | (smass, color) with a known relation."""
    rng = np.random.default_rng(6)
    n = 6000
    smass = rng.uniform(9.0, 11.5, n)
    colour = rng.normal(0.7, 0.2, n)
    halo_mass = 12.0 + 1.2 * (smass - 10.0) + 0.5 * (colour - 0.7) + rng.normal(0, 0.15, n)
    table = pd.DataFrame({"smass": smass, "color": colour, "M_h": halo_mass})
    model = make_model("gauss").fit(table, "smass,color", "M_h", progress=False)
    test = pd.DataFrame({"smass": [9.5, 10.0, 11.0], "color": [0.5, 0.7, 1.0]})
    expected = 12.0 + 1.2 * (test["smass"] - 10.0) + 0.5 * (test["color"] - 0.7)
    np.testing.assert_allclose(model.predict(test)[:, 0], expected, atol=10 * 0.15 / np.sqrt(n))
    spread = model.sample(test, 4000, seed=0)[:, :, 0].std(axis=0)
    np.testing.assert_allclose(spread, 0.15, rtol=0.1)


@pytest.mark.parametrize("family", ["gauss", "flow"])
def test_save_then_load_gives_identical_log_prob_and_samples(fitted_linear, linear_data,
                                                             family, tmp_path):
    model = fitted_linear[family]
    _, test = linear_data
    model.save(tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    assert type(loaded) is type(model)
    assert loaded.condition == model.condition and loaded.target == model.target
    np.testing.assert_array_equal(loaded.log_prob(test, test), model.log_prob(test, test))
    np.testing.assert_array_equal(loaded.sample(test, 3, seed=9), model.sample(test, 3, seed=9))
    assert not np.array_equal(model.sample(test, 3, seed=9), model.sample(test, 3, seed=10))
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["family"] == family and config["galhalo_version"] == __version__
    assert len(json.loads((tmp_path / "model" / "history.json").read_text())) >= 1


def test_sample_shapes_and_call_syntax(fitted_linear, linear_data):
    model = fitted_linear["flow"]
    _, test = linear_data
    draws = model(test.iloc[:7]).sample(5, seed=1)
    assert draws.shape == (5, 7, 2)
    np.testing.assert_array_equal(model(test.iloc[:7]).log_prob(test.iloc[:7]),
                                  model.log_prob(test.iloc[:7], test.iloc[:7]))


def test_bad_input_fails_clearly(fitted_linear, linear_data, tmp_path):
    model = fitted_linear["gauss"]
    _, test = linear_data
    with pytest.raises(ModelError, match=r"condition columns \['radius'\] are missing"):
        model.log_prob(test.drop(columns="radius"), test)
    broken = test.copy()
    broken.loc[[3, 8], "sSFR"] = np.nan
    with pytest.raises(ModelError, match="'sSFR': 2 of 4000 rows are NaN"):
        model.log_prob(test, broken)
    with pytest.raises(ModelError, match="both condition and target"):
        make_model("gauss").fit(test, "M_h,color", "color,sSFR", progress=False)
    with pytest.raises(ModelError, match="unknown model family 'forest'"):
        model_family("forest")
    with pytest.raises(ModelError, match="unknown gauss hyperparameters"):
        model_family("gauss")(depth=3)
    with pytest.raises(CatalogError, match="unknown column"):
        make_model("gauss").fit(test, "M_h,halo_mass", "color", progress=False)
    with pytest.raises(ModelError, match="not fitted"):
        make_model("flow").sample(test)


def test_load_refuses_other_versions_and_tampered_weights(fitted_linear, tmp_path):
    directory = fitted_linear["gauss"].save(tmp_path / "model")
    config_path = directory / "config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "galhalo_version": "0.0.9"}))
    with pytest.raises(ModelError, match=r"saved by galhalo 0\.0\.9"):
        load_model(directory)
    config_path.write_text(json.dumps(config))
    weights = directory / "weights.pt"
    content = bytearray(weights.read_bytes())
    content[-20] ^= 0xFF
    weights.write_bytes(bytes(content))
    with pytest.raises(ModelError, match="checksum"):
        load_model(directory)
    with pytest.raises(ModelError, match="not a model directory"):
        load_model(tmp_path / "nowhere")


class _FixedNormal(torch.nn.Module):
    """A stand-in member: y ~ N(centre, 1) whatever the condition."""

    def __init__(self, centre: float):
        super().__init__()
        self.centre = centre

    def forward(self, x):
        loc = torch.full((len(x), 1), self.centre)
        return torch.distributions.Independent(torch.distributions.Normal(loc, 1.0), 1)


def test_flow_ensemble_is_an_equal_mixture_of_its_members():
    from galhalo.models.flow import FlowEnsemble

    ensemble = FlowEnsemble([_FixedNormal(-10.0), _FixedNormal(10.0)])
    x = torch.zeros(500, 3)
    y = torch.linspace(-15, 15, 500)[:, None]
    expected = np.logaddexp(stats.norm(-10, 1).logpdf(y[:, 0]),
                            stats.norm(10, 1).logpdf(y[:, 0])) - np.log(2)
    np.testing.assert_allclose(ensemble.log_prob(x, y).numpy(), expected, atol=1e-5)
    torch.manual_seed(0)
    draws = ensemble.sample(x, 8)
    assert draws.shape == (8, 500, 1)
    upper = float((draws > 0).float().mean())
    # Each draw picks a member with probability 1/2: 4000 draws, binomial sd 0.0079.
    assert abs(upper - 0.5) < 4 * np.sqrt(0.25 / draws.numel())
    torch.manual_seed(0)
    assert torch.equal(ensemble.sample(x, 8), draws)


def test_flow_with_members_saves_loads_and_samples_reproducibly(linear_data, tmp_path):
    train, test = linear_data
    model = model_family("flow")(**{**FAST, **SMALL_NETWORKS["flow"], "epochs": 4,
                                    "members": 2}).fit(train, "M_h,radius", "color,sSFR",
                                                       seed=0, progress=False)
    members = model.network.member_log_probs(
        *(torch.as_tensor(a) for a in model._scaled(
            test[["M_h", "radius"]].to_numpy(), test[["color", "sSFR"]].to_numpy())[:2]))
    assert members.shape == (2, len(test))
    assert not torch.allclose(members[0], members[1])  # different initial weights
    loaded = load_model(model.save(tmp_path / "ensemble"))
    np.testing.assert_array_equal(loaded.log_prob(test, test), model.log_prob(test, test))
    np.testing.assert_array_equal(loaded.sample(test, 3, seed=4), model.sample(test, 3, seed=4))


def test_flow_with_a_conditional_affine_layer_is_normalised_and_persists(tmp_path):
    model = make_model("flow", affine=True).fit(bimodal(4000, 4), "M_h", "sSFR", seed=0,
                                                progress=False)
    grid = np.linspace(-20.0, -5.0, 30_001)
    density = np.exp(model.log_prob({"M_h": np.full_like(grid, 12.0)}, {"sSFR": grid}))
    assert integrate.trapezoid(density, grid) == pytest.approx(1.0, abs=2e-3)
    test = bimodal(1000, 5)
    loaded = load_model(model.save(tmp_path / "affine"))
    np.testing.assert_array_equal(loaded.log_prob(test, test), model.log_prob(test, test))
    np.testing.assert_array_equal(loaded.sample(test, 2, seed=1), model.sample(test, 2, seed=1))


def test_gauss_cdf_is_exact_pit_of_its_own_draws(fitted_linear, linear_data):
    """NNgauss' closed-form marginal CDF (used for exact PIT and coverage) makes the
    model's own draws uniform: KS distance within the 0.1% critical value for n rows."""
    model = fitted_linear["gauss"]
    _, test = linear_data
    draws = model.sample(test, 1, seed=3)[0]  # (rows, 2): color, sSFR
    for j, column in enumerate(("color", "sSFR")):
        pit = model.cdf(test, draws[:, j], column)
        assert pit.shape == (len(test),)
        distance = stats.kstest(pit, "uniform").statistic
        assert distance < KS_CRITICAL / np.sqrt(len(test)), (column, distance)
    # increasing in the value, row by row
    low = model.cdf(test, draws[:, 0] - 0.05, "color")
    high = model.cdf(test, draws[:, 0] + 0.05, "color")
    assert np.all(high > low)
    with pytest.raises(ModelError, match="radius"):
        model.cdf(test, draws[:, 0], "radius")
