"""Calibration: the PIT of a perfectly specified model is flat within its error bars and a
mis-specified one's is not (sample-based and exact-CDF PIT); coverage; NLL and its
difference from the truth against analytic values; bad input."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from galhalo.columns import GALAXY
from galhalo.evaluate.calibration import (
    calibration_summary,
    coverage,
    marginal_pit,
    model_pit,
    nll,
    nll_difference,
    pit_flatness,
    pit_histogram,
    sample_pit,
)
from galhalo.evaluate.distributions import EvaluationError
from galhalo.evaluate.run import TruthConditional
from galhalo.sim.truth import TruthModel

# One-sided normal quantile at 1e-4 for "flat / at nominal coverage" checks; a clearly
# mis-specified model must exceed it.
Z = stats.norm.isf(1e-4)


def heteroscedastic(n: int, seed: int, k: int = 0, width: float = 1.0):
    """Rows with their own mean and sd; true values, and k model draws whose sd is `width`
    times the true one (width 1: perfectly specified)."""
    rng = np.random.default_rng(seed)
    mean, sd = rng.normal(0, 3, n), rng.uniform(0.2, 2.0, n)
    values = rng.normal(mean, sd)
    model = rng.normal(mean, width * sd, (k, n)) if k else None
    return values, model


def test_pit_of_a_perfect_model_is_flat_and_of_a_narrow_model_is_u_shaped():
    values, good = heteroscedastic(20_000, 0, k=15)
    flat = pit_flatness(sample_pit(good, values, seed=1))
    assert flat.floor == 1.0 and flat.z < Z
    values, narrow = heteroscedastic(20_000, 0, k=15, width=0.7)
    pit = sample_pit(narrow, values, seed=1)
    bad = pit_flatness(pit)
    assert bad.z > Z
    counts = pit_histogram(pit)["counts"]
    assert counts[0] > counts[5] and counts[-1] > counts[5]  # overconfident: U shape


def test_flatness_error_is_the_chi2_spread_under_the_null():
    """Over 200 calibrated samples the statistic has mean 1 and sd sqrt(2 / 9) for
    10 bins; their sample mean and sd must match within 4 of their standard errors."""
    rng = np.random.default_rng(4)
    values = np.array([pit_flatness(rng.random(500)).value for _ in range(200)])
    sd = math.sqrt(2 / 9)
    assert abs(values.mean() - 1.0) < 4 * sd / math.sqrt(200)
    assert abs(values.std(ddof=1) - sd) < 4 * sd / math.sqrt(2 * 199)
    assert pit_flatness(rng.random(500)).error == pytest.approx(sd)


def test_randomised_rank_handles_ties_and_few_draws():
    """Draws identical to the true value (a deterministic, correct model) still give a
    uniform PIT thanks to the tie-breaking uniforms; so do 3 draws per row."""
    values = np.random.default_rng(0).normal(size=20_000)
    tied = sample_pit(np.tile(values, (4, 1)), values, seed=2)
    assert pit_flatness(tied).z < Z
    values, few = heteroscedastic(20_000, 5, k=3)
    assert pit_flatness(sample_pit(few, values, seed=3)).z < Z
    assert np.array_equal(sample_pit(few, values, seed=3), sample_pit(few, values, seed=3))


def test_marginal_pit_is_flat_for_the_same_marginal_and_sloped_for_a_biased_one():
    values, good = heteroscedastic(10_000, 6, k=5)
    assert pit_flatness(marginal_pit(good.ravel(), values)).z < Z
    biased = pit_flatness(marginal_pit(good.ravel() + 1.0, values))
    assert biased.z > Z


def expected_rank_coverage(level: float, k: int, width: float) -> float:
    """Expected coverage measured with the randomised rank among k draws of a model
    `width` times too narrow: a true value at standardised z sits at model CDF
    p = Phi(z / width); r ~ Binomial(k, p) draws fall below it and
    u = (r + V) / (k + 1) lands in [(1 - level)/2, (1 + level)/2] with probability
    |that interval intersected with [r, r + 1] / (k + 1)| (V uniform). Integrated over
    z ~ N(0, 1) on a fine grid."""
    z = np.linspace(-9, 9, 4001)
    p = stats.norm.cdf(z / width)
    r = np.arange(k + 1)[:, None]
    low, high = (1 - level) / 2 * (k + 1), (1 + level) / 2 * (k + 1)
    inside = np.clip(np.minimum(high, r + 1) - np.maximum(low, r), 0, 1)
    per_z = (stats.binom.pmf(r, k, p) * inside).sum(axis=0)
    return float(np.trapezoid(per_z * stats.norm.pdf(z), z))


@pytest.mark.parametrize("level", [0.68, 0.95])
def test_coverage_of_a_perfect_model_is_nominal_and_of_a_narrow_one_is_low(level):
    values, good = heteroscedastic(20_000, 7, k=20)
    perfect = coverage(sample_pit(good, values), level)
    assert perfect.floor == level
    assert abs(perfect.value - level) < Z * perfect.error
    assert abs(expected_rank_coverage(level, 20, 1.0) - level) < 1e-6  # exact when calibrated
    values, narrow = heteroscedastic(20_000, 7, k=20, width=0.6)
    low = coverage(sample_pit(narrow, values), level)
    assert low.value < level - Z * low.error
    assert abs(low.value - expected_rank_coverage(level, 20, 0.6)) < Z * low.error


def test_calibration_summary_has_flatness_and_both_coverages_per_column():
    values, good = heteroscedastic(2000, 8, k=10)
    summary = calibration_summary({"smass": sample_pit(good, values)})
    assert set(summary) == {"pit", "coverage68", "coverage95"}
    assert set(summary["coverage95"]) == {"smass"}


# ----------------------------------------------------------------------------- exact CDF
@pytest.fixture(scope="module")
def truth_sample():
    """2000 synthetic halos (from the halo population) with galaxies from the truth."""
    import galhalo

    catalog = galhalo.simulate(n_halos=2000, box=40.0, seed=11)
    return catalog


def test_exact_cdf_pit_of_the_truth_is_flat_and_of_a_wrong_truth_is_not(truth_sample):
    table = truth_sample.table
    truth = TruthModel.from_dict(truth_sample.meta.truth)
    pit = model_pit(TruthConditional(truth), table, table)
    assert set(pit) == set(GALAXY)
    np.testing.assert_allclose(pit["color"], truth.cdf(table, table["color"], "color"))
    for name in GALAXY:
        assert pit_flatness(pit[name]).z < Z, name
    # Twice the stellar-mass scatter: the true values crowd the middle (a hump).
    wide = dataclasses.replace(truth, smass_scatter_low=0.44, smass_scatter_high=0.32)
    wrong = model_pit(TruthConditional(wide), table, table)
    assert pit_flatness(wrong["smass"]).z > Z
    assert coverage(wrong["smass"], 0.68).value > 0.68 + Z * coverage(
        wrong["smass"], 0.68).error


def test_model_pit_without_a_cdf_uses_the_models_draws(truth_sample):
    table = truth_sample.table
    truth = TruthConditional(TruthModel.from_dict(truth_sample.meta.truth), ("smass",))

    class SamplesOnly:  # the truth without its cdf: a model that can only sample
        condition, target = truth.condition, truth.target
        sample = truth.sample

    draws = truth.sample(table, 10, 3)
    pit = model_pit(SamplesOnly(), table, table, draws=draws, seed=4)
    np.testing.assert_array_equal(pit["smass"], sample_pit(
        draws[..., 0], table["smass"].to_numpy(), np.random.SeedSequence(4).spawn(1)[0]))
    assert pit_flatness(pit["smass"]).z < Z
    with pytest.raises(EvaluationError, match="draws have shape"):
        model_pit(SamplesOnly(), table, table, draws=draws[:, :10])


# ----------------------------------------------------------------------------- NLL
def test_nll_and_its_difference_from_the_truth_match_the_gaussian_kl():
    """True N(0, 1) scored by N(0, s^2): KL = ln s + 1 / (2 s^2) - 1/2."""
    x = np.random.default_rng(9).normal(size=50_000)
    truth_lp, model_lp = stats.norm.logpdf(x), stats.norm.logpdf(x, scale=1.3)
    entropy = 0.5 * math.log(2 * math.pi * math.e)
    truth_nll = nll(truth_lp)
    assert abs(truth_nll.value - entropy) < Z * truth_nll.error
    kl = math.log(1.3) + 1 / (2 * 1.3**2) - 0.5
    difference = nll_difference(model_lp, truth_lp)
    assert difference.floor == 0.0 and abs(difference.value - kl) < Z * difference.error
    with_floor = nll(model_lp, truth_lp)
    assert with_floor.floor == pytest.approx(truth_nll.value)
    assert nll_difference(truth_lp, truth_lp).value == 0.0


def test_nll_counts_rows_off_the_support():
    lp = np.array([-1.0, -np.inf, -2.0, -np.inf])
    estimate = nll(lp)
    assert estimate.value == math.inf and estimate.note == "2 of 4 rows off the model's support"
    assert estimate.to_dict()["value"] is None
    assert nll_difference(lp, np.full(4, -1.0)).note.startswith("2 of 4 rows")


@pytest.mark.parametrize(("call", "message"), [
    (lambda: nll([0.1, np.nan, 0.3]), "NaN or \\+inf"),
    (lambda: nll([0.1, 0.2], [0.1]), "reference"),
    (lambda: nll_difference([0.1, 0.2], [-np.inf, 0.0]), "not the truth"),
    (lambda: pit_flatness([0.1, 1.2]), r"\[0, 1\]"),
    (lambda: pit_flatness([0.1, 0.5], bins=1), "bins"),
    (lambda: coverage([0.1, 0.5], 1.5), "level"),
    (lambda: sample_pit(np.ones((3, 4)), np.ones(5)), r"shape \(K, 5\)"),
    (lambda: sample_pit(np.full((3, 2), np.nan), np.ones(2)), "NaN"),
    (lambda: marginal_pit([1.0, 2.0], [np.inf]), "NaN or inf"),
    (lambda: model_pit(TruthConditional(TruthModel()), pd.DataFrame({"M_h": [12.0]}),
                       pd.DataFrame({name: [1.0] for name in GALAXY})), "missing"),
])
def test_bad_input_fails_clearly(call, message):
    with pytest.raises(ValueError, match=message):
        call()
