"""NNclass: a proper density (integrates to one, close to the truth), samples that keep
the in-class variance, level selection, singleton classes, persistence, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import integrate, stats
from test_models import bimodal

from galhalo.models import ModelError, load_model, model_family
from galhalo.models.base import FAMILIES
from galhalo.models.classifier import ClassifierModel, class_components

FAST = {"epochs": 60, "batch_size": 256, "patience": 10, "learning_rate": 3e-3,
        "hidden": (64, 64)}


def true_log_prob(table: pd.DataFrame) -> np.ndarray:
    """The exact density of ``test_models.bimodal``."""
    weight = 1 / (1 + np.exp(-(table["M_h"] - 12.0) / 0.3))
    return np.log(weight * stats.norm.pdf(table["sSFR"], -12.0, 0.6)
                  + (1 - weight) * stats.norm.pdf(table["sSFR"], -10.0, 0.25))


def two_targets(n: int, seed: int) -> pd.DataFrame:
    """(color, sSFR) given M_h: the bimodal sSFR and a colour that follows it."""
    table = bimodal(n, seed)
    rng = np.random.default_rng(seed + 100)
    table["color"] = 0.7 - 0.3 * (table["sSFR"] + 10.0) + rng.normal(0, 0.05, n)
    return table


@pytest.fixture(scope="module")
def fitted():
    return ClassifierModel(**FAST, classes=40).fit(bimodal(8000, 2), "M_h", "sSFR",
                                                   progress=False)


def test_registered_under_its_family_name():
    assert model_family("nnclass") is ClassifierModel
    assert FAMILIES["nnclass"] is ClassifierModel


def test_log_prob_integrates_to_one(fitted):
    # narrowest class sd: the grid step below is < 1/10 of it, where the trapezoid rule
    # on Gaussians is exact to far below the tolerance
    sd = np.sqrt(fitted.covariances[:, 0, 0].min()) * fitted.target_scaler.scale[0]
    grid = np.linspace(-20.0, -5.0, 30_001)
    assert grid[1] - grid[0] < sd / 10
    for mass in (11.3, 12.0, 12.8):
        density = np.exp(fitted.log_prob({"M_h": np.full_like(grid, mass)}, {"sSFR": grid}))
        assert integrate.trapezoid(density, grid) == pytest.approx(1.0, abs=2e-3)


def test_log_prob_integrates_to_one_in_two_dimensions():
    model = ClassifierModel(**FAST, classes=12).fit(two_targets(4000, 4), "M_h",
                                                    "color,sSFR", progress=False)
    sd = np.sqrt(np.diagonal(model.covariances, axis1=1, axis2=2).min(axis=0))
    sd_physical = sd * model.target_scaler.scale
    colour = np.arange(-1.0, 2.6, sd_physical[0] / 3)
    ssfr = np.arange(-16.0, -6.0, sd_physical[1] / 3)
    cc, ss = np.meshgrid(colour, ssfr, indexing="ij")
    density = np.exp(model.log_prob({"M_h": np.full(cc.size, 12.0)},
                                    {"color": cc.ravel(), "sSFR": ss.ravel()}))
    total = integrate.trapezoid(integrate.trapezoid(density.reshape(cc.shape), ssfr, axis=1),
                                colour)
    assert total == pytest.approx(1.0, abs=5e-3)


def test_held_out_likelihood_is_close_to_the_truth(fitted):
    """Mean log-density ratio truth / model (a KL estimate) below 0.1 nats, with 5
    standard errors of the mean on top: 40 Gaussian classes approximate the mixture."""
    test = bimodal(4000, 3)
    ratio = true_log_prob(test) - fitted.log_prob(test, test)
    assert ratio.mean() < 0.1 + 5 * ratio.std() / np.sqrt(len(ratio))


def test_early_stopping_follows_the_held_out_mixture_nll(fitted):
    """Pins issue 17: the validation history, the schedule and the restored best epoch
    follow the validation rows' mixture NLL in physical units (what the model is scored
    on), not a cross-entropy against their nearest generators. The restored network's
    NLL on the validation rows (``valid_nll``, computed afresh after the fit) equals the
    smallest recorded ``valid`` (float32 sums: 1e-4 relative) and sits at ``best_epoch``.
    The old history held cross-entropies over 40 classes (~2-3 nats, not ~1)."""
    valid = np.array([h["valid"] for h in fitted.history])
    best = int(np.argmin(valid))
    assert fitted.metrics["best_epoch"] == best + 1
    assert fitted.metrics["valid_mixture_nll"] == pytest.approx(valid[best], rel=1e-6)
    assert fitted.metrics["valid_nll"] == pytest.approx(valid[best], rel=1e-4, abs=1e-4)
    assert "valid_cross_entropy" not in fitted.metrics


def test_validation_rows_are_scored_by_the_mixture_and_training_rows_by_class(fitted):
    """The training loss scores a row by the cross-entropy of its class and the
    validation loss by its mixture NLL, -log_prob in physical units: both row by row."""
    test = bimodal(300, 12)
    x, z, log_jacobian, _ = fitted._scaled(test[["M_h"]].to_numpy(), test[["sSFR"]].to_numpy())
    x = torch.as_tensor(x)
    classes = fitted.hierarchy.assign(test[["sSFR"]].to_numpy(), fitted.level)
    labels = torch.as_tensor(classes[:, None], dtype=torch.float32)
    rows = torch.as_tensor(np.column_stack([z, log_jacobian]), dtype=torch.float32)
    with torch.no_grad():
        training = fitted._cross_entropy(x, labels).numpy()
        validation = fitted._mixture_nll(x, rows).numpy()
        cross_entropy = torch.nn.functional.cross_entropy(
            fitted.network(x), torch.as_tensor(classes), reduction="none").numpy()
    np.testing.assert_allclose(training, cross_entropy, rtol=1e-5)
    np.testing.assert_allclose(validation, -fitted.log_prob(test, test), rtol=1e-4,
                               atol=1e-4)


class _OneClass(torch.nn.Module):
    """A stand-in network that puts all probability on one class."""

    def __init__(self, n_classes: int, chosen: int):
        super().__init__()
        self.logits = torch.full((n_classes,), -1e4)
        self.logits[chosen] = 0.0

    def forward(self, x):
        return self.logits.expand(len(x), -1)


def test_samples_keep_the_in_class_variance(fitted):
    """Draws from one class have its members' variance, not twice it (the published
    sampler). The variance of n draws has relative sd sqrt(2 / n): tolerance 5 x that,
    plus the cell's share of the class covariance, ~ prior_weight / members."""
    level = fitted.level
    labels = fitted.hierarchy.labels[level]
    k = int(np.argmax(fitted.hierarchy.occupancy[level]))
    members = fitted.hierarchy.dispersion[level][k, 0] ** 2   # physical variance
    count = fitted.hierarchy.occupancy[level][k]
    assert count == np.sum(labels == k) and count > 100
    network, fitted.network = fitted.network, _OneClass(fitted.n_classes, k)
    try:
        n = 20_000
        draws = fitted.sample({"M_h": [12.0]}, n, seed=3)[:, 0, 0]
    finally:
        fitted.network = network
    tolerance = 5 * np.sqrt(2 / n) + 1.0 / count
    assert draws.var() / members == pytest.approx(1.0, abs=tolerance)


def test_marginal_variance_of_samples_matches_the_data():
    """With a condition that carries no information and two coarse classes, the sample
    variance equals the data's: between-class + within-class. A sampler that doubled the
    within-class part (here ~1/4 of the total) would be ~25 % too wide."""
    rng = np.random.default_rng(8)
    n = 6000
    table = pd.DataFrame({"M_h": rng.normal(12, 0.5, n), "radius": rng.uniform(0.2, 1.0, n)})
    model = ClassifierModel(**FAST, classes=2).fit(table, "M_h", "radius", progress=False)
    assert model.n_classes == 2
    draws = model.sample(table.iloc[:4000], 5, seed=1)[..., 0].ravel()
    # sd of a variance ratio from 20000 draws and 6000 data rows: sqrt(2/20000 + 2/6000)
    tolerance = 5 * np.sqrt(2 / draws.size + 2 / n) + 0.02  # + classifier imperfection
    assert draws.var() / table["radius"].var() == pytest.approx(1.0, abs=tolerance)


def test_level_selection():
    table = bimodal(3000, 5)
    quick = {**FAST, "epochs": 2}
    by_level = ClassifierModel(**quick, level=6).fit(table, "M_h", "sSFR",
                                                              progress=False)
    hierarchy = by_level.hierarchy
    assert by_level.level == 6 and by_level.n_classes == hierarchy.counts[6]
    by_count = ClassifierModel(**quick, classes=100).fit(table, "M_h", "sSFR",
                                                                  progress=False)
    counts = np.array(by_count.hierarchy.counts)
    assert by_count.level == int(np.argmin(np.abs(counts - 100)))
    by_pcc = ClassifierModel(**quick, pcc_threshold=0.97).fit(
        table, "M_h", "sSFR", progress=False)
    pcc = by_pcc.hierarchy.oracle_pcc[:, 0]
    assert pcc[by_pcc.level] >= 0.97 and np.all(pcc[by_pcc.level + 1:] < 0.97)
    per_target = ClassifierModel(**quick, pcc_threshold={"sSFR": 0.97}).fit(
        table, "M_h", "sSFR", progress=False)
    assert per_target.level == by_pcc.level


def test_singletons_get_their_cell_and_large_classes_their_members():
    """A singleton's covariance is its cell's prior; a class of n members gets its
    scatter plus w times the prior over n - 1 + w."""
    rng = np.random.default_rng(1)
    z = np.vstack([[[3.0, -1.0]], rng.normal(size=(999, 2)) @ [[1.0, 0.5], [0.0, 0.8]]])
    labels = np.r_[0, np.ones(999, dtype=int)]
    prior = np.array([[0.04, 0.09], [0.01, 0.01]])
    means, covariances = class_components(z, labels, 2, prior, prior_weight=1.0)
    np.testing.assert_allclose(means[0], [3.0, -1.0])
    np.testing.assert_allclose(covariances[0], np.diag([0.04, 0.09]))
    members = np.cov(z[1:].T, bias=True)
    expected = (999 * members + np.diag([0.01, 0.01])) / 999
    np.testing.assert_allclose(covariances[1], expected)
    with pytest.raises(ModelError, match="no training member"):
        class_components(z, labels, 3, np.ones((3, 2)), 1.0)


def test_save_then_load_gives_identical_log_prob_and_samples(fitted, tmp_path):
    test = bimodal(500, 7)
    directory = fitted.save(tmp_path / "model")
    loaded = load_model(directory)
    assert type(loaded) is ClassifierModel and loaded.level == fitted.level
    np.testing.assert_array_equal(loaded.log_prob(test, test), fitted.log_prob(test, test))
    np.testing.assert_array_equal(loaded.sample(test, 3, seed=4), fitted.sample(test, 3, seed=4))
    assert loaded.hierarchy.counts == fitted.hierarchy.counts
    config = json.loads((directory / "config.json").read_text())
    assert config["family"] == "nnclass"
    assert config["hyperparameters"]["classes"] == fitted.n_classes
    assert json.loads((directory / "hival" / "config.json").read_text())["family"] \
        == "hival_hierarchy"
    with np.load(directory / "arrays.npz", allow_pickle=False) as data:
        assert data["classes.means"].shape == (fitted.n_classes, 1)
    (directory / "arrays.npz").write_bytes(b"not an npz")
    with pytest.raises(ModelError, match=r"arrays\.npz: checksum differs"):
        load_model(directory)
    # the layout before the model store: tests/test_model_store_families.py


def test_bad_input_fails_clearly():
    table = bimodal(500, 9)
    with pytest.raises(ModelError, match="level 40 does not exist"):
        ClassifierModel(**{**FAST, "epochs": 1}, level=40).fit(table, "M_h", "sSFR", progress=False)
    with pytest.raises(ModelError, match="classes must be an integer"):
        ClassifierModel(classes=2.5)
    with pytest.raises(ModelError, match="prior_weight must be > 0"):
        ClassifierModel(prior_weight=0)
    with pytest.raises(ModelError, match="unknown nnclass hyperparameters"):
        ClassifierModel(depth=3)
    broken = table.copy()
    broken.loc[4, "sSFR"] = np.inf
    with pytest.raises(ModelError, match="'sSFR': 1 of 500 rows are NaN or inf"):
        ClassifierModel(**FAST).fit(broken, "M_h", "sSFR", progress=False)
    # two distinct (color, sSFR) points cannot be tessellated in 2-D
    few = pd.DataFrame({"M_h": np.arange(10.0), "color": np.tile([0.5, 0.9], 5),
                        "sSFR": np.tile([-10.0, -11.0], 5)})
    with pytest.raises(ModelError, match="at least D \\+ 1 = 3 distinct points"):
        ClassifierModel(**FAST).fit(few, "M_h", "color,sSFR", valid=few, progress=False)
    with pytest.raises(ModelError, match="only after fit"):
        ClassifierModel().build(1, 1)


def test_discrete_target_gets_probabilities_on_its_grid():
    """A target stored on a grid (here radius in steps of 0.05 dex) is dequantised as for
    every family: the probabilities of the grid values sum to one (8-point lattice rule
    over each cell; tolerance for the mass beyond the outermost cells) and draws are on
    the grid."""
    rng = np.random.default_rng(11)
    n = 4000
    mass = rng.uniform(11.0, 13.0, n)
    radius = np.round((0.3 + 0.2 * (mass - 11.0) + rng.normal(0, 0.1, n)) / 0.05) * 0.05
    table = pd.DataFrame({"M_h": mass, "radius": radius})
    model = ClassifierModel(**FAST, classes=10).fit(table, "M_h", "radius", progress=False)
    grid = model.target_scaler.grids[0]
    assert grid is not None and len(grid) == len(np.unique(radius))
    for halo in (11.5, 12.5):
        mass_function = np.exp(model.log_prob({"M_h": np.full(len(grid), halo)},
                                              {"radius": grid}))
        assert mass_function.sum() == pytest.approx(1.0, abs=1e-2)
    draws = model.sample({"M_h": [12.0]}, 500, seed=2)[:, 0, 0]
    assert np.all(np.isin(np.round(draws, 9), np.round(grid, 9)))
