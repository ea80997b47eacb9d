"""The lattice rule that turns a model's density into probabilities of discrete targets.

Pins the fix of issue 17, section 3: the old rule (8 points, generator 3) gave the 1st
and 3rd discrete columns identical coordinates (3^2 = 1 mod 8), so with three or more
discrete targets the integral over a grid cell was taken along a diagonal. The rule is
now full rank for any number of columns, and the probability ``ScaledModel.log_prob``
gives a cell matches the exact integral within the rule's worst-case error.
"""

from __future__ import annotations

import numpy as np
import pytest

from galhalo.models.base import ScaledModel, lattice_rule, worst_case_error
from galhalo.models.transforms import ColumnScaler, Support


def old_rule(dimensions: int) -> np.ndarray:
    """The former rule, for comparison: 8 points, coordinates ((k 3^i mod 8) + 1/2) / 8."""
    k = np.arange(8)[:, None]
    return ((k * 3 ** np.arange(dimensions)) % 8 + 0.5) / 8


@pytest.mark.parametrize("dimensions", range(1, 7))
def test_coordinate_columns_are_distinct_and_affinely_independent(dimensions):
    rule = lattice_rule(dimensions)
    assert rule.shape[1] == dimensions and len(rule) >= dimensions + 1
    assert np.all((rule > 0) & (rule < 1))
    # Every column is the midpoint rule of its own (exact 1-D projections).
    n = len(rule)
    for column in rule.T:
        np.testing.assert_allclose(np.sort(column), (np.arange(n) + 0.5) / n)
    # Affine independence: [1, columns] has full column rank (well conditioned).
    design = np.column_stack([np.ones(n), rule])
    assert np.linalg.matrix_rank(design) == dimensions + 1
    centred = rule - rule.mean(axis=0)
    centred /= np.linalg.norm(centred, axis=0)
    assert np.linalg.svd(centred, compute_uv=False).min() >= 0.5
    for i in range(dimensions):
        for j in range(i):
            assert not np.allclose(rule[:, i], rule[:, j])
            assert not np.allclose(rule[:, i], 1 - rule[:, j])


def test_the_old_rule_was_degenerate_and_the_new_one_integrates_better():
    """The old rule is not full rank at 3 columns; the new one has a smaller worst-case
    error than the old one from 2 columns on."""
    old = old_rule(3)
    assert np.array_equal(old[:, 0], old[:, 2])
    for dimensions in range(2, 7):
        assert worst_case_error(lattice_rule(dimensions)) < worst_case_error(
            old_rule(dimensions))


class ProductDensity(ScaledModel):
    """p(y) = prod_j exp(slope_j y_j) (unnormalised; no condition dependence): a
    density whose integral over any box is known exactly."""

    family = "product_density_for_tests"

    def __init__(self, slopes: np.ndarray, grids: list[np.ndarray]):
        super().__init__()
        self.slopes = np.asarray(slopes, dtype=float)
        self.condition = ("M_h",)
        self.target = tuple(f"y{j}" for j in range(len(slopes)))
        d = len(slopes)
        self.condition_scaler = ColumnScaler(self.condition, [Support()], np.zeros(1),
                                             np.ones(1))
        self.target_scaler = ColumnScaler(self.target, [Support()] * d, np.zeros(d),
                                          np.ones(d), grids)

    def _continuous_log_prob(self, x, y):
        return y @ self.slopes

    def fit(self, *args, **kwargs):
        raise NotImplementedError

    def sample(self, *args, **kwargs):
        raise NotImplementedError

    def predict(self, *args, **kwargs):
        raise NotImplementedError

    def save(self, *args, **kwargs):
        raise NotImplementedError

    @classmethod
    def load(cls, *args, **kwargs):
        raise NotImplementedError


@pytest.mark.parametrize("dimensions", range(1, 7))
def test_cell_probabilities_match_the_exact_integral_within_the_rule_error(dimensions):
    """|lattice - exact| <= worst_case_error * ||f|| with ||f||^2 = prod_j ((int f_j)^2 +
    int f_j'^2) over the unit cell (Cauchy-Schwarz in the rule's Sobolev space); divided
    by the exact integral for the relative error of a cell's probability."""
    rng = np.random.default_rng(dimensions)
    # Grids of spacing 0.5: interior cells are [g - 0.25, g + 0.25]; slopes up to 2 make
    # the density change by up to e-fold across a cell.
    grids = [np.arange(0.0, 5.0, 0.5) for _ in range(dimensions)]
    slopes = rng.uniform(-2, 2, dimensions)
    model = ProductDensity(slopes, grids)
    rows = 20
    values = np.column_stack([rng.choice(grid[1:-1], rows) for grid in grids])
    target = {name: values[:, j] for j, name in enumerate(model.target)}
    estimate = np.exp(model.log_prob({"M_h": np.zeros(rows)}, target))
    width = 0.5
    a = slopes * width                                     # slope in cell units
    low = values - 0.25
    exact = np.prod(np.exp(slopes * low) * width * np.expm1(a) / a, axis=1)
    # In unit-cell coordinates f(u) = prod exp(a_j u_j); its norm in the rule's space:
    integral = np.expm1(a) / a
    norm = np.prod(np.sqrt(integral**2 + a * (np.exp(2 * a) - 1) / 2))
    bound = worst_case_error(lattice_rule(dimensions)) * norm / np.prod(integral)
    relative = np.abs(estimate / exact - 1)
    assert np.all(relative <= bound), (relative.max(), bound)
    # The rule is not trivially loose: its error is a real, nonzero one.
    assert relative.max() > 0
