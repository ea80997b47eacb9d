"""Declared one-sided bounds of target columns (the ``bounds`` hyperparameter of the neural
families): the upper-bound softplus support (exact inverse and log-Jacobian), the
parsing of ``bounds`` with one-line ModelErrors, a fitted flow whose density is zero
beyond the bounds and still integrates to one (1-D quadrature), draws inside the
bounds, save/load, and the saved form of models without bounds left as it was."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from galhalo.errors import GalhaloError, ModelError
from galhalo.models import load_model, model_family
from galhalo.models.transforms import BOUND_WIDTH, ColumnScaler, Support, declared_supports

FLOOR, CEILING = -15.0, 1.2
#: One flow, not the default ensemble of two: an ensemble member trained this briefly can
#: put mass within 1e-12 of the floor, closer than a float64 quadrature grid resolves.
SMALL = {"epochs": 12, "hidden": (16, 16), "transforms": 2, "bins": 6, "members": 1}


@pytest.mark.parametrize("support", [Support("softplus", upper=CEILING, width=0.05),
                                     Support("log", upper=CEILING),
                                     Support("softplus", FLOOR, 0.3)])
def test_a_bounded_support_inverts_and_its_log_jacobian_is_the_derivative(support):
    bound = support.lower if support.upper is None else support.upper
    side = 1.0 if support.upper is None else -1.0
    x = bound + side * np.geomspace(1e-4, 3.0, 400)
    u, log_du = support.forward(x)
    assert np.all(np.diff(u) * np.diff(x) > 0)  # increasing in x on both sides
    np.testing.assert_allclose(support.inverse(u), x, rtol=0, atol=1e-9)
    step = 1e-7
    numeric = (support.forward(x + step)[0] - support.forward(x - step)[0]) / (2 * step)
    np.testing.assert_allclose(log_du, np.log(numeric), atol=1e-5)
    assert support.inside(x).all()
    assert not support.inside(np.array([bound, bound - side * 0.1])).any()


def test_declared_supports_reads_one_sided_bounds_with_an_optional_width():
    supports = declared_supports({"sSFR": [FLOOR, None], "color": (None, CEILING, 0.05)})
    assert supports == {"sSFR": Support("softplus", FLOOR, BOUND_WIDTH),
                        "color": Support("softplus", None, 0.05, CEILING)}
    assert declared_supports(None) == {}


@pytest.mark.parametrize(("bounds", "message"), [
    ([FLOOR, None], "bounds must map column names"),
    ({"sSFR": FLOOR}, "bounds of 'sSFR' must be"),
    ({"sSFR": [FLOOR, -9.0]}, "exactly one of lower and upper"),
    ({"sSFR": [None, None]}, "exactly one of lower and upper"),
    ({"sSFR": ["low", None]}, "finite numbers or null"),
    ({"sSFR": [float("nan"), None]}, "finite numbers or null"),
    ({"sSFR": [FLOOR, None, 0.0]}, "the width must be > 0"),
])
def test_bad_bounds_are_one_line_model_errors(bounds, message):
    with pytest.raises(ModelError, match=message) as caught:
        model_family("flow")(bounds=bounds)
    assert isinstance(caught.value, GalhaloError) and "\n" not in str(caught.value)


def _table(rows: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Halo mass, a floored sSFR piled up just above FLOOR for half the rows, and a
    colour saturating under CEILING."""
    rng = np.random.default_rng(seed)
    mass = rng.uniform(11.0, 13.0, rows)
    dead = rng.random(rows) < 0.5
    latent = np.where(dead, FLOOR + 0.2 * rng.standard_normal(rows),
                      -10.0 - 0.3 * (mass - 12) + 0.3 * rng.standard_normal(rows))
    ssfr = FLOOR + 0.25 * np.logaddexp(0.0, (latent - FLOOR) / 0.25)
    color = CEILING - 0.05 * np.logaddexp(0.0, (CEILING - 1.1 - 0.1 * rng.standard_normal(
        rows) + 0.3 * (~dead)) / 0.05)
    return pd.DataFrame({"M_h": mass, "sSFR": ssfr, "color": color})


@pytest.fixture(scope="module")
def fitted():
    model = model_family("flow")(bounds={"sSFR": [FLOOR, None]}, **SMALL)
    model.fit(_table(), "M_h", "sSFR", seed=0, progress=False)
    return model


def test_a_bounded_flow_integrates_to_one_and_is_zero_beyond_the_bound(fitted):
    # quadrature on a grid dense near the floor, where the density piles up
    x = FLOOR + np.concatenate([np.geomspace(1e-9, 0.5, 40_000)[:-1],
                                np.linspace(0.5, 12.0, 40_000)])
    for mass in (11.2, 12.8):
        frame = pd.DataFrame({"M_h": np.full(len(x), mass), "sSFR": x})
        density = np.exp(fitted.log_prob(frame, frame))
        total = np.sum(0.5 * (density[1:] + density[:-1]) * np.diff(x))
        assert abs(total - 1.0) < 2e-3, (mass, total)
    beyond = pd.DataFrame({"M_h": [12.0, 12.0], "sSFR": [FLOOR, FLOOR - 0.5]})
    assert np.all(fitted.log_prob(beyond, beyond) == -np.inf)
    draws = fitted.sample(pd.DataFrame({"M_h": np.full(500, 12.0)}), seed=1)
    assert np.all(np.asarray(draws) > FLOOR)


def test_a_bounded_flow_is_saved_and_loaded(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["hyperparameters"]["bounds"] == {"sSFR": [FLOOR, None]}
    assert config["target_scaler"]["supports"] == [
        {"kind": "softplus", "lower": FLOOR, "width": BOUND_WIDTH}]
    loaded = load_model(tmp_path / "m")
    frame = _table(50, seed=3)
    np.testing.assert_array_equal(loaded.log_prob(frame, frame),
                                  fitted.log_prob(frame, frame))


def test_an_upper_bound_on_one_of_two_targets(tmp_path):
    # edges="none": the sSFR of _table piles up against its floor, which the default
    # would find (tests/test_edges.py); here only the declared bound is meant
    model = model_family("flow")(bounds={"color": [None, CEILING, 0.05]}, edges="none",
                                 **SMALL)
    model.fit(_table(), "M_h", "color,sSFR", seed=0, progress=False)
    supports = model.target_scaler.supports
    assert supports[0] == Support("softplus", None, 0.05, CEILING) and supports[1] == Support()
    frame = pd.DataFrame({"M_h": [12.0, 12.0], "color": [CEILING, 1.1], "sSFR": [-10.0] * 2})
    log_p = model.log_prob(frame, frame)
    assert log_p[0] == -np.inf and np.isfinite(log_p[1])
    draws = np.asarray(model.sample(pd.DataFrame({"M_h": np.full(500, 12.5)}), seed=2))
    assert np.all(draws[..., 0] < CEILING)
    model.save(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "config.json").read_text())["target_scaler"]
    assert saved["supports"][0] == {"kind": "softplus", "lower": None, "width": 0.05,
                                    "upper": CEILING}
    assert ColumnScaler.from_dict(saved).supports == supports


@pytest.mark.parametrize(("bounds", "message"), [
    ({"sSFR": [-12.0, None]}, "training rows are at or below the softplus support bound"),
    ({"color": [None, 1.0]}, "training rows are at or above the softplus support bound"),
    ({"radius": [0.0, None]}, r"bounds name \['radius'\], which are not targets"),
])
def test_training_rows_beyond_a_bound_or_an_unknown_column_are_model_errors(bounds, message):
    model = model_family("flow")(bounds=bounds, **SMALL)
    with pytest.raises(ModelError, match=message):
        model.fit(_table(200), "M_h", "color,sSFR", seed=0, progress=False)


def test_without_bounds_supports_are_saved_as_before():
    scaler = ColumnScaler.fit(("smass", "M_h"), np.array([[9.0, 11.0], [10.0, 12.5]]),
                              [Support("softplus", 8.75, 0.2), Support()])
    assert scaler.to_dict()["supports"] == [
        {"kind": "softplus", "lower": 8.75, "width": 0.2},
        {"kind": "identity", "lower": None, "width": 1.0}]
