"""The flow family's network shape: the default (one fully autoregressive transform of
3 x 219 units, 12 bins, behind the conditional affine front) and the shape it replaced
(``PREVIOUS_DEFAULT_SHAPE``: four coupling transforms of 2 x 128 units, 8 bins)."""

from __future__ import annotations

import pytest
import torch
from zuko.flows.autoregressive import MaskedAutoregressiveTransform
from zuko.nn import MaskedLinear

from galhalo.models import model_family
from galhalo.models.flow import PREVIOUS_DEFAULT_SHAPE

N_CONDITION, N_TARGET = 5, 4


def _splines(network: torch.nn.Module) -> list[MaskedAutoregressiveTransform]:
    """The spline transforms of a built flow, the affine front (first) left out."""
    transforms = [t for t in network.transform.transforms
                  if isinstance(t, MaskedAutoregressiveTransform)]
    return transforms[1:]


def _widths(transform: MaskedAutoregressiveTransform) -> list[int]:
    linear = [layer for layer in transform.hyper if isinstance(layer, MaskedLinear)]
    return [layer.out_features for layer in linear[:-1]]


@pytest.mark.parametrize(("settings", "transforms", "passes", "widths", "bins"), [
    ({}, 1, N_TARGET, [219, 219, 219], 12),
    (PREVIOUS_DEFAULT_SHAPE, 4, 2, [128, 128], 8),
])
def test_the_network_has_the_declared_shape(settings, transforms, passes, widths, bins):
    model = model_family("flow")(**settings)
    network = model.build(N_CONDITION, N_TARGET)
    front = network.transform.transforms[0]
    assert isinstance(front, MaskedAutoregressiveTransform) and front.passes == 1
    splines = _splines(network)
    assert len(splines) == transforms
    for spline in splines:
        assert spline.passes == passes  # N_TARGET: fully autoregressive; 2: coupling
        assert _widths(spline) == widths
        # a rational-quadratic spline of K bins has K widths, K heights, K - 1 slopes
        assert [tuple(s) for s in spline.shapes] == [(bins,), (bins,), (bins - 1,)]


def test_the_previous_shape_differs_from_the_defaults_in_every_key():
    defaults = model_family("flow")().hyperparameters
    for key, value in PREVIOUS_DEFAULT_SHAPE.items():
        assert defaults[key] != value, key
