"""Occupation assembly bias of the synthetic universe: the satellite count mean depends on
the host's C_h residual at fixed mass (``SubhaloModel.count_assembly``), exactly."""

from __future__ import annotations

import numpy as np
import pytest

from galhalo.errors import SimulationError
from galhalo.evaluate.truth import CountTruth
from galhalo.sim.satellite_truth import SatelliteTruth
from galhalo.sim.subhalos import SubhaloModel
from galhalo.sim.truth import TruthModel
from galhalo.sim.universe import simulate

TRUTH = TruthModel(satellites=SatelliteTruth())
MODEL = TRUTH.satellite_model
ASSEMBLY = SubhaloModel().count_assembly
WITHOUT = TruthModel(satellites=SatelliteTruth(subhalos=SubhaloModel(count_assembly=0.0)))


def hosts_at(log_mass: float, residual: np.ndarray) -> dict[str, np.ndarray]:
    """Hosts of one mass whose C_h has the standardised residual ``residual``."""
    latents = np.zeros((len(residual), 3))
    latents[:, 1] = residual
    mass = np.full(len(residual), log_mass)
    return {"M_h": mass, "C_h": TRUTH.halo_model.properties(mass, latents)[:, 1]}


def test_default_is_negative_and_the_residual_is_the_profiles():
    assert ASSEMBLY == -0.3
    hosts = hosts_at(12.7, np.array([-1.5, 0.0, 2.0]))
    np.testing.assert_allclose(MODEL.concentration_residual(hosts), [-1.5, 0.0, 2.0],
                               atol=1e-12)
    # concentrated hosts (r_C > 0) hold fewer satellites; +-1 sigma: a factor exp(2a)
    mean = MODEL.satellite_count_mean(hosts_at(13.0, np.array([-1.0, 1.0])))
    assert mean[1] / mean[0] == pytest.approx(np.exp(2 * ASSEMBLY), rel=1e-12)


def test_mean_at_fixed_mass_is_unchanged_over_the_residual_law():
    """E[A(r)] = 1 for r ~ N(0, 1): Gauss-Hermite quadrature (exact to 1e-12 for this
    entire integrand) of the per-host mean over the residual equals the mass-only mean,
    which is also the universe's without the term."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(60)
    weights = weights / weights.sum()
    for log_mass in (11.8, 13.0, 14.5):
        per_host = MODEL.satellite_count_mean(hosts_at(log_mass, nodes))
        fixed = MODEL.satellite_count_mean({"M_h": [log_mass]}, at_fixed_mass=True)[0]
        assert (weights * per_host).sum() == pytest.approx(fixed, rel=1e-12)
        assert fixed == pytest.approx(
            WITHOUT.satellite_model.satellite_count_mean({"M_h": [log_mass]})[0], rel=1e-12)
    factor = MODEL.params.subhalos.assembly_factor(nodes)
    assert (weights * factor).sum() == pytest.approx(1.0, abs=1e-12)


def test_count_law_stays_an_exact_negative_binomial_with_the_shifted_mean():
    hosts = hosts_at(13.4, np.array([-2.0, 0.5, 1.7]))
    counts = np.arange(0, 400)
    mean = MODEL.satellite_count_mean(hosts)
    for i in range(3):
        halo = {name: np.full(len(counts), values[i]) for name, values in hosts.items()}
        p = np.exp(MODEL.satellite_count_log_prob(halo, counts))
        assert p.sum() == pytest.approx(1.0, abs=1e-10)
        assert (p * counts).sum() == pytest.approx(mean[i], rel=1e-10)
        assert (p * counts * (counts - 1)).sum() == pytest.approx(
            MODEL.satellite_count_factorial2(hosts)[i], rel=1e-9)
    draws = MODEL.satellite_count_sample(hosts, 20_000, seed=3)
    error = np.sqrt(MODEL.satellite_count_variance(hosts) / 20_000)
    assert (np.abs(draws.mean(axis=0) - mean) < 5 * error).all()


@pytest.mark.parametrize("call", [
    lambda h: MODEL.satellite_count_mean(h),
    lambda h: MODEL.satellite_count_variance(h),
    lambda h: MODEL.satellite_count_factorial2(h),
    lambda h: MODEL.satellite_count_log_prob(h, [1]),
    lambda h: MODEL.satellite_count_sample(h, 2),
])
def test_count_functions_refuse_a_table_without_c_h(call):
    with pytest.raises(SimulationError, match="'C_h'") as error:
        call({"M_h": np.array([13.0])})
    assert "\n" not in str(error.value)


def test_without_the_term_mass_alone_suffices_and_old_dicts_load_without_it():
    law = WITHOUT.satellite_model
    assert law.count_condition == ("M_h",) and MODEL.count_condition == ("M_h", "C_h")
    assert law.satellite_count_mean({"M_h": [13.0]})[0] > 0
    old = SubhaloModel(count_assembly=0.0).to_dict()
    del old["count_assembly"]  # a parameter dict written before the term existed
    assert SubhaloModel.from_dict(old).count_assembly == 0.0
    assert SubhaloModel.from_dict(SubhaloModel().to_dict()) == SubhaloModel()
    assert CountTruth(TRUTH).condition == ("M_h", "C_h")
    assert CountTruth(WITHOUT).condition == ("M_h",)
    with pytest.raises(SimulationError, match="count_assembly"):
        SubhaloModel(count_assembly=np.nan)


@pytest.fixture(scope="module")
def hosts():
    """Per host of a universe with satellites: N_sat, the truth's mean and variance, the
    mean at fixed mass and whether the C_h residual is above 0."""
    catalog = simulate(8000, 100.0, 17, satellites=True)
    law = TruthModel.from_dict(catalog.meta.truth).satellite_model
    table = catalog.centrals().table
    return {"counts": table["N_sat"].to_numpy(), "mean": law.satellite_count_mean(table),
            "variance": law.satellite_count_variance(table),
            "fixed": law.satellite_count_mean(table, at_fixed_mass=True),
            "upper": law.concentration_residual(table) > 0}


def test_simulated_counts_in_c_h_halves_differ_as_predicted(hosts):
    """Per half of the C_h residual, sum(N_sat) / sum(mean at fixed mass) is the
    half's mean assembly factor; the ratio of the two halves matches the truth's
    per-host means (5 sigma, delta method with the exact per-host variances), and the
    prediction is many sigma from a mass-only law's 1."""
    counts, mean, variance, fixed, upper = (hosts[name] for name in (
        "counts", "mean", "variance", "fixed", "upper"))
    log_ratio = {}
    for name, rows in (("observed", counts), ("predicted", mean)):
        log_ratio[name] = (np.log(rows[upper].sum() / fixed[upper].sum())
                           - np.log(rows[~upper].sum() / fixed[~upper].sum()))
    sigma = np.sqrt(variance[upper].sum() / mean[upper].sum() ** 2
                    + variance[~upper].sum() / mean[~upper].sum() ** 2)
    assert abs(log_ratio["observed"] - log_ratio["predicted"]) < 5 * sigma
    assert log_ratio["predicted"] < -5 * sigma


def test_per_host_truth_mean_matches_the_simulated_counts_in_each_half(hosts):
    counts, mean, variance = hosts["counts"], hosts["mean"], hosts["variance"]
    for rows in (hosts["upper"], ~hosts["upper"]):
        assert abs(counts[rows].sum() - mean[rows].sum()) < 5 * np.sqrt(variance[rows].sum())
