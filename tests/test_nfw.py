"""The HOD's satellite profile as a model family ``nfw`` (models/nfw.py): the exact
density integrates to one and factorises into the published NFW, Gaussian and Rayleigh
laws, samples follow the CDF, maximum likelihood recovers the parameters of data drawn
from the model (within 5 Fisher sigmas) and the synthetic universe's satellite profile,
the store round trip, the catalog's metadata, and bad input."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from typer.testing import CliRunner

import galhalo
from galhalo.catalog import Catalog, write_catalog
from galhalo.catalog.meta import CatalogMeta
from galhalo.catalog.virial import virial_radius, virial_velocity
from galhalo.cli import app
from galhalo.errors import ModelError
from galhalo.models import load_model, model_family
from galhalo.models.nfw import NFWModel, nfw_log_density, radial_score, rounded_up
from galhalo.profiles import duffy08_concentration, nfw_enclosed, nfw_radii
from galhalo.sim.subhalos import SubhaloModel

TARGET = "r_host,v_r,v_t"
#: The law the data are drawn from: c = C_FACTOR c_Duffy exp(C_SLOPE r_C), sigma = S_V V_vir.
C_FACTOR, S_V, C_SLOPE, R_MAX = 0.5, 0.7, 0.4, 1.5
REDSHIFT, OMEGA_M = 0.4, 0.27
SIGMAS = 5.0


def drawn(rows: int, seed: int, slope: float = 0.0) -> pd.DataFrame:
    """Satellites of hosts uniform in 12 < log M < 15 drawn from the nfw law (by hand,
    with the Lambert-W inverse CDF): ln C_h = 0.1 (M_h - 13) + 0.2 g, g standard normal."""
    rng = np.random.default_rng(seed)
    mass, g = rng.uniform(12, 15, rows), rng.standard_normal(rows)
    c = C_FACTOR * duffy08_concentration(mass, REDSHIFT) * np.exp(slope * g)
    sigma = S_V * virial_velocity(mass, REDSHIFT, OMEGA_M)
    return pd.DataFrame({"M_h": mass, "C_h": np.exp(0.1 * (mass - 13) + 0.2 * g),
                         "r_host": nfw_radii(c, rng.random(rows), R_MAX),
                         "v_r": sigma * rng.standard_normal(rows),
                         "v_t": sigma * np.hypot(*rng.standard_normal((2, rows)))})


@pytest.fixture(scope="module")
def model() -> NFWModel:
    return NFWModel(r_max=R_MAX, redshift=REDSHIFT, omega_m=OMEGA_M).fit(
        drawn(4000, seed=1), "M_h", TARGET, valid=drawn(100, seed=9))


def test_duffy08_is_the_published_relation():
    assert duffy08_concentration(np.log10(2e12)) == pytest.approx(7.85, rel=1e-12)
    assert duffy08_concentration(14.0, 1.0) == pytest.approx(
        7.85 * (1e14 / 2e12) ** -0.081 * 2.0**-0.71, rel=1e-12)


def test_virial_velocity_is_sqrt_gm_over_the_physical_radius():
    for log_mass, z in ((12.0, 0.0), (14.5, 1.0)):
        radius = virial_radius(log_mass, z, OMEGA_M) / (1 + z)  # physical Mpc/h
        assert virial_velocity(log_mass, z, OMEGA_M) == pytest.approx(
            math.sqrt(4.30091e-9 * 10**log_mass / radius), rel=1e-12)


def test_the_density_integrates_to_one_and_factorises(model):
    """For a few masses, integral over r_host of p(r_host, v_r, v_t) = N(v_r; 0, sigma)
    Rayleigh(v_t; sigma), the published laws with sigma = s_v V_vir."""
    for log_mass in (12.0, 13.3, 14.8):
        sigma = model.parameters["s_v"] * virial_velocity(log_mass, REDSHIFT, OMEGA_M)
        v_r, v_t = 0.3 * sigma, 1.2 * sigma
        halo = pd.DataFrame({"M_h": [log_mass]})

        def density(s, v_r=v_r, v_t=v_t, halo=halo):
            return math.exp(model.log_prob(halo, pd.DataFrame(
                {"r_host": [s], "v_r": [v_r], "v_t": [v_t]}))[0])
        total, _ = integrate.quad(density, 0.0, R_MAX, points=[0.05, 0.3], limit=200)
        expected = stats.norm.pdf(v_r, scale=sigma) * stats.rayleigh.pdf(v_t, scale=sigma)
        assert total == pytest.approx(expected, rel=1e-7)
        # The radial factor alone: the NFW density written out.
        c = model.parameters["c_factor"] * duffy08_concentration(log_mass, REDSHIFT)
        s = 0.37
        radial = c**2 * s / (1 + c * s) ** 2 / (math.log(1 + c * R_MAX) - c * R_MAX
                                                / (1 + c * R_MAX))
        assert density(s) == pytest.approx(radial * expected, rel=1e-10)


def test_samples_follow_the_cdf(model):
    n = 20000
    halos = pd.DataFrame({"M_h": [12.5, 14.5]})
    draws = model.sample(halos, n, seed=3)
    assert draws.shape == (n, 2, 3)
    assert draws.tolist() == model.sample(halos, n, seed=3).tolist()
    critical = 1.95 / math.sqrt(n)  # the KS statistic's 0.1% critical value
    for row, log_mass in enumerate(halos["M_h"]):
        c = model.parameters["c_factor"] * duffy08_concentration(log_mass, REDSHIFT)
        sigma = model.parameters["s_v"] * virial_velocity(log_mass, REDSHIFT, OMEGA_M)
        s, v_r, v_t = draws[:, row].T
        assert 0 < s.min() and s.max() <= R_MAX
        cdf = nfw_enclosed(c * s) / nfw_enclosed(c * R_MAX)
        assert stats.kstest(cdf, "uniform").statistic < critical
        assert stats.kstest(v_r / sigma, "norm").statistic < critical
        assert stats.kstest(v_t / sigma, "rayleigh").statistic < critical
        # predict: the mean, within 5 standard errors of the sample mean.
        mean = model.predict(halos)[row]
        spread = draws[:, row].std(axis=0) / math.sqrt(n)
        assert np.all(np.abs(draws[:, row].mean(axis=0) - mean) < SIGMAS * spread)
        assert mean[0] == pytest.approx(integrate.quad(
            lambda x, c=c: x * c**2 * x / (1 + c * x) ** 2, 0, R_MAX)[0]
            / nfw_enclosed(c * R_MAX), rel=1e-8)


def test_maximum_likelihood_recovers_the_law(model):
    for name, true in (("c_factor", C_FACTOR), ("s_v", S_V)):
        assert abs(model.parameters[name] - true) < SIGMAS * model.errors[name]
    # The Fisher errors are those of the sample: s_v / sqrt(6 n) for s_v.
    rows = model.metrics["train_rows"]
    assert model.errors["s_v"] == pytest.approx(S_V / math.sqrt(6 * rows), rel=0.05)
    assert 0.01 < model.errors["c_factor"] < 0.1
    slope = NFWModel(r_max=R_MAX, redshift=REDSHIFT, omega_m=OMEGA_M).fit(
        drawn(4000, seed=2, slope=C_SLOPE), "M_h,C_h", TARGET)
    for name, true in (("c_factor", C_FACTOR), ("c_slope", C_SLOPE)):
        assert abs(slope.parameters[name] - true) < SIGMAS * slope.errors[name]
    assert slope.residual_line["slope"] == pytest.approx(0.1, abs=0.02)
    # The fit is the maximum of the training likelihood: half a sigma either way lowers it.
    data = drawn(4000, seed=1)
    base = model.log_prob(data, data).sum()
    for name, sign in (("c_factor", -1), ("c_factor", 1), ("s_v", -1), ("s_v", 1)):
        other = copy.deepcopy(model)
        other.parameters[name] += sign * 0.5 * model.errors[name]
        assert other.log_prob(data, data).sum() < base


def test_the_radial_score_is_the_derivative_in_ln_c():
    s, c = np.array([0.01, 0.2, 0.9, 1.4]), np.array([1.5, 4.0, 9.0, 20.0])
    step = 1e-6
    numeric = (nfw_log_density(s, c * math.exp(step), R_MAX)
               - nfw_log_density(s, c * math.exp(-step), R_MAX)) / (2 * step)
    np.testing.assert_allclose(radial_score(s, c, R_MAX), numeric, rtol=1e-6, atol=1e-9)


def test_save_load_round_trip(model, tmp_path):
    directory = model.save(tmp_path / "nfw")
    config = json.loads((directory / "config.json").read_text())
    assert (config["family"], config["redshift"], config["omega_m"], config["r_max"]) == \
        ("nfw", REDSHIFT, OMEGA_M, R_MAX)
    loaded = load_model(directory)
    assert isinstance(loaded, NFWModel) and model_family("nfw") is NFWModel
    data = drawn(50, seed=5)
    assert loaded.log_prob(data, data).tolist() == model.log_prob(data, data).tolist()
    assert loaded.sample(data, 2, 7).tolist() == model.sample(data, 2, 7).tolist()
    del config["r_max"]
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError):
        load_model(directory)


def test_redshift_and_omega_m_come_from_the_catalog_and_satellites_are_kept():
    data = drawn(600, seed=6)
    rows = len(data)
    centrals = data.iloc[:40].assign(r_host=np.nan, v_r=np.nan, v_t=np.nan)
    table = pd.concat([centrals, data], ignore_index=True).assign(
        host_id=np.arange(rows + 40), is_central=np.r_[np.ones(40, bool), np.zeros(rows, bool)])
    catalog = Catalog(table, CatalogMeta(redshift=REDSHIFT, cosmology={"Om0": OMEGA_M}))
    fitted = NFWModel().fit(catalog, "M_h", TARGET)
    assert (fitted.redshift, fitted.omega_m) == (REDSHIFT, OMEGA_M)
    assert fitted.metrics["train_rows"] + fitted.metrics["valid_rows"] == rows
    # r_max: the largest training r_host rounded up to 0.1.
    assert data["r_host"].max() <= fitted.r_max < data["r_host"].max() + 0.1
    assert round(10 * fitted.r_max, 9) == round(10 * fitted.r_max)
    for largest, expected in ((0.3, 0.3), (0.30001, 0.4), (1.0, 1.0), (1.0 + 1e-12, 1.1),
                              (2.95, 3.0)):
        assert rounded_up(largest) == pytest.approx(expected, abs=1e-12)
        assert rounded_up(largest) >= largest
    plain = NFWModel().fit(data, "M_h", TARGET)
    assert (plain.redshift, plain.omega_m) == (0.0, pytest.approx(0.3089))


def test_bad_input(model):
    halos = pd.DataFrame({"M_h": [13.0, 13.0, 13.0, 13.0]})
    targets = pd.DataFrame({"r_host": [-0.1, 0.0, R_MAX + 0.01, 0.5],
                            "v_r": [0.0, 0.0, 0.0, 0.0], "v_t": [100.0, 100.0, 100.0, -1.0]})
    assert np.isneginf(model.log_prob(halos, targets)).all()
    data = drawn(100, seed=8)
    with pytest.raises(ModelError, match=r"target is exactly r_host,v_r,v_t, got 'r_host,v_r'"):
        NFWModel().fit(data, "M_h", "r_host,v_r")
    with pytest.raises(ModelError, match=r"target is exactly"):
        NFWModel().fit(data, "M_h", "v_t,v_r,r_host")
    with pytest.raises(ModelError, match=r"condition is M_h or M_h,C_h, got 'C_h'"):
        NFWModel().fit(data, "C_h", TARGET)
    with pytest.raises(ModelError, match=r"'r_host': 1 of \d+ rows are <= 0"):
        NFWModel().fit(data.assign(r_host=np.r_[-0.2, data["r_host"].iloc[1:]]),
                       "M_h", TARGET, valid=data)
    with pytest.raises(ModelError, match=r"condition column 'C_h': 1 of \d+ rows are <= 0"):
        NFWModel().fit(data.assign(C_h=np.r_[0.0, data["C_h"].iloc[1:]]), "M_h,C_h", TARGET)
    with pytest.raises(ModelError, match=r"training rows have r_host > r_max = 0.5"):
        NFWModel(r_max=0.5).fit(data, "M_h", TARGET)
    with pytest.raises(ModelError, match=r"r_max must be None or a finite number > 0"):
        NFWModel(r_max=-1.0)
    with pytest.raises(ModelError, match="not fitted"):
        NFWModel().sample(halos)


@pytest.fixture(scope="module")
def universe() -> Catalog:
    """A synthetic universe with satellites (10,000 hosts at the default density)."""
    return galhalo.simulate(10_000, 106.7, seed=4, satellites=True)


def test_the_synthetic_universe_s_satellite_profile_is_recovered(universe):
    """The universe places satellites on a truncated NFW (r_max = 1) of c = 0.5 c_Duffy
    exp(0.3 r_C) (sim/subhalos.py; clipped to [2.5, 30]): the nfw family conditioned on
    M_h,C_h has that form, and recovers both numbers within 5 Fisher sigmas."""
    truth = SubhaloModel()
    fitted = NFWModel().fit(universe, "M_h,C_h", TARGET)
    assert fitted.r_max == 1.0 and fitted.redshift == universe.meta.redshift
    for name, true in (("c_factor", truth.concentration_factor),
                       ("c_slope", truth.concentration_scatter)):
        assert abs(fitted.parameters[name] - true) < SIGMAS * fitted.errors[name], name


def test_cli_train_nfw(universe, tmp_path):
    catalog = write_catalog(universe, tmp_path / "sats.parquet")
    runner = CliRunner()
    arguments = ["train", "--model", "nfw", "--catalog", str(catalog), "--galaxies",
                 "satellites", "--condition", "M_h", "--out"]
    result = runner.invoke(app, [*arguments, str(tmp_path / "m"), "--target", TARGET])
    assert result.exit_code == 0, result.output
    model = load_model(tmp_path / "m")
    assert model.metrics["train_rows"] + model.metrics["valid_rows"] == \
        int((~universe.central_mask()).sum())
    result = runner.invoke(app, [*arguments, str(tmp_path / "bad"), "--target", "r_host,v_r"])
    assert result.exit_code == 2, result.output
    assert "error: an nfw model's target is exactly r_host,v_r,v_t" in result.output
