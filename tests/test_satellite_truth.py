"""The satellite truth: an exact density, its marginals and samples, and the count law."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from galhalo.catalog.schema import GALAXY
from galhalo.errors import SimulationError
from galhalo.sim.cosmology import Cosmology
from galhalo.sim.satellite_truth import SatelliteModel, SatelliteTruth
from galhalo.sim.subhalos import (
    SubhaloModel,
    host_concentration,
    nfw_enclosed,
    nfw_radii,
    radial_dispersion,
)
from galhalo.sim.truth import TruthModel

TRUTH = TruthModel(satellites=SatelliteTruth())
MODEL = TRUTH.satellite_model
CUT = TRUTH.stellar_mass_cut
KS_CRITICAL = 1.949  # Kolmogorov distribution at alpha = 0.001, times sqrt(n)


def condition(**columns) -> pd.DataFrame:
    """Satellite condition rows: a group satellite unless told otherwise."""
    n = len(columns["M_peak"])
    defaults = {"M_h": [13.0] * n, "C_h": [1.0] * n, "S_h": [0.04] * n, "z_h": [1.0] * n,
                "Delta3_h": [3.0] * n, "M_sub": [11.0] * n, "z_infall": [0.6] * n,
                "r_host": [0.4] * n, "sSFR_central": [-12.0] * n}
    return pd.DataFrame({**defaults, **columns})


# Low peak mass (the cut bites), a typical satellite near smass 10, a massive one.
ROWS = condition(M_peak=[11.0, 11.8, 12.6], M_sub=[10.2, 11.0, 12.3],
                 z_infall=[1.2, 0.5, 0.2], r_host=[0.2, 0.5, 0.9],
                 sSFR_central=[-12.5, -10.0, -11.0])


def one(row: int) -> pd.DataFrame:
    return ROWS.iloc[[row]].reset_index(drop=True)


def marginal_density(table: pd.DataFrame, name: str):
    def density(x):
        x = np.atleast_1d(np.asarray(x, dtype=float))
        repeated = table.loc[np.zeros(len(x), dtype=int)].reset_index(drop=True)
        return np.exp(MODEL.log_prob(repeated, {name: x}, columns=(name,)))
    return density


@pytest.mark.parametrize("row", range(len(ROWS)))
def test_joint_density_is_normalised_by_importance_sampling(row):
    """E_q[p/q] = 1 for a wide Gaussian proposal q fitted to draws; 4 standard errors."""
    table = one(row)
    rng = np.random.default_rng(20 + row)
    draws = MODEL.sample(table, 4000, seed=rng)[:, 0, :]
    proposal = stats.multivariate_normal(draws.mean(axis=0), 4.0 * np.cov(draws.T))
    points = proposal.rvs(200_000, random_state=rng)
    repeated = table.loc[np.zeros(len(points), dtype=int)].reset_index(drop=True)
    log_p = MODEL.log_prob(repeated, pd.DataFrame(points, columns=list(GALAXY)))
    ratio = np.exp(log_p - proposal.logpdf(points))
    error = ratio.std() / np.sqrt(len(ratio))
    assert abs(ratio.mean() - 1.0) < 4 * error


@pytest.mark.parametrize("name", GALAXY)
def test_one_dimensional_marginals_integrate_to_one(name):
    table = one(1)
    low = CUT if name == "smass" else -30.0
    total, _ = integrate.quad(lambda x: marginal_density(table, name)(x)[0], low, 30.0,
                              points=None, limit=400)
    assert total == pytest.approx(1.0, abs=1e-6)


def test_integrating_ssfr_out_of_the_joint_gives_the_colour_marginal():
    table = one(1)
    ssfr = np.linspace(-20.0, -7.0, 6001)
    repeated = table.loc[np.zeros(len(ssfr), dtype=int)].reset_index(drop=True)
    for colour in (0.5, 0.8, 1.05):
        joint = np.exp(MODEL.log_prob(repeated, {"color": np.full_like(ssfr, colour),
                                                 "sSFR": ssfr}, columns=("color", "sSFR")))
        direct = marginal_density(table, "color")(colour)[0]
        assert integrate.trapezoid(joint, ssfr) == pytest.approx(direct, rel=1e-4)


@pytest.mark.parametrize("name", GALAXY)
def test_samples_follow_the_exact_cdf_ks(name):
    """PIT of satellite draws through the exact conditional CDF is uniform (KS)."""
    n = 20_000
    repeated = ROWS.loc[np.repeat(np.arange(len(ROWS)), n // 3 + 1)[:n]].reset_index(drop=True)
    draws = MODEL.sample(repeated, 1, seed=5)[0, :, GALAXY.index(name)]
    pit = MODEL.cdf(repeated, draws, name)
    assert stats.kstest(pit, "uniform").statistic < KS_CRITICAL / np.sqrt(n)


def test_cdf_is_the_integral_of_the_marginal_density():
    table = one(0)
    grid = np.linspace(CUT, 12.0, 20_001)
    numeric = integrate.cumulative_trapezoid(marginal_density(table, "smass")(grid), grid,
                                             initial=0.0)
    points = np.linspace(0, len(grid) - 1, 25).astype(int)
    repeated = table.loc[np.zeros(len(points), dtype=int)].reset_index(drop=True)
    np.testing.assert_allclose(MODEL.cdf(repeated, grid[points], "smass"), numeric[points],
                               atol=1e-6)


def test_selection_depends_on_the_peak_mass_only_and_the_limit_is_safe():
    a = condition(M_peak=[11.2, 11.2], M_h=[12.0, 14.5], sSFR_central=[-10.0, -13.0],
                  z_infall=[0.1, 2.0])
    probability = MODEL.selection_probability(a)
    assert probability[0] == probability[1]
    assert MODEL.resolution_check() < 1e-4
    n = 40_000
    raw = MODEL.sample(a.iloc[[0]], n, seed=3, selected=False)[:, 0, 0]
    passed = (raw >= CUT).mean()
    assert abs(passed - probability[0]) < 5 * np.sqrt(probability[0] * (1 - probability[0]) / n)


def test_quenching_rises_with_infall_time_host_mass_centre_and_conformity():
    base = condition(M_peak=[11.5])
    fraction = MODEL.quenched_fraction(base)[0]
    for change in ({"z_infall": [1.5]}, {"M_h": [14.0]}, {"r_host": [0.1]},
                   {"sSFR_central": [-13.0]}):
        assert MODEL.quenched_fraction(condition(M_peak=[11.5], **change))[0] > fraction
    star_forming_central = condition(M_peak=[11.5], sSFR_central=[-9.5])
    assert MODEL.quenched_fraction(star_forming_central)[0] < fraction


def test_count_law_is_a_normalised_negative_binomial_with_its_moments():
    hosts = {"M_h": np.array([12.0, 13.0, 14.5]), "C_h": np.array([0.9, 1.0, 1.15])}
    counts = np.arange(0, 3000)
    mean = MODEL.satellite_count_mean(hosts)
    for i in range(3):
        halo = {"M_h": np.full(len(counts), hosts["M_h"][i]),
                "C_h": np.full(len(counts), hosts["C_h"][i])}
        p = np.exp(MODEL.satellite_count_log_prob(halo, counts))
        assert p.sum() == pytest.approx(1.0, abs=1e-9)
        assert (p * counts).sum() == pytest.approx(mean[i], rel=1e-9)
        variance = (p * (counts - mean[i]) ** 2).sum()
        assert variance == pytest.approx(MODEL.satellite_count_variance(hosts)[i], rel=1e-8)
    assert mean[0] < mean[1] < mean[2]


def test_thinned_subhalo_draws_follow_the_count_law_chi2():
    """Draw all sub-halos above the resolution limit and keep those whose galaxy passes
    the cut: the kept count per host is the negative binomial of the count law."""
    hosts = 6000
    host = {"M_h": [13.2], "C_h": [1.1]}  # a concentrated host: r_C = +1.1
    table = {"M_h": np.full(hosts, 13.2),
             "C_residual": np.full(hosts, MODEL.concentration_residual(host)[0]),
             "z_h": np.full(hosts, 0.8)}
    rng = np.random.default_rng(11)
    sub = MODEL.params.subhalos.draw(table, Cosmology(), 0.0, rng)
    rows = len(sub["host"])
    cond = {"M_h": np.full(rows, 13.2), "sSFR_central": np.full(rows, -12.0),
            **{k: sub[k] for k in ("M_peak", "M_sub", "z_infall", "r_host")}}
    smass = MODEL.conditional(cond).sample(rng, selected=False)[:, 0]
    kept = np.bincount(sub["host"][smass >= CUT], minlength=hosts)
    mean = MODEL.satellite_count_mean(host)[0]
    variance = MODEL.satellite_count_variance(host)[0]
    assert abs(kept.mean() - mean) < 5 * np.sqrt(variance / hosts)
    # Chi-square over count bins with >= 20 expected hosts each.
    k = np.arange(0, 200)
    p = np.exp(MODEL.satellite_count_log_prob({"M_h": np.full(len(k), 13.2),
                                               "C_h": np.full(len(k), 1.1)}, k))
    edges = [0]
    expected = []
    acc = 0.0
    for i, pi in enumerate(p):
        acc += pi * hosts
        if acc >= 20:
            edges.append(i + 1)
            expected.append(acc)
            acc = 0.0
    expected[-1] += acc + (1 - p.sum()) * hosts
    observed = np.histogram(kept, bins=[*edges[:-1], 10_000])[0]
    chi2 = ((observed - np.array(expected)) ** 2 / np.array(expected)).sum()
    assert chi2 < stats.chi2.ppf(0.999, len(expected) - 1)


def test_nfw_radii_invert_the_truncated_profile_and_concentration_follows_duffy():
    u = np.linspace(0.01, 0.99, 50)
    c = np.full_like(u, 6.0)
    s = nfw_radii(c, u)
    np.testing.assert_allclose(nfw_enclosed(c * s) / nfw_enclosed(c), u, rtol=1e-10)
    pivot = np.log10(2e12)
    # Duffy et al. 2008 (virial, full sample): 7.85 at the pivot mass, z = 0
    assert host_concentration(np.array([pivot]), np.array([0.0]), 0.0)[0] == \
        pytest.approx(7.85)
    # one dex heavier: 10^-0.081 lower; z = 1: 2^-0.71 lower; +1 sigma: exp(scatter)
    assert host_concentration(np.array([pivot + 1]), np.array([0.0]), 0.0)[0] == \
        pytest.approx(7.85 * 10**-0.081)
    assert host_concentration(np.array([pivot]), np.array([0.0]), 1.0)[0] == \
        pytest.approx(7.85 * 2**-0.71)
    assert host_concentration(np.array([pivot]), np.array([1.0]), 0.0, scatter=0.3)[0] == \
        pytest.approx(7.85 * np.exp(0.3))
    # clipped at the ends
    assert host_concentration(np.array([pivot]), np.array([-20.0]), 0.0, low=2.5)[0] == 2.5
    assert host_concentration(np.array([pivot]), np.array([20.0]), 0.0, high=30.0)[0] == 30.0


def test_truth_routes_satellite_rows_and_keeps_centrals_unchanged():
    centrals = pd.DataFrame({"M_h": [11.5, 12.3], "C_h": [1.0, 1.1], "S_h": [0.04, 0.05],
                             "z_h": [1.3, 0.9], "Delta3_h": [2.0, 4.0]})
    galaxy = pd.DataFrame({"smass": [9.5, 10.4, 10.0], "color": [0.7, 1.0, 0.9],
                           "sSFR": [-10.0, -12.0, -11.5], "radius": [0.5, 0.6, 0.4]})
    mixed = pd.concat([centrals, one(1)], ignore_index=True)
    mixed["is_central"] = [True, True, False]
    log_p = TRUTH.log_prob(mixed, galaxy)
    np.testing.assert_array_equal(log_p[:2], TruthModel().log_prob(centrals, galaxy[:2]))
    assert log_p[2] == MODEL.log_prob(one(1), galaxy[2:].reset_index(drop=True))[0]
    # Centrals alone: the same draws as a truth without satellites (same seed).
    np.testing.assert_array_equal(TRUTH.sample(centrals, 3, seed=2),
                                  TruthModel().sample(centrals, 3, seed=2))
    draws = TRUTH.sample(mixed, 2, seed=2)
    assert draws.shape == (2, 3, 4) and (draws[..., 0] >= CUT).all()


def test_parameters_round_trip_and_old_dicts_still_load():
    rebuilt = TruthModel.from_dict(TRUTH.to_dict())
    assert rebuilt == TRUTH
    galaxy = pd.DataFrame(MODEL.sample(ROWS, 1, seed=1)[0], columns=list(GALAXY))
    np.testing.assert_array_equal(rebuilt.satellite_model.log_prob(ROWS, galaxy),
                                  MODEL.log_prob(ROWS, galaxy))
    assert "satellites" not in TruthModel().to_dict()
    assert TruthModel.from_dict(TruthModel().to_dict()).satellites is None
    with pytest.raises(SimulationError, match="unknown satellite-truth parameters"):
        TruthModel.from_dict({**TRUTH.to_dict(), "satellites": {"typo": 1.0}})
    assert SubhaloModel.from_dict(SubhaloModel().to_dict()) == SubhaloModel()


@pytest.mark.parametrize(("call", "message"), [
    (lambda: MODEL.satellite_count_log_prob({"M_h": [12.0]}, [-1]), "integers >= 0"),
    (lambda: MODEL.satellite_count_log_prob({"M_h": [12.0]}, [1.5]), "integers >= 0"),
    (lambda: MODEL.satellite_count_mean({"M_peak": [12.0]}), "'M_h'"),
    (lambda: MODEL.log_prob(ROWS.drop(columns="sSFR_central"), ROWS.assign(smass=9.0),
                            ("smass",)), "sSFR_central"),
    (lambda: TRUTH.log_prob(ROWS.drop(columns="r_host").assign(is_central=False),
                            ROWS.assign(smass=9.0), ("smass",)), "r_host"),
    (lambda: TruthModel().log_prob(ROWS.assign(is_central=False), ROWS.assign(smass=9.0),
                                   ("smass",)), "no satellite part"),
    (lambda: SubhaloModel(survival_fraction=0.0), "survival_fraction"),
])
def test_bad_input_raises_one_line_simulation_errors(call, message):
    with pytest.raises(SimulationError, match=message) as error:
        call()
    assert "\n" not in str(error.value)


def test_satellite_model_is_bound_to_its_central_relations():
    shifted = TruthModel(shmr_norm=-1.345, satellites=SatelliteTruth())
    assert isinstance(shifted.satellite_model, SatelliteModel)
    np.testing.assert_allclose(shifted.satellite_model.smass_mean([12.0])
                               - MODEL.smass_mean([12.0]), 0.1)


def test_jeans_dispersion_table_matches_direct_integration():
    """sigma_r^2(s) nu(s) = int_s^inf nu(t) G M(<t) / t^2 dt (units R_vir = V_vir = 1),
    integrated with scipy.quad at off-grid points: the table agrees to 1e-3."""
    factor = 0.5
    for s, c in [(0.013, 4.7), (0.21, 9.3), (0.77, 23.0), (0.5, 12.0)]:
        tracer = factor * c

        def nu(x, tracer=tracer):
            return 1.0 / (tracer * x * (1.0 + tracer * x) ** 2)

        def integrand(x, c=c, nu=nu):
            return nu(x) * nfw_enclosed(c * x) / (nfw_enclosed(c) * x**2)

        value = integrate.quad(integrand, s, 1.0, limit=200)[0] + integrate.quad(
            integrand, 1.0, np.inf, limit=200)[0]
        direct = np.sqrt(value / nu(s))
        table = radial_dispersion(np.array([s]), np.array([c]), factor)[0]
        assert table == pytest.approx(direct, rel=1e-3)
