"""Two-sample statistics against reference implementations and analytic values; error bars
and noise floors: the same distribution scores at the floor, a different one does not."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from galhalo.evaluate.distributions import (
    Estimate,
    EvaluationError,
    auc_standard_error,
    classifier_two_sample,
    energy_distance,
    ks_1d,
    ks_2d,
    lower_left_counts,
    pearson_r,
    repeated_estimate,
    subsample,
    wasserstein_1d,
)

# Two-sided normal quantile at 1e-4: with the handful of z-tests per test function below,
# a family-wise false-alarm rate well under 1e-3.
Z_NULL = stats.norm.isf(5e-5)
# value and floor are means of R = 5 draws with errors from their spread: (value - floor)
# / combined error follows roughly Student's t with 2 (R - 1) = 8 degrees of freedom.
T_NULL = stats.t.isf(5e-5, df=8)


def gaussian(n: int, seed: int, shift: float = 0.0, dims: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(shift, 1.0, (n, dims))


# ----------------------------------------------------------------------------- 1-D
def brute_ks(a: np.ndarray, b: np.ndarray) -> float:
    """sup |F_a - F_b| evaluated at every pooled point (both ECDFs right-continuous)."""
    grid = np.concatenate([a, b])
    fa = (a[None, :] <= grid[:, None]).mean(axis=1)
    fb = (b[None, :] <= grid[:, None]).mean(axis=1)
    return float(np.abs(fa - fb).max())


@pytest.mark.parametrize("seed", range(3))
def test_ks_1d_matches_the_ecdf_definition(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0, 1, 300), rng.normal(0.2, 1.3, 170)
    assert ks_1d(a, b) == pytest.approx(brute_ks(a, b), abs=1e-12)
    rounded = np.round(a, 1), np.round(b, 1)  # ties
    assert ks_1d(*rounded) == pytest.approx(brute_ks(*rounded), abs=1e-12)


def test_ks_1d_of_disjoint_samples_is_one_and_of_identical_samples_zero():
    a = gaussian(200, 0)
    assert ks_1d(a, a + 100) == 1.0
    assert ks_1d(a, a.copy()) == 0.0


def test_wasserstein_1d_of_a_shift_is_the_shift_and_matches_sorted_differences():
    a, b = gaussian(500, 1)[:, 0], gaussian(500, 2)[:, 0]
    assert wasserstein_1d(a, a + 0.37) == pytest.approx(0.37, rel=1e-12)
    # Equal sizes: W1 is the mean absolute difference of the order statistics.
    assert wasserstein_1d(a, b) == pytest.approx(np.abs(np.sort(a) - np.sort(b)).mean(),
                                                 rel=1e-12)


# ----------------------------------------------------------------------------- 2-D KS
def brute_quadrant_ks(a: np.ndarray, b: np.ndarray) -> float:
    """Fasano–Franceschini with loops, Numerical Recipes' quadct convention."""
    def fractions(x0, y0, sample):
        counts = [0, 0, 0, 0]
        for x, y in sample:
            if y > y0:
                counts[0 if x > x0 else 1] += 1
            else:
                counts[3 if x > x0 else 2] += 1
        return [c / len(sample) for c in counts]

    def largest(origins):
        return max(max(abs(p - q) for p, q in zip(fractions(x0, y0, a), fractions(x0, y0, b),
                                                  strict=True))
                   for x0, y0 in origins)

    return 0.5 * (largest(a) + largest(b))


@pytest.mark.parametrize("seed", range(4))
def test_ks_2d_matches_a_brute_force_fasano_franceschini(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, (37, 2))
    b = rng.normal([0.3, 0.0], [1.0, 1.5], (52, 2))
    if seed % 2:  # ties in both coordinates
        a, b = np.round(a, 1), np.round(b, 1)
    assert ks_2d(a, b, max_points=None) == pytest.approx(brute_quadrant_ks(a, b), abs=1e-12)


def test_lower_left_counts_match_brute_force_with_ties():
    rng = np.random.default_rng(5)
    points = np.round(rng.normal(size=(300, 2)), 1)
    origins = np.concatenate([points, np.round(rng.normal(size=(211, 2)), 1)])
    brute = ((points[None, :, 0] <= origins[:, None, 0])
             & (points[None, :, 1] <= origins[:, None, 1])).sum(axis=1)
    np.testing.assert_array_equal(lower_left_counts(origins, points), brute)


def test_ks_2d_is_invariant_under_monotone_maps_of_each_axis():
    a, b = gaussian(400, 6, dims=2), gaussian(300, 7, shift=0.2, dims=2)

    def warp(x):
        return np.column_stack([np.exp(x[:, 0]), x[:, 1] ** 3])

    assert ks_2d(warp(a), warp(b)) == pytest.approx(ks_2d(a, b), abs=1e-12)
    assert ks_2d(a, a.copy()) == 0.0


def test_subsampling_is_seeded_and_keeps_pairs():
    a = np.arange(10_000.0)[:, None]
    sub_a, sub_b = subsample(a, -a, 500, seed=3)
    assert len(sub_a) == 500
    np.testing.assert_array_equal(sub_a, -sub_b)  # same rows of both
    np.testing.assert_array_equal(sub_a, subsample(a, -a, 500, seed=3)[0])
    assert not np.array_equal(sub_a, subsample(a, -a, 500, seed=4)[0])
    a2, b2 = gaussian(5000, 1, dims=2), gaussian(5000, 2, dims=2)
    assert ks_2d(a2, b2, max_points=800, seed=1) == ks_2d(a2, b2, max_points=800, seed=1)


# ----------------------------------------------------------------------------- energy
def test_energy_distance_in_one_dimension_is_scipys():
    a, b = gaussian(300, 1)[:, 0], gaussian(200, 2, shift=0.4)[:, 0]
    assert energy_distance(a, b, scale=1.0, max_points=None) == pytest.approx(
        stats.energy_distance(a, b), rel=1e-10)


def folded_normal_mean(mu: float, var: float) -> float:
    """E|X| for X ~ N(mu, var)."""
    sd = math.sqrt(var)
    return sd * math.sqrt(2 / math.pi) * math.exp(-mu**2 / (2 * var)) + mu * (
        1 - 2 * stats.norm.cdf(-mu / sd))


@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_energy_distance_of_gaussians_matches_its_expectation(shift):
    """Unit Gaussians shifted by `shift`: the V-statistic D^2 has expectation
    2 E|X - Y| - (n - 1)/n (E|X - X'| + E|Y - Y'|) with X - Y ~ N(shift, 2) and
    X - X' ~ N(0, 2). The mean of 20 replications must lie within 4 standard errors
    (from their own spread) of it."""
    n = 800
    squared = [energy_distance(gaussian(n, 2 * r), gaussian(n, 2 * r + 1, shift), scale=1.0)
               ** 2 for r in range(20)]
    expected = (2 * folded_normal_mean(shift, 2.0)
                - 2 * (n - 1) / n * folded_normal_mean(0.0, 2.0))
    error = np.std(squared, ddof=1) / np.sqrt(len(squared))
    assert abs(np.mean(squared) - expected) < 4 * error


def test_energy_distance_scales_columns_by_the_reference_spread():
    a, b = gaussian(400, 3, dims=2), gaussian(400, 4, shift=0.3, dims=2)
    stretch = np.array([10.0, 0.1])
    assert energy_distance(a * stretch, b * stretch) == pytest.approx(
        energy_distance(a, b, scale=np.std(b, axis=0)), rel=1e-10)


# ----------------------------------------------------------------------------- PCC, C2ST
def test_pearson_r_matches_numpy_and_is_one_for_linear_relations():
    rng = np.random.default_rng(8)
    x = rng.normal(size=500)
    y = 0.5 * x + rng.normal(size=500)
    assert pearson_r(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1], rel=1e-12)
    assert pearson_r(x, 3 * x + 2) == pytest.approx(1.0)
    assert pearson_r(x, -x) == pytest.approx(-1.0)


def test_auc_standard_error_at_one_half_is_the_exact_null_value():
    for n_a, n_b in ((50, 70), (1000, 1000)):
        null = math.sqrt((n_a + n_b + 1) / (12 * n_a * n_b))
        assert auc_standard_error(0.5, n_a, n_b) == pytest.approx(null, rel=1e-12)


def test_classifier_two_sample_is_one_half_for_identical_and_near_optimal_for_shifted():
    same = classifier_two_sample(gaussian(3000, 1, dims=3), gaussian(3000, 2, dims=3), seed=0)
    assert same.floor == 0.5 and abs(same.value - 0.5) < Z_NULL * same.error
    # 1-D unit Gaussians shifted by d: the best possible AUC is Phi(d / sqrt(2)).
    shift = 0.6
    optimal = stats.norm.cdf(shift / math.sqrt(2))
    shifted = classifier_two_sample(gaussian(3000, 3), gaussian(3000, 4, shift), seed=0)
    assert shifted.value > 0.5 + 10 * shifted.error
    assert optimal - 0.03 - Z_NULL * shifted.error < shifted.value < optimal + (
        Z_NULL * shifted.error)  # up to 0.03 below the optimum for an imperfect classifier
    again = classifier_two_sample(gaussian(3000, 3), gaussian(3000, 4, shift), seed=0)
    assert again == shifted


# ----------------------------------------------------------------------------- floors
STATISTICS = {
    "ks": (ks_1d, 1),
    "wasserstein": (wasserstein_1d, 1),
    "ks2d": (lambda a, b: ks_2d(a, b, max_points=1000), 2),
    "energy": (lambda a, b: energy_distance(a, b, max_points=800), 3),
}


def draws(n: int, repeats: int, seed: int, dims: int, shift: float = 0.0) -> np.ndarray:
    return np.stack([gaussian(n, seed + r, shift, dims) for r in range(repeats)])


@pytest.mark.parametrize("name", list(STATISTICS))
def test_same_distribution_scores_at_the_floor_and_a_shifted_one_does_not(name):
    statistic, dims = STATISTICS[name]
    n = 1500
    reference = gaussian(n, 999, dims=dims)
    truth_draws = draws(n, 5, 100, dims)
    same = repeated_estimate(statistic, draws(n, 5, 200, dims), reference, truth_draws)
    assert abs(same.z) < T_NULL
    # A shift of 0.3 sd is ~10x the null spread of these statistics at n = 1500.
    shifted = repeated_estimate(statistic, draws(n, 5, 300, dims, shift=0.3), reference,
                                truth_draws)
    assert shifted.z > T_NULL and shifted.value > shifted.floor


@pytest.mark.parametrize("name", ["ks", "energy"])
def test_split_half_floor_without_a_truth_estimates_the_null_expectation(name):
    """Without truth draws the floor comes from halves of the reference, rescaled by
    sqrt(s_full / s_half) (s = 1/n1 + 1/n2). It must match the statistic's mean between
    independent full-size samples (20 pairs) within T_NULL combined errors, and a model
    drawn from the reference's distribution must score at it."""
    statistic, dims = STATISTICS[name]
    n = 1200
    null = [statistic(gaussian(n, s, dims=dims), gaussian(n, s + 500, dims=dims))
            for s in range(20)]
    reference = gaussian(n, 7, dims=dims)
    estimate = repeated_estimate(statistic, draws(n, 5, 50, dims), reference, None, seed=1,
                                 max_points=800 if name == "energy" else None)
    assert estimate.note == "floor from split halves"
    combined = math.hypot(np.std(null, ddof=1) / np.sqrt(len(null)), estimate.floor_error)
    assert abs(estimate.floor - np.mean(null)) < T_NULL * combined
    assert abs(estimate.z) < T_NULL


def test_pcc_floor_is_the_correlation_of_two_truth_draws():
    rng = np.random.default_rng(3)
    signal = rng.normal(size=2000)

    def draw(seed):
        return signal + np.random.default_rng(seed).normal(size=2000)

    reference = draw(0)
    estimate = repeated_estimate(pearson_r, np.stack([draw(s) for s in range(1, 6)]),
                                 reference, np.stack([draw(s) for s in range(6, 11)]),
                                 null_exponent=None)
    # corr of signal + unit noise with an independent copy: var(signal) / (1 + 1) = 0.5
    assert estimate.floor == pytest.approx(0.5, abs=5 * 0.02)
    assert abs(estimate.z) < T_NULL
    without = repeated_estimate(pearson_r, np.stack([draw(s) for s in range(1, 6)]),
                                reference, None, null_exponent=None)
    assert without.floor is None and without.z is None


def test_estimate_to_dict_is_json_ready():
    finite = Estimate(0.3, 0.01, 0.25, 0.02).to_dict()
    assert finite["z"] == pytest.approx(0.05 / math.hypot(0.01, 0.02))
    infinite = Estimate(math.inf, None, 1.0, 0.0, note="2 rows off support").to_dict()
    assert infinite == {"value": None, "error": None, "floor": 1.0, "floor_error": 0.0,
                        "z": None, "note": "2 rows off support"}


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("call", "message"), [
    (lambda: ks_1d([1.0, np.nan, 2.0], [1.0, 2.0]), "NaN or inf"),
    (lambda: ks_1d(np.ones((5, 2)), np.ones(5)), "different dimensions"),
    (lambda: ks_2d(np.ones((5, 3)), np.ones((5, 3))), "2 column"),
    (lambda: energy_distance(np.ones((2, 2, 2)), np.ones((2, 2))), "1-D or 2-D"),
    (lambda: energy_distance([[1.0, 2.0]] * 4, [[1.0, 3.0]] * 4), "constant column"),
    (lambda: pearson_r(np.arange(5.0), np.arange(6.0)), "equal lengths"),
    (lambda: pearson_r(np.ones(5), np.arange(5.0)), "constant"),
    (lambda: wasserstein_1d([1.0], [1.0, 2.0]), "at least 2"),
    (lambda: classifier_two_sample(np.ones((20, 2)), np.ones((20, 2)), test_fraction=1.5),
     "test_fraction"),
    (lambda: repeated_estimate(ks_1d, np.ones((1, 10)), np.arange(10.0)), "at least 2 draws"),
    (lambda: repeated_estimate(ks_1d, np.ones(10), np.arange(10.0)), "shape (repeats"),
])
def test_bad_input_fails_clearly(call, message):
    with pytest.raises(EvaluationError, match=message.replace("(", r"\(")):
        call()
