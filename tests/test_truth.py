"""The known-truth galaxy model: normalisation, marginals, sampling, selection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from galhalo.columns import GALAXY
from galhalo.errors import CatalogError
from galhalo.sim.halos import HaloModel
from galhalo.sim.truth import TruthModel

TRUTH = TruthModel()
CUT = TRUTH.stellar_mass_cut


def halos(**columns) -> pd.DataFrame:
    """Halo rows with typical secondary properties unless given."""
    n = len(columns["M_h"])
    defaults = {"C_h": [1.0] * n, "S_h": [0.04] * n, "z_h": [1.3] * n, "Delta3_h": [2.0] * n}
    return pd.DataFrame({**defaults, **columns})


# Low mass (selection cuts most of the density), the quenching transition, a cluster.
HALOS = halos(M_h=[10.9, 12.0, 13.8], z_h=[2.2, 1.0, 0.5], Delta3_h=[6.0, 1.2, 9.0],
              S_h=[0.02, 0.06, 0.03], C_h=[1.2, 0.95, 0.9])


def one(frame: pd.DataFrame, row: int) -> pd.DataFrame:
    return frame.iloc[[row]].reset_index(drop=True)


def marginal_density(halo: pd.DataFrame, name: str):
    """Vectorised 1-D marginal density of one galaxy column for a single halo."""
    def density(x):
        x = np.atleast_1d(np.asarray(x, dtype=float))
        repeated = halo.loc[np.zeros(len(x), dtype=int)].reset_index(drop=True)
        return np.exp(TRUTH.log_prob(repeated, {name: x}, columns=(name,)))
    return density


def support(name: str, draws: np.ndarray) -> tuple[float, float]:
    """Integration range: the cut for smass, else far beyond the drawn values."""
    spread = draws.max() - draws.min()
    low = CUT if name == "smass" else draws.min() - spread
    return low, draws.max() + spread


@pytest.mark.parametrize("row", range(len(HALOS)))
def test_full_density_is_normalised_by_importance_sampling(row):
    """E_q[p/q] = 1 with an independent wide Gaussian proposal q; tolerance 4 standard errors."""
    halo = one(HALOS, row)
    rng = np.random.default_rng(10 + row)
    draws = TRUTH.sample(halo, 4000, seed=rng)[:, 0, :]
    mean, cov = draws.mean(axis=0), np.cov(draws.T)
    proposal = stats.multivariate_normal(mean, 2.0**2 * cov)
    points = proposal.rvs(200_000, random_state=rng)
    repeated = halo.loc[np.zeros(len(points), dtype=int)].reset_index(drop=True)
    log_p = TRUTH.log_prob(repeated, pd.DataFrame(points, columns=list(GALAXY)))
    weights = np.exp(log_p - proposal.logpdf(points))
    estimate = weights.mean()
    standard_error = weights.std() / np.sqrt(len(weights))
    assert standard_error < 0.03, "proposal too poor to test anything"
    assert abs(estimate - 1.0) < 4 * standard_error


@pytest.mark.parametrize("name", GALAXY)
@pytest.mark.parametrize("row", range(len(HALOS)))
def test_every_one_dimensional_marginal_integrates_to_one(row, name):
    halo = one(HALOS, row)
    draws = TRUTH.sample(halo, 2000, seed=row)[:, 0, GALAXY.index(name)]
    low, high = support(name, draws)
    grid = np.linspace(low, high, 200_001)  # the density is smooth: trapezoid error ~1e-8
    total = integrate.trapezoid(marginal_density(halo, name)(grid), grid)
    assert total == pytest.approx(1.0, abs=1e-5)


def test_two_dimensional_marginal_integrates_to_the_one_dimensional_marginal():
    """Integrating sSFR out of p(color, sSFR) gives p(color): both marginalisation paths agree."""
    halo = one(HALOS, 1)
    colours = np.array([0.5, 0.8, 1.05])
    ssfr = np.linspace(-20.0, -7.0, 6001)
    repeated = halo.loc[np.zeros(len(ssfr), dtype=int)].reset_index(drop=True)
    for colour in colours:
        joint = np.exp(TRUTH.log_prob(repeated, {"color": np.full_like(ssfr, colour),
                                                 "sSFR": ssfr}, columns=("color", "sSFR")))
        integrated = integrate.trapezoid(joint, ssfr)
        direct = marginal_density(halo, "color")(colour)[0]
        assert integrated == pytest.approx(direct, rel=1e-4)


@pytest.mark.parametrize("name", GALAXY)
def test_samples_follow_the_density_ks(name):
    """KS test of sampled values against the CDF integrated from log_prob (alpha = 1e-3)."""
    halo = one(HALOS, 1)
    n = 20_000
    draws = TRUTH.sample(halo, n, seed=3)[:, 0, GALAXY.index(name)]
    low, high = support(name, draws)
    grid = np.linspace(low, high, 20_001)
    cdf = integrate.cumulative_trapezoid(marginal_density(halo, name)(grid), grid, initial=0.0)
    statistic = stats.kstest(draws, lambda x: np.interp(x, grid, cdf / cdf[-1])).statistic
    critical = 1.949 / np.sqrt(n)  # Kolmogorov distribution, alpha = 0.001
    assert statistic < critical


def test_joint_colour_ssfr_histogram_matches_the_density_chi2():
    """Chi-square of a 2-D histogram of samples against bin probabilities from log_prob."""
    halo = one(HALOS, 1)  # quenching transition: both populations present
    n = 40_000
    draws = TRUTH.sample(halo, n, seed=4)[:, 0, :]
    colour_edges = np.quantile(draws[:, 1], np.linspace(0, 1, 9))
    ssfr_edges = np.quantile(draws[:, 2], np.linspace(0, 1, 9))
    colour_edges[[0, -1]] = [-2.0, 3.0]
    ssfr_edges[[0, -1]] = [-22.0, -6.0]
    observed, _, _ = np.histogram2d(draws[:, 1], draws[:, 2], [colour_edges, ssfr_edges])
    # Bin probabilities by midpoint integration on a fine grid within each bin.
    fine_c = np.linspace(-2.0, 3.0, 1001)
    fine_s = np.linspace(-22.0, -6.0, 1601)
    cc, ss = np.meshgrid(0.5 * (fine_c[1:] + fine_c[:-1]), 0.5 * (fine_s[1:] + fine_s[:-1]),
                         indexing="ij")
    repeated = halo.loc[np.zeros(cc.size, dtype=int)].reset_index(drop=True)
    density = np.exp(TRUTH.log_prob(repeated, {"color": cc.ravel(), "sSFR": ss.ravel()},
                                    columns=("color", "sSFR"))).reshape(cc.shape)
    mass = density * np.diff(fine_c)[:, None] * np.diff(fine_s)[None, :]
    expected, _, _ = np.histogram2d(cc.ravel(), ss.ravel(), [colour_edges, ssfr_edges],
                                    weights=mass.ravel())
    assert expected.sum() == pytest.approx(1.0, abs=2e-3)
    expected = expected / expected.sum() * n
    chi2 = ((observed - expected) ** 2 / expected).sum()
    dof = observed.size - 1
    assert chi2 < stats.chi2.ppf(0.999, dof)


def test_selected_samples_respect_the_cut_and_unselected_match_its_probability():
    rng = np.random.default_rng(5)
    selected = TRUTH.sample(HALOS, 5000, seed=rng)
    assert (selected[..., 0] >= CUT).all()
    n = 20_000
    unselected = TRUTH.sample(HALOS, n, seed=rng, selected=False)
    passed = (unselected[..., 0] >= CUT).mean(axis=0)
    probability = TRUTH.selection_probability(HALOS)
    binomial_error = np.sqrt(probability * (1 - probability) / n)
    assert np.all(np.abs(passed - probability) < 4 * binomial_error + 1e-12)
    assert probability[0] < 0.5 < probability[2]  # the test spans the cut's regimes


def test_log_prob_is_minus_infinity_below_the_cut_and_finite_above():
    galaxy = pd.DataFrame({"smass": [CUT - 0.01, CUT + 0.01, 10.0], "color": [0.6] * 3,
                           "sSFR": [-10.0] * 3, "radius": [0.5] * 3})
    log_p = TRUTH.log_prob(HALOS, galaxy)
    assert log_p[0] == -np.inf
    assert np.isfinite(log_p[1:]).all()


def test_log_prob_refuses_unknown_columns_and_missing_halo_columns():
    with pytest.raises(ValueError, match="subset"):
        TRUTH.log_prob(HALOS, {"mass": [1.0, 2.0, 3.0]}, columns=("mass",))
    with pytest.raises(CatalogError, match="Delta3_h"):
        TRUTH.log_prob(HALOS.drop(columns="Delta3_h"), {"smass": [9.0] * 3}, columns=("smass",))


def test_galaxy_properties_depend_on_secondary_halo_properties_at_fixed_mass():
    """Galaxy assembly bias is built in: older halos host more massive, more quenched
    galaxies; higher spin gives larger galaxies (same halo mass)."""
    young, old = halos(M_h=[11.8], z_h=[0.6]), halos(M_h=[11.8], z_h=[2.5])
    low_spin, high_spin = halos(M_h=[11.8], S_h=[0.015]), halos(M_h=[11.8], S_h=[0.12])
    n = 20_000
    draw = {name: TRUTH.sample(h, n, seed=7)[:, 0, :]
            for name, h in [("young", young), ("old", old), ("low", low_spin),
                            ("high", high_spin)]}
    error = lambda a, b, i: np.sqrt(draw[a][:, i].var() / n + draw[b][:, i].var() / n)  # noqa: E731
    assert draw["old"][:, 0].mean() - draw["young"][:, 0].mean() > 5 * error("old", "young", 0)
    assert (TRUTH.quenched_fraction(old) > TRUTH.quenched_fraction(young)).all()
    assert draw["high"][:, 3].mean() - draw["low"][:, 3].mean() > 5 * error("high", "low", 3)


def test_parameters_round_trip_through_json_dict():
    rebuilt = TruthModel.from_dict(TRUTH.to_dict())
    assert rebuilt == TRUTH
    galaxy = pd.DataFrame(TRUTH.sample(HALOS, 1, seed=1)[0], columns=list(GALAXY))
    np.testing.assert_array_equal(rebuilt.log_prob(HALOS, galaxy), TRUTH.log_prob(HALOS, galaxy))
    with pytest.raises(ValueError, match="unknown truth-model parameters"):
        TruthModel.from_dict({**TRUTH.to_dict(), "shmr_typo": 1.0})


def test_invalid_component_correlation_is_refused():
    bad = TRUTH.to_dict()
    bad["quenched"]["correlation"] = [[1, 2, 0, 0], [2, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    with pytest.raises(np.linalg.LinAlgError):
        TruthModel.from_dict(bad)


def test_same_seed_same_draws_different_seed_different_draws():
    first = TRUTH.sample(HALOS, 10, seed=11)
    np.testing.assert_array_equal(first, TRUTH.sample(HALOS, 10, seed=11))
    assert not np.array_equal(first, TRUTH.sample(HALOS, 10, seed=12))


def test_halo_latents_invert_the_halo_property_relations():
    model = HaloModel()
    rng = np.random.default_rng(2)
    log_mass = rng.uniform(10.5, 15.0, 1000)
    latents = rng.standard_normal((1000, 3)) * 1.5
    properties = model.properties(log_mass, latents)
    assert (properties > 0).all()
    np.testing.assert_allclose(model.latents(log_mass, properties), latents, atol=1e-8)


@pytest.mark.parametrize("name", GALAXY)
def test_cdf_is_the_integral_of_the_marginal_density(name):
    halo = one(HALOS, 1)
    draws = TRUTH.sample(halo, 2000, seed=8)[:, 0, GALAXY.index(name)]
    low, high = support(name, draws)
    grid = np.linspace(low, high, 100_001)
    numeric = integrate.cumulative_trapezoid(marginal_density(halo, name)(grid), grid,
                                             initial=0.0)
    points = np.linspace(0, len(grid) - 1, 40).astype(int)
    repeated = halo.loc[np.zeros(len(points), dtype=int)].reset_index(drop=True)
    exact = TRUTH.cdf(repeated, grid[points], name)
    np.testing.assert_allclose(exact, numeric[points], atol=1e-6)


def test_halos_far_below_the_cut_still_get_finite_selected_galaxies():
    """Regression: the truncated draw is inverted in log space, so a halo whose selection
    probability underflows still yields galaxies just above the cut, never inf."""
    tiny = halos(M_h=[7.0, 8.0])
    draws = TRUTH.sample(tiny, 200, seed=0)
    assert np.isfinite(draws).all()
    assert (draws[..., 0] >= CUT).all() and (draws[..., 0] < CUT + 0.1).all()
