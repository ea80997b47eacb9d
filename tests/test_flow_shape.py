"""The flow family's network shape: the default (a deep ensemble of two flows of two fully
autoregressive transforms of 3 x 219 units, 12 bins, behind a conditional affine front of
2 x 64 units) and the shapes it replaced (``SINGLE_FLOW_SHAPE``: one flow of one
transform; ``PREVIOUS_DEFAULT_SHAPE``: four coupling transforms of 2 x 128 units, 8
bins)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from zuko.flows.autoregressive import MaskedAutoregressiveTransform
from zuko.nn import MaskedLinear

from galhalo.models import ModelError, load_model, model_family
from galhalo.models.flow import PREVIOUS_DEFAULT_SHAPE, SINGLE_FLOW_SHAPE, FlowEnsemble

N_CONDITION, N_TARGET = 5, 4


def _flows(network: torch.nn.Module) -> list[torch.nn.Module]:
    """The member flows of a built network (one unless it is an ensemble)."""
    return list(network.members) if isinstance(network, FlowEnsemble) else [network]


def _widths(transform: MaskedAutoregressiveTransform) -> list[int]:
    linear = [layer for layer in transform.hyper if isinstance(layer, MaskedLinear)]
    return [layer.out_features for layer in linear[:-1]]


@pytest.mark.parametrize(
    ("settings", "members", "transforms", "passes", "widths", "front", "bins"), [
        ({}, 2, 2, N_TARGET, [219, 219, 219], [64, 64], 12),
        (SINGLE_FLOW_SHAPE, 1, 1, N_TARGET, [219, 219, 219], [219, 219, 219], 12),
        (PREVIOUS_DEFAULT_SHAPE, 1, 4, 2, [128, 128], [128, 128], 8),
    ])
def test_the_network_has_the_declared_shape(settings, members, transforms, passes, widths,
                                            front, bins):
    network = model_family("flow")(**settings).build(N_CONDITION, N_TARGET)
    flows = _flows(network)
    assert len(flows) == members
    assert getattr(network, "gate", None) is None  # equal weights: a deep ensemble
    for flow in flows:
        first, *splines = flow.transform.transforms
        assert isinstance(first, MaskedAutoregressiveTransform) and first.passes == 1
        assert _widths(first) == front
        assert len(splines) == transforms
        for spline in splines:
            assert spline.passes == passes  # N_TARGET: fully autoregressive; 2: coupling
            assert _widths(spline) == widths
            # a rational-quadratic spline of K bins has K widths, K heights, K - 1 slopes
            assert [tuple(s) for s in spline.shapes] == [(bins,), (bins,), (bins - 1,)]


@pytest.mark.parametrize("shape", [PREVIOUS_DEFAULT_SHAPE, SINGLE_FLOW_SHAPE])
def test_the_earlier_shapes_differ_from_the_defaults_in_every_key(shape):
    defaults = model_family("flow")().hyperparameters
    for key, value in shape.items():
        assert defaults[key] != value, key


def test_experts_replace_the_default_ensemble_and_refuse_an_explicit_one():
    network = model_family("flow")(experts=3).build(N_CONDITION, N_TARGET)
    assert network.gate is not None and len(network.members) == 3
    with pytest.raises(ModelError, match="experts"):
        model_family("flow")(experts=3, members=2).build(N_CONDITION, N_TARGET)


@pytest.mark.parametrize("widths", [(), (0, 8), (8.5,), "wide", ("8",)])
def test_bad_affine_widths_are_refused(widths):
    with pytest.raises(ModelError, match="affine_hidden"):
        model_family("flow")(affine_hidden=widths).build(N_CONDITION, N_TARGET)


def test_a_model_saved_before_affine_hidden_existed_loads_with_its_shape(tmp_path):
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"M_h": rng.uniform(11, 14, 400), "smass": rng.normal(10, 0.3, 400)})
    model = model_family("flow")(epochs=1, hidden=(8, 8), members=1, affine_hidden=None)
    model.fit(table, "M_h", "smass", seed=0, progress=False)
    model.save(tmp_path / "old")
    config_path = tmp_path / "old" / "config.json"
    config = json.loads(config_path.read_text())
    del config["hyperparameters"]["affine_hidden"]  # as written before the key existed
    config_path.write_text(json.dumps(config))
    loaded = load_model(tmp_path / "old")
    assert loaded.hyperparameters["affine_hidden"] is None
    np.testing.assert_array_equal(loaded.log_prob(table, table), model.log_prob(table, table))
