"""The synthetic universe with satellites: unchanged centrals, geometry, dynamics, truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from galhalo.catalog import read_catalog, write_catalog
from galhalo.catalog.hosts import central_values
from galhalo.catalog.schema import GALAXY, SUBHALO
from galhalo.cli import app
from galhalo.sim.cosmology import Cosmology
from galhalo.sim.subhalos import (
    SubhaloModel,
    nfw_enclosed,
    radial_dispersion,
)
from galhalo.sim.truth import TruthModel
from galhalo.sim.universe import simulate

SMALL = {"n_halos": 6000, "box": 90.0, "seed": 7}
KS_CRITICAL = 1.949  # Kolmogorov distribution at alpha = 0.001, times sqrt(n)


@pytest.fixture(scope="module")
def plain():
    return simulate(**SMALL)


@pytest.fixture(scope="module")
def with_satellites():
    return simulate(**SMALL, satellites=True)


@pytest.fixture(scope="module")
def satellites(with_satellites):
    table = with_satellites.table
    return table[~table["is_central"]].reset_index(drop=True)


def test_centrals_are_identical_with_and_without_satellites(plain, with_satellites):
    table = with_satellites.table
    n = SMALL["n_halos"]
    assert table["is_central"].to_numpy()[:n].all() and not table["is_central"][n:].any()
    centrals = table.iloc[:n][list(plain.table.columns)]
    pd.testing.assert_frame_equal(centrals, plain.table)
    assert "satellites" not in plain.meta.truth
    assert list(plain.table.columns) == ["halo_id", "M_h", "C_h", "S_h", "z_h", "Delta3_h",
                                         *GALAXY, "x", "y", "z", "vx", "vy", "vz"]
    with_truth = dict(with_satellites.meta.truth)
    with_truth.pop("satellites")
    assert with_truth == plain.meta.truth
    assert table.loc[:n - 1, list(SUBHALO)].isna().all().all()


def test_rows_ids_and_counts(with_satellites, satellites):
    table = with_satellites.table
    n = SMALL["n_halos"]
    np.testing.assert_array_equal(table["halo_id"], np.arange(len(table)))
    np.testing.assert_array_equal(table["host_id"][:n], np.arange(n))
    counts = np.bincount(satellites["host_id"], minlength=n)
    np.testing.assert_array_equal(table["N_sat"][:n], counts)
    np.testing.assert_array_equal(satellites["N_sat"], counts[satellites["host_id"]])
    assert with_satellites.meta.extra["n_satellites"] == len(satellites) > 500
    assert (satellites["smass"] >= TruthModel().stellar_mass_cut).all()
    hosts = table.iloc[satellites["host_id"]]
    for name in ("M_h", "C_h", "S_h", "z_h", "Delta3_h"):
        np.testing.assert_array_equal(satellites[name], hosts[name])
    assert 0 <= with_satellites.meta.extra["expected_missing_satellites"] < 0.01 * len(satellites)


def test_satellites_lie_within_the_host_virial_radius_inside_the_box(with_satellites,
                                                                       satellites):
    table = with_satellites.table
    box = SMALL["box"]
    position = satellites[["x", "y", "z"]].to_numpy()
    assert ((position >= 0) & (position < box)).all()
    central = table.iloc[satellites["host_id"]][["x", "y", "z"]].to_numpy()
    offset = position - central
    offset -= box * np.round(offset / box)
    radius = Cosmology().virial_radius(satellites["M_h"].to_numpy())
    distance = np.linalg.norm(offset, axis=1) / radius
    np.testing.assert_allclose(distance, satellites["r_host"], rtol=1e-9)
    assert (satellites["r_host"] <= 1.0).all()


def _host_concentration(catalog, satellites) -> np.ndarray:
    """The hosts' NFW concentration as the universe drew it (the truth's profile)."""
    model = TruthModel.from_dict(catalog.meta.truth).satellite_model
    return model.satellite_profile(satellites)[1] / SubhaloModel().concentration_factor


def test_radial_profile_is_the_truncated_nfw_ks(with_satellites, satellites):
    """r_host through the truncated NFW CDF of c_sat = factor x c_host is uniform."""
    factor = SubhaloModel().concentration_factor
    c_sat = factor * _host_concentration(with_satellites, satellites)
    pit = nfw_enclosed(c_sat * satellites["r_host"]) / nfw_enclosed(c_sat)
    assert stats.kstest(pit, "uniform").statistic < KS_CRITICAL / np.sqrt(len(pit))


def test_velocities_have_the_jeans_dispersion(with_satellites, satellites):
    table = with_satellites.table
    c_host = _host_concentration(with_satellites, satellites)
    sigma = (radial_dispersion(satellites["r_host"].to_numpy(), c_host,
                               SubhaloModel().concentration_factor)
             * Cosmology().virial_velocity(satellites["M_h"].to_numpy()))
    radial = satellites["v_r"].to_numpy() / sigma
    n = len(radial)
    assert abs(radial.mean()) < 5 / np.sqrt(n)
    assert abs(radial.std() - 1.0) < 5 / np.sqrt(2 * n)
    tangential = (satellites["v_t"].to_numpy() / sigma) ** 2 / 2.0  # chi2_2 / 2: mean 1, sd 1
    assert abs(tangential.mean() - 1.0) < 5 / np.sqrt(n)
    relative = (satellites[["vx", "vy", "vz"]].to_numpy()
                - table.iloc[satellites["host_id"]][["vx", "vy", "vz"]].to_numpy())
    np.testing.assert_allclose((relative**2).sum(axis=1),
                               satellites["v_r"] ** 2 + satellites["v_t"] ** 2, rtol=1e-9)


def test_satellite_galaxies_follow_the_truth_density_pit(with_satellites, satellites):
    truth = TruthModel.from_dict(with_satellites.meta.truth)
    condition = satellites.assign(
        sSFR_central=central_values(with_satellites.table, "sSFR")[SMALL["n_halos"]:])
    for name in GALAXY:
        pit = truth.cdf(condition, condition[name].to_numpy(), name)
        assert stats.kstest(pit, "uniform").statistic < KS_CRITICAL / np.sqrt(len(pit))


def test_satellite_counts_follow_the_count_law(with_satellites):
    centrals = with_satellites.table.iloc[:SMALL["n_halos"]]
    model = TruthModel.from_dict(with_satellites.meta.truth).satellite_model
    mean = model.satellite_count_mean(centrals)
    variance = model.satellite_count_variance(centrals)
    total = centrals["N_sat"].sum()
    assert abs(total - mean.sum()) < 5 * np.sqrt(variance.sum())
    # Standardised residuals: unit variance (5 sigma of a variance estimate with
    # kurtosis; hosts with a mean above 0.05 only).
    used = mean > 0.05
    z = (centrals["N_sat"].to_numpy()[used] - mean[used]) / np.sqrt(variance[used])
    assert abs(z.var() - 1.0) < 5 * np.sqrt(np.mean(z**4) / used.sum())


def test_satellites_of_quenched_centrals_are_more_quenched_at_fixed_host_mass(
        with_satellites, satellites):
    """Galactic conformity: per host-mass bin, f_Q of satellites of quenched centrals
    minus that of star-forming centrals; combined (inverse-variance) > 3 sigma."""
    central_quenched = central_values(with_satellites.table, "sSFR")[SMALL["n_halos"]:] < -11
    quenched = satellites["sSFR"].to_numpy() < -11
    mass = satellites["M_h"].to_numpy()
    weights, differences = [], []
    for low, high in [(11.5, 12.0), (12.0, 12.5), (12.5, 13.0), (13.0, 14.0)]:
        in_bin = (mass >= low) & (mass < high)
        a, b = quenched[in_bin & central_quenched], quenched[in_bin & ~central_quenched]
        if len(a) < 10 or len(b) < 10:
            continue
        p = quenched[in_bin].mean()
        variance = p * (1 - p) * (1 / len(a) + 1 / len(b))
        differences.append(a.mean() - b.mean())
        weights.append(1 / variance)
    weights = np.array(weights)
    combined = (weights * np.array(differences)).sum() / np.sqrt(weights.sum())
    assert combined > 3.0


def test_catalog_round_trips_and_meta_truth_reproduces_log_prob(with_satellites, tmp_path):
    path = write_catalog(with_satellites, tmp_path / "sats.parquet")
    again = read_catalog(path)
    assert again.has_satellites
    pd.testing.assert_frame_equal(again.table, with_satellites.table)
    table = again.table.assign(sSFR_central=central_values(again.table, "sSFR"))
    original = TruthModel.from_dict(with_satellites.meta.truth)
    rebuilt = TruthModel.from_dict(again.meta.truth)
    np.testing.assert_array_equal(rebuilt.log_prob(table, table), original.log_prob(table, table))
    assert np.isfinite(rebuilt.log_prob(table, table)).all()


def test_satellites_depend_on_the_seed_and_are_reproducible():
    first = simulate(300, box=40.0, seed=2, satellites=True).table
    pd.testing.assert_frame_equal(first, simulate(300, box=40.0, seed=2, satellites=True).table)
    other = simulate(300, box=40.0, seed=3, satellites=True).table
    assert not first["M_h"].equals(other["M_h"])


def test_command_line_writes_a_valid_satellite_catalog(tmp_path):
    runner = CliRunner()
    out = tmp_path / "sats.parquet"
    result = runner.invoke(app, ["simulate", "--out", str(out), "--n-halos", "400",
                                 "--box", "50", "--satellites"])
    assert result.exit_code == 0, result.output
    catalog = read_catalog(out)
    assert catalog.has_satellites and len(catalog.satellites()) > 0
    assert "satellites" in result.output
    help_text = runner.invoke(app, ["simulate", "--help"],
                              env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"}).output
    assert "--satellites" in help_text and "centrals" in help_text
    refused = runner.invoke(app, ["simulate", "--out", str(tmp_path / "h.parquet"),
                                  "--n-halos", "100", "--box", "50", "--halos-only",
                                  "--satellites"])
    assert refused.exit_code == 2 and "satellites need galaxies" in refused.output


def test_truth_conditional_scores_satellite_rows_with_the_satellite_density(with_satellites):
    """Evaluation's truth wrapper never scores a satellite as a central: it routes the
    rows (taking sSFR_central from the hosts) or refuses when sub-halo columns are gone."""
    from galhalo.errors import SimulationError
    from galhalo.evaluate.truth import TruthConditional

    table = with_satellites.table
    truth = TruthModel.from_dict(with_satellites.meta.truth)
    scored = TruthConditional(truth).log_prob(table, table)
    expected = truth.log_prob(table.assign(sSFR_central=central_values(table, "sSFR")), table)
    np.testing.assert_array_equal(scored, expected)
    with pytest.raises(SimulationError, match="M_peak"):
        TruthConditional(truth).log_prob(table.drop(columns="M_peak"), table)
