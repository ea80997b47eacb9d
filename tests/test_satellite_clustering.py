"""Satellites and small scales: wp(rp) / xi(r) from 0.1 Mpc/h by population, and the
satellite statistics (fraction, radial profile, occupation, quenching, conformity).

Every catalog is built here: hosts at Poisson positions in a periodic box, each with its
central at the host centre and a negative-binomial number of satellites on a power-law
number-density profile n(r) ~ r^-GAMMA inside the host's virial radius. Everything the
statistics should recover is therefore known in closed form; tolerances are 5 sigma of
the estimator's own error (jackknife, binomial or large-sample), fixed seeds.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from galhalo.catalog import Catalog, CatalogMeta, read_catalog, write_catalog
from galhalo.catalog.virial import virial_radius
from galhalo.cli import app
from galhalo.clustering import ClusteringError, log_edges, wp, xi
from galhalo.evaluate.satellite_clustering import (
    CROSS,
    SmallScaleSettings,
    measure_small_scales,
)
from galhalo.evaluate.satellite_statistics import (
    conformity,
    occupation,
    quenched_fractions,
    radial_profile,
    satellite_distances,
    satellite_fraction,
    satellite_statistics,
)

BOX = 100.0
GAMMA = 1.5  # n(r) ~ r^-1.5 inside R_vir: P(< r) = (r / R_vir)^1.5
OMEGA_M = 0.3089
THREADS = 1
SIGMA = 5.0
runner = CliRunner()


def make_catalog(seed: int = 1, n_hosts: int = 3000, masses=(13.0, 14.0),
                 mean_sat=(1.0, 4.0), shape: float | None = 2.0, conform: float = 0.0,
                 box: float = BOX, r_host: bool = True) -> Catalog:
    """Hosts of the given log masses (equal shares) at uniform positions; N_sat per host
    NegBin(mean, shape) (Poisson for shape None); satellites at r = R_vir u^(1/(3 -
    GAMMA)) in random directions. Centrals: smass U(10, 12), quenched with p = 0.4;
    satellites: smass U(9, 11), quenched with p = 0.3 + conform (central quenched).
    Quenched galaxies have sSFR -12, color 1.0 (else -10, 0.6), +-0.05 noise."""
    rng = np.random.default_rng(seed)
    mass = np.asarray(masses)[np.arange(n_hosts) % len(masses)]
    mean = np.asarray(mean_sat)[np.arange(n_hosts) % len(masses)]
    if shape is None:
        n_sat = rng.poisson(mean)
    else:
        n_sat = rng.negative_binomial(shape, shape / (shape + mean))
    centre = rng.uniform(0, box, (n_hosts, 3))
    host = np.repeat(np.arange(n_hosts), n_sat)
    radius = virial_radius(mass, 0.0, OMEGA_M)
    r = rng.uniform(size=host.size) ** (1.0 / (3.0 - GAMMA))
    direction = rng.normal(size=(host.size, 3))
    direction /= np.linalg.norm(direction, axis=1)[:, None]
    satellite_xyz = np.mod(centre[host] + (r * radius[host])[:, None] * direction, box)
    central_quenched = rng.uniform(size=n_hosts) < 0.4
    satellite_quenched = rng.uniform(size=host.size) < 0.3 + conform * central_quenched[host]
    quenched = np.concatenate([central_quenched, satellite_quenched])
    xyz = np.concatenate([centre, satellite_xyz])
    xyz[xyz >= box] = 0.0
    n = n_hosts + host.size
    table = pd.DataFrame({
        "halo_id": np.arange(n), "host_id": np.concatenate([np.arange(n_hosts), host]),
        "is_central": np.arange(n) < n_hosts,
        "M_h": np.concatenate([mass, mass[host]]),
        "smass": np.concatenate([rng.uniform(10, 12, n_hosts), rng.uniform(9, 11, host.size)]),
        "color": np.where(quenched, 1.0, 0.6) + rng.normal(0, 0.05, n),
        "sSFR": np.where(quenched, -12.0, -10.0) + rng.normal(0, 0.05, n),
        "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]})
    if r_host:
        table["r_host"] = np.concatenate([np.full(n_hosts, np.nan), r])
    return Catalog(table, CatalogMeta(box_size=box, cosmology={"Om0": OMEGA_M}))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return make_catalog()


# ------------------------------------------------------------------ small scales


def one_halo_wp(table: pd.DataFrame, edges: np.ndarray, pi_max: float,
                draws: int = 1_000_000, cross: bool = False) -> np.ndarray:
    """Expected wp(all) - wp(hosts) per rp bin for hosts at Poisson positions.

    Ordered pairs inside host i: 2 n_i central-satellite pairs (separation = one draw of
    the profile) and n_i (n_i - 1) satellite-satellite pairs (difference of two draws);
    pairs of different hosts are uniform. With RR = N (N - 1) V_cell / V the natural
    estimator's expectation is wp = V DD_1h(rp, |pi| < pi_max) / (N (N - 1) A_ring) -
    2 pi_max (sum_i m_i^2 - N) / (N (N - 1)), m_i = 1 + n_i; the hosts alone have 0.
    The pair probabilities per rp bin are integrals over the profile, evaluated here by
    Monte Carlo (``draws`` pairs, relative error ~ 1e-3). Every halo is smaller than
    pi_max, so the |pi| limit keeps every pair.

    ``cross``: the centrals x satellites cross-correlation instead, each central-
    satellite pair once: wp = V sum_i n_i P_cs / (N_c N_s A_ring) - 2 pi_max N_s /
    (N_c N_s) (RR = N_c N_s V_cell / V; pairs of different hosts: N_c N_s - N_s)."""
    rng = np.random.default_rng(99)
    central = table["is_central"].to_numpy()
    host_of = table["host_id"].to_numpy()
    n_sat = np.bincount(host_of[~central], minlength=int(central.sum()))
    mass = table["M_h"].to_numpy()[central]
    total = len(table)
    pairs, cross_pairs = np.zeros(len(edges) - 1), np.zeros(len(edges) - 1)

    def offsets(radius: float) -> np.ndarray:
        r = radius * rng.uniform(size=draws) ** (1.0 / (3.0 - GAMMA))
        d = rng.normal(size=(draws, 3))
        return d / np.linalg.norm(d, axis=1)[:, None] * r[:, None]

    for value in np.unique(mass):
        radius = float(virial_radius(value, 0.0, OMEGA_M))
        one, two = offsets(radius), offsets(radius)
        p_cs = np.histogram(np.hypot(one[:, 0], one[:, 1]), edges)[0] / draws
        diff = one - two
        p_ss = np.histogram(np.hypot(diff[:, 0], diff[:, 1]), edges)[0] / draws
        n = n_sat[mass == value].astype(float)
        pairs += 2 * n.sum() * p_cs + np.sum(n * (n - 1)) * p_ss
        cross_pairs += n.sum() * p_cs
    ring = np.pi * np.diff(edges**2)
    if cross:
        n_c, n_s = len(n_sat), float(n_sat.sum())
        return BOX**3 * cross_pairs / (n_c * n_s * ring) - 2 * pi_max / n_c
    members = 1.0 + n_sat
    constraint = 2 * pi_max * (np.sum(members**2) - total) / (total * (total - 1.0))
    return BOX**3 * pairs / (total * (total - 1.0) * ring) - constraint


def test_one_halo_term_of_wp_matches_the_occupation_and_profile(catalog):
    """wp(all) - wp(hosts) at 0.1-1 Mpc/h equals the pairs inside hosts predicted from
    <N_sat>, <N_sat (N_sat - 1)> and the profile, within 5 jackknife sigma per bin, and
    so does the centrals x satellites cross-correlation from <N_sat> alone; the
    expectations are many sigma from zero, so the test can fail."""
    table = catalog.table
    edges, pi_max = log_edges(0.1, 1.0, 5), 20.0
    xyz = table[["x", "y", "z"]].to_numpy()
    hosts = xyz[table["is_central"].to_numpy()]
    every = wp(xyz, BOX, edges, pi_max=pi_max, nthreads=THREADS)
    alone = wp(hosts, BOX, edges, pi_max=pi_max, nthreads=THREADS)
    excess = every.combine(alone, np.subtract, "wp excess")
    expected = one_halo_wp(table, edges, pi_max)
    assert (excess.error > 0).all()
    assert (expected > 10 * excess.error).all()
    np.testing.assert_array_less(np.abs(excess.value - expected), SIGMA * excess.error)
    # the hosts alone are Poisson: wp consistent with zero
    np.testing.assert_array_less(np.abs(alone.value), SIGMA * alone.error + 1e-12)
    # the centrals x satellites cross-correlation: the central-satellite pairs alone
    satellites = xyz[~table["is_central"].to_numpy()]
    crossed = wp(hosts, BOX, edges, pi_max=pi_max, others=satellites, nthreads=THREADS)
    expected = one_halo_wp(table, edges, pi_max, cross=True)
    assert (expected > 10 * crossed.error).all()
    np.testing.assert_array_less(np.abs(crossed.value - expected), SIGMA * crossed.error)


def test_xi_at_small_scales_handles_bins_without_pairs():
    """Far below the mean separation a Poisson set has no pairs: xi = -1 exactly (DD = 0),
    finite jackknife copies, zero error; never NaN or inf."""
    rng = np.random.default_rng(4)
    points = rng.uniform(0, BOX, (300, 3))
    measured = xi(points, BOX, [1e-4, 2e-4, 20.0], nthreads=THREADS)
    assert measured.value[0] == -1.0 and measured.error[0] == 0.0
    assert np.isfinite(measured.copies).all()
    projected = wp(points, BOX, [1e-4, 2e-4], pi_max=10, nthreads=THREADS)
    assert projected.value[0] == pytest.approx(-20.0)  # 2 pi_max (0 - 1)


def test_jackknife_errors_are_positive_and_shrink_with_more_points():
    """wp error of the one-halo scales over four times the hosts: smaller, ~1/2."""
    small, large = make_catalog(seed=5, n_hosts=1000), make_catalog(seed=6, n_hosts=4000)
    edges = log_edges(0.1, 1.0, 3)
    errors = []
    for built in (small, large):
        xyz = built.table[["x", "y", "z"]].to_numpy()
        errors.append(wp(xyz, BOX, edges, pi_max=20, nthreads=THREADS).error)
    assert (errors[0] > 0).all() and (errors[1] > 0).all()
    assert (errors[1] < errors[0]).all()


def test_small_scales_by_population_with_skipped_splits(catalog):
    settings = SmallScaleSettings(rp_min=0.1, rp_max=30.0, pi_max=20, nthreads=THREADS,
                                  per_decade=4, min_points=2000)
    measured = measure_small_scales(catalog, settings, label="synthetic")
    # red satellites: 30% + noise of ~7,500 satellites pass; red centrals 40% of 3000 do not
    assert "red centrals" in measured.skipped and "2000" in measured.skipped["red centrals"]
    for name in ("all", "centrals", "satellites", "red", "blue", CROSS):
        assert name in measured.wp and name in measured.xi
        assert (measured.wp[name].error > 0).all()
    # satellites cluster far more than centrals in the one-halo term
    first = measured.wp["satellites"].value[0], measured.wp["centrals"].value[0]
    assert first[0] > 10 * max(first[1], measured.wp["centrals"].error[0])
    # the centrals x satellites cross-correlation at the smallest rp is the
    # central-satellite pairs: positive and large
    assert measured.wp[CROSS].value[0] > 10 * measured.wp[CROSS].error[0]
    frame = measured.table()
    assert set(frame["statistic"]) == {"wp", "xi"}
    assert frame["r_min"].min() == pytest.approx(0.1)
    json.dumps(measured.to_dict())


def test_settings_that_do_not_fit_the_box_are_refused(catalog):
    with pytest.raises(ClusteringError, match="jackknife cubes"):
        measure_small_scales(catalog, SmallScaleSettings(pi_max=40, jackknife=3))
    with pytest.raises(ClusteringError, match="pi_max"):
        measure_small_scales(catalog, SmallScaleSettings(pi_max=2.5, rp_max=20))


# ------------------------------------------------------------ satellite statistics


def test_satellite_fraction_recovers_the_input_within_binomial_errors(catalog):
    """Centrals U(10, 12), satellites U(9, 11): in a bin the expected fraction is
    N_s p_s / (N_s p_s + N_c p_c) with p the uniform densities' bin shares."""
    table = catalog.table
    frame = satellite_fraction(table, np.arange(9.0, 12.01, 0.5))
    n_c = int(table["is_central"].sum())
    n_s = len(table) - n_c
    for _, row in frame.iterrows():
        lo, hi = row["smass_min"], row["smass_max"]
        p_s = max(0.0, min(hi, 11) - max(lo, 9)) / 2
        p_c = max(0.0, min(hi, 12) - max(lo, 10)) / 2
        expected = n_s * p_s / (n_s * p_s + n_c * p_c)
        sigma = np.sqrt(expected * (1 - expected) / row["n_galaxies"])
        assert abs(row["f_sat"] - expected) <= SIGMA * sigma + 1e-12
    assert frame["f_sat"].iloc[0] == 1.0 and frame["f_sat"].iloc[-1] == 0.0


def test_radial_profile_recovers_the_input_profile(catalog):
    """r_host given: the KS test against P(< r) = r^1.5 passes; computed from the
    positions and M_h (no r_host) the distances are the same to rounding."""
    distances, source = satellite_distances(catalog)
    assert source == "r_host"
    assert stats.kstest(distances, lambda r: np.clip(r, 0, 1) ** (3 - GAMMA)).pvalue > 1e-3
    without = Catalog(catalog.table.drop(columns="r_host"), catalog.meta)
    recomputed, source = satellite_distances(without)
    assert source == "positions"
    np.testing.assert_allclose(recomputed, distances, rtol=1e-9)
    # the tabulated density against n(r) = (3 - GAMMA) r^-GAMMA / (4 pi), bin-averaged
    frame = radial_profile(distances, np.linspace(0.1, 1.0, 10))
    lo, hi = frame["r_min"].to_numpy(), frame["r_max"].to_numpy()
    expected = (hi ** (3 - GAMMA) - lo ** (3 - GAMMA)) / (4 / 3 * np.pi * (hi**3 - lo**3))
    np.testing.assert_array_less(np.abs(frame["density"] - expected),
                                 SIGMA * frame["density_error"])


def test_radial_profile_ks_rejects_a_wrong_profile(catalog):
    distances, _ = satellite_distances(catalog)
    assert stats.kstest(distances, lambda r: np.clip(r, 0, 1) ** 2.0).pvalue < 1e-6


def test_occupation_recovers_a_negative_binomial():
    """NegBin(mean mu, shape k): variance mu + mu^2 / k, ratio 1 + mu / k (super-Poisson);
    a Poisson occupation gives ratio 1."""
    built = make_catalog(seed=2, n_hosts=8000, masses=(12.5, 13.5), mean_sat=(1.0, 5.0),
                         shape=2.0)
    frame = occupation(built.table)
    assert list(frame["n_hosts"]) == [4000, 4000]
    for (_, row), mu in zip(frame.iterrows(), (1.0, 5.0), strict=True):
        assert abs(row["mean"] - mu) < SIGMA * row["mean_error"]
        assert abs(row["variance"] - (mu + mu**2 / 2)) < SIGMA * row["variance_error"]
        assert abs(row["ratio"] - (1 + mu / 2)) < SIGMA * row["ratio_error"]
        assert abs(row["factorial2"] - mu**2 * 1.5) < 0.1 * mu**2 * 1.5
    poisson = occupation(make_catalog(seed=3, n_hosts=8000, masses=(12.5, 13.5),
                                      mean_sat=(1.0, 5.0), shape=None).table)
    assert (np.abs(poisson["ratio"] - 1) < SIGMA * poisson["ratio_error"]).all()
    assert (poisson["ratio_error"] < 0.1).all()  # precise enough to tell 1 from 1.5


def test_conformity_detects_an_injected_signal_and_is_null_without():
    null = conformity(make_catalog(seed=8, conform=0.0).table)
    signal = conformity(make_catalog(seed=8, conform=0.25).table)
    combined = signal[signal["scope"] == "combined"].iloc[0]
    assert abs(combined["difference"] - 0.25) < SIGMA * combined["difference_error"]
    assert combined["sigma"] > 8
    rows = null[null["scope"] == "bin"]
    assert (np.abs(rows["difference"]) < SIGMA * rows["difference_error"]).all()
    assert abs(null[null["scope"] == "combined"]["sigma"].iloc[0]) < SIGMA


def test_quenched_fractions_of_satellites_and_centrals(catalog):
    frame = quenched_fractions(catalog.table)
    assert frame["quenched"].iloc[0] == "sSFR < -11"
    assert (np.abs(frame["fq_satellites"] - 0.3) < SIGMA * frame["fq_satellites_error"]).all()
    assert (np.abs(frame["fq_centrals"] - 0.4) < SIGMA * frame["fq_centrals_error"]).all()


def test_missing_r_host_and_positions_is_one_clear_error(catalog):
    table = catalog.table.drop(columns=["r_host", "x", "y", "z"])
    with pytest.raises(ClusteringError) as caught:
        satellite_statistics(Catalog(table, catalog.meta))
    message = str(caught.value)
    assert "\n" not in message and "r_host" in message and "x, y, z" in message


def test_satellite_statistics_of_a_catalog_without_satellites_rows(catalog):
    """Hosts that hold no satellites: zero occupation, no profile (noted)."""
    centrals = catalog.select(catalog.central_mask())
    result = satellite_statistics(centrals)
    assert (result.occupation["mean"] == 0).all()
    assert result.profile.empty and any("no satellites" in n for n in result.notes)


# ----------------------------------------------------------------------- the CLI


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_cli_without_mock_on_a_satellite_catalog_writes_everything(catalog, tmp_path):
    path = tmp_path / "sat.parquet"
    write_catalog(catalog, path)
    out = tmp_path / "out"
    result = run("clustering", "--catalog", path, "--out", out, "--jackknife", "2",
                 "--threads", THREADS, "--no-shuffle", "--split", "color:quantiles=2",
                 "--pi-max", "20", "--min-points", "2500")
    assert result.exit_code == 0, result.output
    for name in ("clustering.json", "clustering.csv", "xi.png", "bias.png",
                 "small_scales.csv", "satellites.json", "satellite_fraction.csv",
                 "radial_profile.csv", "occupation.csv", "quenched_fraction.csv",
                 "conformity.csv", "wp_populations.png", "satellite_fraction.png",
                 "satellite_profile.png", "satellite_occupation.png", "satellite_quenched.png",
                 "satellite_conformity.png"):
        assert (out / name).stat().st_size > 0, name
    small = pd.read_csv(out / "small_scales.csv")
    assert {"all", "centrals", "satellites", "red", "blue"} <= set(small["population"])
    assert "red centrals" not in set(small["population"])  # 1,159 rows: skipped, noted
    assert stored_skip(out, "red centrals") and "skipped" in result.output
    assert small["r_min"].min() == pytest.approx(0.1)
    stored = json.loads((out / "satellites.json").read_text())
    assert stored["catalogs"]["truth"]["summary"]["satellites"] == int(
        (~catalog.central_mask()).sum())
    assert "satellites" in result.output and "f_sat" in result.output


def stored_skip(out, name: str) -> str:
    stored = json.loads((out / "satellites.json").read_text())
    return stored["catalogs"]["truth"]["small_scales"]["skipped"].get(name, "")


def test_cli_satellite_catalog_missing_r_host_and_positions(catalog, tmp_path):
    table = catalog.table.drop(columns=["r_host"])
    meta = CatalogMeta(box_size=None, cosmology={"Om0": OMEGA_M})
    path = tmp_path / "bad.parquet"
    write_catalog(Catalog(table, meta), path)
    out = tmp_path / "out"
    result = run("clustering", "--catalog", path, "--out", out)
    assert result.exit_code == 2
    assert "r_host" in result.output and "box_size" in result.output
    assert not out.exists()


def test_centrals_only_output_is_unchanged(tmp_path):
    """A centrals-only catalog with --mock: the same files and numbers as the library's
    compare_clustering + write_clustering (today's behaviour), and no satellite files."""
    from galhalo.evaluate.clustering_comparison import compare_clustering
    from galhalo.evaluate.population_clustering import BiasSettings
    from galhalo.report.clustering_figure import write_clustering

    built = make_catalog(seed=11, n_hosts=3000)
    centrals = built.select(built.central_mask()).table.drop(
        columns=["host_id", "is_central", "r_host"])
    catalog = Catalog(centrals, built.meta)
    assert not catalog.has_satellites
    path = tmp_path / "centrals.parquet"
    write_catalog(catalog, path)
    out = tmp_path / "cli"
    result = run("clustering", "--catalog", path, "--mock", f"same={path}", "--out", out,
                 "--jackknife", "2", "--threads", THREADS, "--no-shuffle",
                 "--split", "color:quantiles=2", "--min-points", "50")
    assert result.exit_code == 0, result.output
    settings = BiasSettings(fit_range=(10.0, 40.0), jackknife=2, nthreads=THREADS,
                            min_points=50)
    truth = read_catalog(path)
    library = compare_clustering(truth, {"same": truth}, ["color:quantiles=2"],
                                 settings=settings, shuffle_seed=None)
    written = write_clustering(library, tmp_path / "library")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written.values())
    pd.testing.assert_frame_equal(pd.read_csv(out / "clustering.csv"),
                                  pd.read_csv(tmp_path / "library" / "clustering.csv"))
    assert json.loads((out / "clustering.json").read_text()) == json.loads(
        (tmp_path / "library" / "clustering.json").read_text())


def test_cli_without_mock_on_a_centrals_only_catalog(tmp_path):
    """One catalog, no satellites: the large-scale populations alone (b and the shuffle),
    the same numbers as measure_populations, and no satellite files."""
    from galhalo.evaluate.population_clustering import BiasSettings, measure_populations

    built = make_catalog(seed=12, n_hosts=3000)
    table = built.select(built.central_mask()).table.drop(
        columns=["host_id", "is_central", "r_host"])
    path = tmp_path / "centrals.parquet"
    write_catalog(Catalog(table, built.meta), path)
    out = tmp_path / "out"
    result = run("clustering", "--catalog", path, "--out", out, "--jackknife", "2",
                 "--threads", THREADS, "--split", "smass:quantiles=2", "--min-points", "50")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "assembly_bias.csv", "bias.png", "clustering.csv", "clustering.json", "xi.png"]
    frame = pd.read_csv(out / "clustering.csv")
    direct = measure_populations(read_catalog(path), "smass:quantiles=2", settings=BiasSettings(
        jackknife=2, nthreads=THREADS, min_points=50), label="truth")
    for _, row in frame.iterrows():
        population = direct.populations[row["population"]]
        assert row["b_truth"] == pytest.approx(population.large_scale.value, rel=1e-5)
    assert "b - b_shuffled" in result.output


def test_realizations_are_measured_separately_and_averaged(catalog):
    """Two identical realisations: the same wp (and copies) as one."""
    doubled = pd.concat([catalog.table.assign(realization=0),
                         catalog.table.assign(realization=1)], ignore_index=True)
    settings = SmallScaleSettings(rp_min=0.1, rp_max=2.0, pi_max=10, nthreads=THREADS,
                                  per_decade=3, min_points=6000)  # all, satellites, blue
    one = measure_small_scales(catalog, settings)
    two = measure_small_scales(Catalog(doubled, catalog.meta), settings)
    assert two.realizations == 2 and two.counts == one.counts
    assert set(two.wp) == {"all", "satellites", "blue"} and two.skipped == one.skipped
    np.testing.assert_allclose(two.wp["satellites"].copies, one.wp["satellites"].copies)
    stats_two = satellite_statistics(Catalog(doubled, catalog.meta))
    stats_one = satellite_statistics(catalog)
    assert list(stats_two.occupation["n_hosts"]) == [2 * n for n in
                                                     stats_one.occupation["n_hosts"]]
    np.testing.assert_allclose(stats_two.occupation["mean"], stats_one.occupation["mean"])


def test_virial_radius_matches_colossus():
    """Bryan & Norman R_vir against colossus' 'vir' definition (physical kpc/h there)."""
    from colossus.halo import mass_so

    from galhalo.sim.cosmology import Cosmology

    cosmology = Cosmology()
    cosmology.colossus()
    masses = np.array([11.0, 12.5, 14.0, 15.0])
    for redshift in (0.0, 0.5):
        expected = mass_so.M_to_R(10.0**masses, redshift, "vir") / 1000 * (1 + redshift)
        # colossus keeps radiation in E(z); the closed form does not (1e-4 at z = 0.5)
        np.testing.assert_allclose(virial_radius(masses, redshift, cosmology.Om0), expected,
                                   rtol=2e-4)


def test_log_edges_reach_the_one_halo_term():
    edges = log_edges(0.1, 40.0, 5)
    assert edges[0] == pytest.approx(0.1) and edges[-1] == pytest.approx(40.0)
    assert np.all(np.diff(np.log10(edges)) <= 0.2 + 1e-12)
    with pytest.raises(ClusteringError, match="per decade"):
        log_edges(0.1, 40.0, 0)
    with pytest.raises(ClusteringError, match="increasing"):
        log_edges(1.0, 0.5)


def test_an_n_sat_column_that_disagrees_with_the_rows_is_noted(catalog):
    table = catalog.table.copy()
    counted = satellite_statistics(catalog).occupation
    host_counts = table.groupby("host_id")["is_central"].transform(lambda c: (~c).sum())
    table["N_sat"] = host_counts.to_numpy()
    assert not satellite_statistics(Catalog(table, catalog.meta)).notes
    table.loc[0, "N_sat"] += 1  # row 0 is a central
    result = satellite_statistics(Catalog(table, catalog.meta))
    assert any("'N_sat' differs" in note and "1 of 3000" in note for note in result.notes)
    pd.testing.assert_frame_equal(result.occupation, counted)


def test_conformity_leaves_out_bins_with_a_handful_of_hosts():
    """Regression: a host-mass bin with 3 quenched centrals (whose fraction error is
    unreliable) used to dominate the combined mean; now it needs MIN_CONFORMITY_HOSTS."""
    from galhalo.evaluate.satellite_quenching import MIN_CONFORMITY_HOSTS, conformity

    rows, host_id = [], 0
    # bin 12.0-12.25: enough hosts of both kinds; bin 12.5-12.75: 3 quenched centrals only
    for mass, n_quenched, n_star_forming in ((12.1, 40, 40), (12.6, 3, 40)):
        for index in range(n_quenched + n_star_forming):
            central_ssfr = -12.0 if index < n_quenched else -10.0
            rows.append({"halo_id": host_id, "host_id": host_id, "is_central": True,
                         "M_h": mass, "sSFR": central_ssfr})
            for k in range(2):
                rows.append({"halo_id": 10_000 + 2 * host_id + k, "host_id": host_id,
                             "is_central": False, "M_h": mass,
                             "sSFR": -12.0 if (index + k) % 3 == 0 else -10.0})
            host_id += 1
    table = pd.DataFrame(rows)
    result = conformity(table, mass_edges=[12.0, 12.25, 12.5, 12.75], by="sSFR")
    bins = result[result["scope"] == "bin"]
    assert list(bins["M_min"]) == [12.0]
    assert (bins[["n_hosts_quenched", "n_hosts_starforming"]] >= MIN_CONFORMITY_HOSTS).all().all()
