"""The published flow of Rodrigues et al. 2025 as the ``flow_rodrigues25`` family: its
linear-rational spline (exact inverse and log-Jacobian, identity outside the bound), the
architecture (one fully autoregressive transform, 3 x 219 hidden units, 12 bins, base
N(0, 0.2^2), min-max scaled columns), an exact density in physical units (it integrates
to one, also beyond the training range), training by the shared loop on a small
synthetic catalog where it beats an unconditional baseline, and save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from zuko.flows.autoregressive import MaskedAutoregressiveTransform
from zuko.nn import MaskedLinear

import galhalo
from galhalo.catalog.schema import GALAXY, HALO
from galhalo.errors import ModelError
from galhalo.models import load_model, model_family
from galhalo.models.published_flow import LinearRationalSplineTransform
from galhalo.models.transforms import ColumnScaler, Support

FAMILY = "flow_rodrigues25"
EPOCHS = 5


def _spline(features: int = 3, bins: int = 12, seed: int = 0) -> LinearRationalSplineTransform:
    generator = torch.Generator().manual_seed(seed)
    shapes = (bins, bins, bins - 1, bins)
    return LinearRationalSplineTransform(
        *(2 * torch.randn(features, n, generator=generator, dtype=torch.float64)
          for n in shapes), bound=3.0)


def test_the_spline_inverts_exactly_and_its_log_jacobian_is_the_derivative():
    spline = _spline()
    x = torch.linspace(-4.5, 4.5, 3 * 3001, dtype=torch.float64).reshape(3001, 3)
    y, ladj = spline.call_and_ladj(x)
    assert torch.all(y[1:] > y[:-1])  # monotonic
    assert torch.allclose(spline.inv(y), x, atol=1e-10)
    leaf = x.clone().requires_grad_(True)
    derivative = torch.autograd.grad(spline(leaf).sum(), leaf)[0]
    assert torch.allclose(derivative.log(), ladj, atol=1e-9)
    outside = x.abs() > 3.0  # the identity beyond the bound: density defined everywhere
    assert torch.equal(y[outside], x[outside]) and torch.all(ladj[outside] == 0)
    # continuous in value and slope at the knots
    knots = spline.horizontal.T
    for side in (-1e-9, 1e-9):
        value = spline.call_and_ladj(knots + side)[0]
        assert torch.allclose(value, spline.vertical.T, atol=1e-7)
    left, right = (spline.call_and_ladj(knots + side)[1] for side in (-1e-9, 1e-9))
    assert torch.allclose(left, right, atol=1e-6)


@pytest.fixture(scope="module")
def split():
    catalog = galhalo.simulate(20000, 100.0, 1)
    rows = np.arange(len(catalog))
    return catalog.select(rows % 5 != 0), catalog.select(rows % 5 == 0)


@pytest.fixture(scope="module")
def trained(split):
    train, _ = split
    return model_family(FAMILY)(epochs=EPOCHS).fit(train, HALO, GALAXY, seed=0,
                                                   progress=False)


def test_the_architecture_is_the_published_one(trained, split):
    flow = trained.network
    transforms = list(flow.transform.transforms)
    assert len(transforms) == 1 and isinstance(transforms[0], MaskedAutoregressiveTransform)
    made = transforms[0]
    assert made.passes == len(GALAXY)  # fully autoregressive, not coupling
    linear = [layer for layer in made.hyper if isinstance(layer, MaskedLinear)]
    assert [layer.out_features for layer in linear[:-1]] == [219, 219, 219]
    assert all(isinstance(layer, torch.nn.ReLU) for layer in list(made.hyper)[1::2])
    assert made.univariate.func is LinearRationalSplineTransform
    assert made.univariate.keywords == {"bound": 3.0}
    assert [tuple(s) for s in made.shapes] == [(12,), (12,), (11,), (12,)]
    base = flow.base()
    assert torch.allclose(base.base_dist.scale, torch.full((4,), 0.2))
    assert torch.allclose(base.base_dist.loc, torch.zeros(4))
    # min-max scaling of the columns as given: the rows the scalers were fitted on (80%
    # of the training table) span [-1, 1], the rest of the table lies close to it
    train = split[0].table
    for scaler, names in ((trained.condition_scaler, HALO), (trained.target_scaler, GALAXY)):
        assert scaler.scaling == "minmax"
        assert all(s.kind == "identity" for s in scaler.supports)
        z = scaler.forward(train[list(names)].to_numpy())[0]
        assert np.all(z.min(axis=0) <= -1 + 1e-9) and np.all(z.max(axis=0) >= 1 - 1e-9)
        assert np.all(np.abs(z) < 1.5)


def test_the_minmax_scaler_maps_the_fit_rows_onto_minus_one_to_one():
    values = np.random.default_rng(2).lognormal(size=(500, 2))
    scaler = ColumnScaler.fit(("C_h", "smass"), values, [Support("log", 0.0), Support()],
                              scaling="minmax")
    z, log_jacobian, _ = scaler.forward(values)
    assert np.allclose(z.min(axis=0), -1) and np.allclose(z.max(axis=0), 1)
    # the Jacobian of x -> z: 1 / (x scale_0) for the log column, 1 / scale_1
    expected = -np.log(values[:, 0]) - np.log(scaler.scale).sum()
    assert np.allclose(log_jacobian, expected)
    assert ColumnScaler.from_dict(scaler.to_dict()).scaling == "minmax"
    with pytest.raises(ModelError, match="scaling"):
        ColumnScaler.fit(("smass",), values[:, :1], [Support()], scaling="robust")


def test_it_beats_an_unconditional_baseline(trained, split):
    """The same family trained on halos shuffled across galaxies (so the conditions
    carry no information: it can learn only p(galaxy)) is the unconditional baseline."""
    train, test = split
    shuffled = train.table.copy()
    order = np.random.default_rng(0).permutation(len(shuffled))
    shuffled[list(HALO)] = shuffled[list(HALO)].to_numpy()[order]
    baseline = model_family(FAMILY)(epochs=EPOCHS).fit(shuffled, HALO, GALAXY, seed=0,
                                                       progress=False)
    conditional = trained.log_prob(test.table, test.table)
    unconditional = baseline.log_prob(test.table, test.table)
    difference = conditional - unconditional
    assert np.isfinite(difference).all()
    error = difference.std(ddof=1) / np.sqrt(len(difference))
    # the halo predicts stellar mass to ~0.2 dex: the gain is of order a nat per galaxy
    assert difference.mean() > 0.5 and difference.mean() > 10 * error


def test_save_load_gives_identical_log_prob_and_draws(trained, split, tmp_path):
    _, test = split
    trained.save(tmp_path / "published")
    loaded = load_model(tmp_path / "published")
    assert type(loaded) is type(trained) and loaded.family == FAMILY
    assert loaded.target_scaler.scaling == "minmax"
    rows = test.table.iloc[:500]
    assert np.array_equal(loaded.log_prob(rows, rows), trained.log_prob(rows, rows))
    assert np.array_equal(loaded.sample(rows, 2, seed=4), trained.sample(rows, 2, seed=4))


def test_the_density_integrates_to_one_in_physical_units_beyond_the_training_range(split):
    """p(smass | M_h) of a one-target model, integrated over stellar mass on a fine grid,
    is 1: the min-max scaler's Jacobian is included; the halo of the last panel lies
    outside the training range of M_h (min-max scaled beyond 1)."""
    train, _ = split
    model = model_family(FAMILY)(epochs=2, hidden=(32, 32, 32)).fit(
        train, ("M_h",), ("smass",), seed=0, progress=False)
    top = float(train.table["M_h"].max())
    grid = np.linspace(0.0, 20.0, 40001)
    for halo in (11.0, 12.5, top + 0.3):
        density = np.exp(model.log_prob({"M_h": np.full(len(grid), halo)},
                                        {"smass": grid}))
        assert np.isfinite(density).all()
        assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=2e-3)


@pytest.mark.parametrize(("setting", "message"), [
    ({"scaling": "robust"}, "scaling"), ({"supports": "some"}, "supports"),
    ({"base_scale": 0.0}, "base_scale")])
def test_bad_settings_are_refused(split, setting, message):
    with pytest.raises(ModelError, match=message):
        model_family(FAMILY)(epochs=1, **setting).fit(split[0], HALO, GALAXY,
                                                      progress=False)
