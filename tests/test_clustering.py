"""Clustering and tracer bias (galhalo.clustering; catalog level: galhalo.evaluate).

Statistical checks use fixed seeds and Hotelling's T^2 with the jackknife covariance:
for p bins and n jackknife copies, T^2 (n - p) / (p (n - 1)) follows F(p, n - p) when the
model is right, so the threshold at alpha = 0.001 follows from n and p alone. (The
delete-one jackknife is conservative at separations approaching the cube side in a
periodic box, docs/clustering.md, so these tests can only err towards passing a wrong
estimator by a factor of a few in variance; offsets from a wrong normalisation are
still many sigma at these point counts.)
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from galhalo.catalog import REALIZATION, Catalog, CatalogMeta
from galhalo.clustering import (
    ClusteringError,
    Correlation,
    jackknife_covariance,
    large_scale_bias,
    multipoles,
    redshift_space,
    relative_bias,
    rsd_shift,
    wp,
    xi,
)
from galhalo.clustering.pairs import CylinderCells, MuCells, Shells
from galhalo.evaluate.clustering_comparison import compare_clustering
from galhalo.evaluate.population_clustering import BiasSettings, measure_populations
from galhalo.evaluate.populations import parse_split
from galhalo.evaluate.positions import catalog_positions
from galhalo.evaluate.shuffle import assembly_bias, shuffle_within_mass_bins

BOX = 100.0
ALPHA = 0.001
THREADS = 1  # two cores shared with other jobs: one Corrfunc thread is faster here


def hotelling_limit(p: int, n: int, alpha: float = ALPHA) -> float:
    """T^2 threshold for p bins and n jackknife copies at level alpha."""
    return p * (n - 1) / (n - p) * stats.f.ppf(1 - alpha, p, n - p)


def t_squared(residual: np.ndarray, correlation: Correlation) -> float:
    return float(residual @ np.linalg.solve(correlation.covariance, residual))


def thomas_process(seed: int, n_parents: int = 1000, mean_children: float = 8.0,
                   sigma: float = 2.0, velocity: float = 0.0, box: float = BOX):
    """Neyman-Scott (Thomas) process: Poisson parents, Poisson(m) children each, offset by
    an isotropic Gaussian of width sigma per axis; children get independent N(0, velocity)
    velocities (km/s). Returns positions (n, 3), velocities (n, 3), parent index (n,)."""
    rng = np.random.default_rng(seed)
    parents = rng.uniform(0, box, (n_parents, 3))
    children = rng.poisson(mean_children, n_parents)
    parent = np.repeat(np.arange(n_parents), children)
    positions = np.mod(parents[parent] + rng.normal(0, sigma, (len(parent), 3)), box)
    positions[positions >= box] = 0.0
    velocities = rng.normal(0, velocity, (len(parent), 3)) if velocity else np.zeros_like(
        positions)
    return positions, velocities, parent


def shell_average(function, edges: np.ndarray, nodes: int = 16) -> np.ndarray:
    """Volume (r^2) average of function(r) over each bin."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    out = []
    for lo, hi in itertools.pairwise(edges):
        r = 0.5 * (hi - lo) * x + 0.5 * (hi + lo)
        out.append(np.sum(w * r**2 * function(r)) / np.sum(w * r**2))
    return np.array(out)


def thomas_xi(r: np.ndarray, sigma: float, parent_density: float) -> np.ndarray:
    """Closed-form xi of the Thomas process: exp(-r^2 / 4 s^2) / ((4 pi s^2)^1.5 n_p)."""
    return np.exp(-(r**2) / (4 * sigma**2)) / ((4 * np.pi * sigma**2) ** 1.5 * parent_density)


def catalog_of(positions: np.ndarray, box: float | None = BOX, **columns) -> Catalog:
    table = pd.DataFrame({"x": positions[:, 0], "y": positions[:, 1], "z": positions[:, 2],
                          **columns})
    return Catalog(table, CatalogMeta(box_size=box))


# --------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("geometry", [
    Shells(np.array([1.0, 3.0, 6.0, 9.5])),
    CylinderCells(np.array([1.0, 4.0, 7.0]), 6.0),
    MuCells(np.array([1.0, 5.0, 9.5]), 4),
])
def test_cube_self_overlap_integrals_match_monte_carlo(geometry):
    """K(cell) = int_cell vol(cube & (cube + d)) d^3d, checked by sampling x uniform in a
    cube of side 10 and d uniform in a ball of radius 9.5 (which holds every cell): the
    fraction with x + d in the cube, times the volumes. Tolerance: 5 binomial sigma."""
    side, radius, n = 10.0, 9.5, 400_000
    rng = np.random.default_rng(3)
    x = rng.uniform(0, side, (n, 3))
    d = rng.normal(size=(n, 3))
    d *= (radius * rng.uniform(size=n) ** (1 / 3) / np.linalg.norm(d, axis=1))[:, None]
    r = np.linalg.norm(d, axis=1)
    if isinstance(geometry, Shells):
        cell = np.digitize(r, geometry.edges) - 1
        valid = (cell >= 0) & (cell < len(geometry.edges) - 1)
    elif isinstance(geometry, CylinderCells):
        rp, pi = np.hypot(d[:, 0], d[:, 1]), np.abs(d[:, 2])
        ring = np.digitize(rp, geometry.edges) - 1
        depth = np.floor(pi).astype(int)
        valid = (ring >= 0) & (ring < len(geometry.edges) - 1) & (depth < len(
            geometry.pi_edges) - 1)
        cell = ring * (len(geometry.pi_edges) - 1) + depth
        # only cells wholly inside the sampling ball are sampled uniformly
        outer = np.hypot(geometry.edges[1:, None], geometry.pi_edges[None, 1:]).ravel()
        valid &= outer[np.where(valid, cell, 0)] < radius
    else:
        shell = np.digitize(r, geometry.edges) - 1
        mu = np.minimum((np.abs(d[:, 2]) / r * geometry.mu_bins).astype(int),
                        geometry.mu_bins - 1)
        valid = (shell >= 0) & (shell < len(geometry.edges) - 1)
        cell = shell * geometry.mu_bins + mu
    inside = ((x + d >= 0) & (x + d < side)).all(axis=1)
    ball = 4 / 3 * np.pi * radius**3
    expected = geometry.overlaps(side)
    for index in np.unique(cell[valid]):
        hits = valid & (cell == index)
        estimate = inside[hits].sum() / n * ball * side**3
        p = hits.sum() / n
        sd = np.sqrt(p * (1 - p) / n) * ball * side**3  # at most: all hits inside
        assert abs(estimate - expected[index]) < 5 * sd, index


def test_cell_volumes_add_up_to_the_shells():
    edges = np.array([2.0, 5.0, 9.0])
    shells = Shells(edges).volumes()
    assert np.allclose(MuCells(edges, 7).volumes().reshape(2, 7).sum(axis=1), shells)
    cylinders = CylinderCells(edges, 5.0).volumes().reshape(2, 5).sum(axis=1)
    assert np.allclose(cylinders, np.pi * np.diff(edges**2) * 2 * 5.0)


# --------------------------------------------------------------------------- Poisson


@pytest.fixture(scope="module")
def poisson():
    return np.random.default_rng(11).uniform(0, BOX, (5000, 3))


def test_xi_of_a_poisson_catalog_is_zero_within_jackknife_errors(poisson):
    result = xi(poisson, BOX, np.geomspace(2, 30, 7), nthreads=THREADS)
    assert result.value.shape == (6,) and result.copies.shape == (27, 6)
    assert t_squared(result.value, result) < hotelling_limit(6, 27)
    # and the copies scatter around the full-sample value (no bias of the copies'
    # normalisation): mean offset below 3 standard errors of the copies' mean
    offset = result.copies.mean(axis=0) - result.value
    assert np.all(np.abs(offset) < 3 * result.copies.std(axis=0) / np.sqrt(27))


def test_wp_and_multipoles_of_a_poisson_catalog_are_zero_within_errors(poisson):
    edges = np.geomspace(2, 25, 6)
    projected = wp(poisson, BOX, edges, pi_max=20, nthreads=THREADS)
    assert t_squared(projected.value, projected) < hotelling_limit(5, 27)
    poles = multipoles(poisson, BOX, edges, mu_bins=10, nthreads=THREADS)
    for ell in (0, 2):
        assert t_squared(poles[ell].value, poles[ell]) < hotelling_limit(5, 27)


def test_cross_correlation_of_independent_poisson_sets_is_zero(poisson):
    other = np.random.default_rng(12).uniform(0, BOX, (3000, 3))
    result = xi(poisson, BOX, np.geomspace(2, 30, 7), others=other, nthreads=THREADS)
    assert result.statistic == "xi cross" and result.n_points == (5000, 3000)
    assert t_squared(result.value, result) < hotelling_limit(6, 27)


# --------------------------------------------------------------------------- Thomas


@pytest.fixture(scope="module")
def thomas():
    return thomas_process(seed=5)


def test_thomas_process_xi_is_recovered(thomas):
    positions, _, _ = thomas
    edges = np.geomspace(1.0, 12.0, 8)
    result = xi(positions, BOX, edges, nthreads=THREADS)
    model = shell_average(lambda r: thomas_xi(r, 2.0, 1000 / BOX**3), edges)
    assert t_squared(result.value - model, result) < hotelling_limit(7, 27)
    # The amplitude (least-squares scale of the model, jackknifed) is 1 within 3 sigma,
    # and sigma is small enough (expected ~2.3% from the parents' Poisson(8)
    # occupation, E[N(N-1)] fluctuating as sqrt((4 m^3 + 2 m^2) / 1000) / m^2) that a
    # 20% amplitude error could not pass.
    amplitude = result.combine(None, lambda a: a @ model / (model @ model), "A")
    assert abs(amplitude.value - 1) < 3 * amplitude.error < 0.2


def test_thomas_process_wp_is_recovered(thomas):
    """wp(rp) = exp(-rp^2 / 4 s^2) erf(pi_max / 2 s) / (4 pi s^2 n_p) for the Thomas process."""
    positions, _, _ = thomas
    edges = np.geomspace(1.0, 12.0, 6)
    result = wp(positions, BOX, edges, pi_max=20, nthreads=THREADS)
    sigma, density = 2.0, 1000 / BOX**3

    def model(rp):
        return (np.exp(-(rp**2) / (4 * sigma**2)) * special.erf(20 / (2 * sigma))
                / (4 * np.pi * sigma**2 * density))

    x, w = np.polynomial.legendre.leggauss(16)
    expected = []
    for lo, hi in itertools.pairwise(edges):  # area-weighted ring average
        rp = 0.5 * (hi - lo) * x + 0.5 * (hi + lo)
        expected.append(np.sum(w * rp * model(rp)) / np.sum(w * rp))
    assert t_squared(result.value - np.array(expected), result) < hotelling_limit(5, 27)


def test_cross_correlation_of_two_halves_of_a_thomas_process_is_its_xi(thomas):
    """Children of the same parents split at random: the cross-correlation of the halves
    has the same closed form as the auto-correlation."""
    positions, _, _ = thomas
    half = np.random.default_rng(6).random(len(positions)) < 0.5
    edges = np.geomspace(1.0, 12.0, 8)
    result = xi(positions[half], BOX, edges, others=positions[~half], nthreads=THREADS)
    model = shell_average(lambda r: thomas_xi(r, 2.0, 1000 / BOX**3), edges)
    assert t_squared(result.value - model, result) < hotelling_limit(7, 27)


def test_redshift_space_multipoles_of_a_thomas_process_with_velocities():
    """Children with independent N(0, 300 km/s) line-of-sight velocities at z = 0 move by
    v / 100 Mpc/h: pair separations become Gaussian with variances 2 s^2 across and
    2 (s^2 + 3^2) along the line of sight. xi0 and xi2 of that anisotropic Gaussian,
    averaged over the same (s, mu) cells, are recovered."""
    sigma, shift, density = 2.0, 3.0, 1000 / BOX**3
    positions, velocities, _ = thomas_process(seed=8, velocity=300.0, sigma=sigma)
    moved = redshift_space(positions, velocities, BOX, "y")
    edges, mu_bins = np.geomspace(1.5, 14.0, 7), 10
    poles = multipoles(moved, BOX, edges, los="y", mu_bins=mu_bins, nthreads=THREADS)

    across, along = 2 * sigma**2, 2 * (sigma**2 + shift**2)
    norm = (2 * np.pi) ** 1.5 * across * np.sqrt(along) * density

    def xi_s_mu(s, mu):
        return np.exp(-(s**2) * (1 - mu**2) / (2 * across) - (s * mu) ** 2 / (2 * along)) / norm

    x, w = np.polynomial.legendre.leggauss(12)
    mu_edges = np.linspace(0, 1, mu_bins + 1)
    cells = np.empty((len(edges) - 1, mu_bins))
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        s = 0.5 * (hi - lo) * x + 0.5 * (hi + lo)
        for j in range(mu_bins):
            mu = 0.5 * (mu_edges[j + 1] - mu_edges[j]) * x + 0.5 * (mu_edges[j + 1] + mu_edges[j])
            grid = xi_s_mu(s[:, None], mu[None, :])
            cells[i, j] = (w * s**2) @ grid @ w / (np.sum(w * s**2) * 2)
    for ell in (0, 2):
        weights = (2 * ell + 1) * np.diff(
            np.polynomial.legendre.Legendre.basis(ell).integ()(mu_edges))
        model = cells @ weights
        result = poles[ell]
        assert t_squared(result.value - model, result) < hotelling_limit(6, 27), ell
    # clusters stretched along y (fingers of god): xi is largest at |mu| -> 1, xi2 > 0
    assert np.all(poles[2].value[1:3] > 3 * poles[2].error[1:3])


@pytest.mark.parametrize("los", ["z", "x"])
def test_real_space_monopole_equals_xi_and_quadrupole_vanishes(thomas, los):
    """Same pairs, same cubes: the monopole equals xi, and its jackknife copies equal
    xi's for any line of sight (copies are numbered by the same cubes). The copies agree
    to ~1e-5 only: with a cube removed, the random pairs of a copy depend on mu (the
    cube's self-overlap is anisotropic), so the sum over mu bins of DD / RR differs
    slightly from DD / RR of the whole shell. Copies of different cubes differ by ~1e-2,
    so a relative tolerance of 1e-4 still catches misnumbered cubes."""
    positions, _, _ = thomas
    edges = np.geomspace(1.5, 12.0, 6)
    poles = multipoles(positions, BOX, edges, los=los, nthreads=THREADS)
    real = xi(positions, BOX, edges, nthreads=THREADS)
    assert np.allclose(poles[0].value, real.value, rtol=1e-10, atol=1e-12)
    # the error is relative in RR, so compare the pair ratios DD / RR = 1 + xi
    assert np.allclose(1 + poles[0].copies, 1 + real.copies, rtol=1e-4, atol=0)
    assert not np.allclose(1 + real.copies[0], 1 + real.copies[1], rtol=1e-4, atol=0)
    assert t_squared(poles[2].value, poles[2]) < hotelling_limit(5, 27)


def test_redshift_space_shift_uses_the_catalog_cosmology():
    assert rsd_shift(0.0, None) == pytest.approx(0.01)  # 1 / (100 km/s per Mpc/h)
    # z = 1, flat Om0 = 0.3: E(z)^2 = 0.3 * 8 + 0.7 (+ radiation from colossus, < 0.1%)
    expected = 2.0 / (100 * math.sqrt(0.3 * 8 + 0.7))
    assert rsd_shift(1.0, {"Om0": 0.3, "Ob0": 0.05}) == pytest.approx(expected, rel=2e-3)
    with pytest.raises(ClusteringError, match="Om0"):
        rsd_shift(1.0, {})
    positions = np.array([[1.0, 2.0, 99.5]])
    moved = redshift_space(positions, np.array([[0.0, 0.0, 100.0]]), BOX, "z")
    assert moved[0, 2] == pytest.approx(0.5)  # 99.5 + 1 Mpc/h wraps round the box


def test_catalog_positions_in_redshift_space_use_the_velocity_column():
    positions = np.array([[10.0, 20.0, 30.0], [50.0, 60.0, 70.0]])
    catalog = catalog_of(positions, vx=[0.0, 0.0], vy=[250.0, -250.0], vz=[0.0, 0.0])
    moved = catalog_positions(catalog, rsd="y")
    assert np.allclose(moved[:, 1], [22.5, 57.5]) and np.allclose(moved[:, [0, 2]],
                                                                  positions[:, [0, 2]])


# --------------------------------------------------------------------------- bias


def test_bias_of_all_rows_against_themselves_is_exactly_one(thomas):
    positions, _, _ = thomas
    settings = BiasSettings(edges=tuple(np.geomspace(1, 12, 8)), fit_range=(2.0, 12.0),
                            nthreads=THREADS)
    measured = measure_populations(catalog_of(positions), "all", settings=settings)
    population = measured.populations["all"]
    assert np.all(population.bias.value == 1.0) and np.all(population.bias.copies == 1.0)
    assert population.large_scale.value == 1.0 and population.large_scale.error == 0.0


def test_random_subsample_is_unbiased_and_clustered_parents_are_more_biased():
    """Relative bias against all points: a random half has b = 1 (within 3 sigma); the
    children of parents with >= 10 children (rich clusters) have b > 1 (3 sigma)."""
    positions, _, parent = thomas_process(seed=9)
    richness = np.bincount(parent)[parent]
    rng = np.random.default_rng(1)
    catalog = catalog_of(positions, random=rng.random(len(positions)),
                         richness=richness.astype(float))
    settings = BiasSettings(edges=tuple(np.geomspace(1, 12, 8)), fit_range=(2.0, 12.0),
                            nthreads=THREADS)
    measured = measure_populations(catalog, ["random:thresholds=0.5", "richness:above=10"],
                                   settings=settings)
    for name in ("random < 0.5", "random >= 0.5"):
        b = measured.populations[name].large_scale
        assert abs(b.value - 1) < 3 * b.error
    rich = measured.populations["richness >= 10"].large_scale
    assert rich.value - 1 > 3 * rich.error


def test_large_scale_bias_recovers_a_known_amplitude_ratio(thomas):
    """xi scaled by b^2 = 1.44 (as Correlation arithmetic): b_LS = 1.2 exactly."""
    positions, _, _ = thomas
    reference = xi(positions, BOX, np.geomspace(1, 12, 8), nthreads=THREADS)
    scaled = reference.combine(None, lambda a: 1.44 * a, "xi")
    assert large_scale_bias(scaled, reference, (2.0, 12.0)).value == pytest.approx(1.2)
    assert np.allclose(relative_bias(scaled, reference).value, 1.2)


def test_jackknife_covariance_formula():
    copies = np.array([[1.0, 2.0], [3.0, 2.0], [2.0, 5.0]])
    deviation = copies - copies.mean(axis=0)
    expected = 2 / 3 * deviation.T @ deviation
    assert np.allclose(jackknife_covariance(copies), expected)


# --------------------------------------------------------------------------- splits


def test_split_specs_define_the_expected_populations():
    table = pd.DataFrame({"color": np.linspace(0, 1, 1000), "smass": np.linspace(9, 11, 1000),
                          "cls": np.arange(1000) % 3})
    quartiles = parse_split("color:quantiles=4").masks(table)
    assert list(quartiles) == [f"color q{i}/4" for i in range(1, 5)]
    assert [m.sum() for m in quartiles.values()] == [250, 250, 250, 250]
    assert np.all(sum(m.astype(int) for m in quartiles.values()) == 1)
    bins = parse_split("smass:thresholds=9.5,10.5").masks(table)
    assert list(bins) == ["smass < 9.5", "9.5 <= smass < 10.5", "smass >= 10.5"]
    assert bins["smass < 9.5"].sum() == int((table.smass < 9.5).sum())
    above = parse_split("smass:above=10").masks(table)
    assert above["smass >= 10"].sum() == int((table.smass >= 10).sum())
    classes = parse_split("cls:classes").masks(table)
    assert list(classes) == ["cls = 0", "cls = 1", "cls = 2"]
    assert parse_split("cls:classes=2").masks(table)["cls = 2"].sum() == 333
    for spec in ("color:quantiles=4", "smass:thresholds=9.5,10.5", "cls:classes", "all"):
        assert parse_split(spec).spec == spec


@pytest.mark.parametrize(("spec", "message"), [
    ("color", "expected 'column:kind=values'"),
    ("color:deciles=10", "unknown kind"),
    ("color:quantiles=1", "integer >= 2"),
    ("color:quantiles=2.5", "integer >= 2"),
    ("smass:thresholds=10,9", "strictly increasing"),
    ("smass:thresholds", "at least one value"),
    ("smass:thresholds=a,b", "numbers"),
    ("cls:classes=1.5", "distinct integers"),
])
def test_malformed_split_specs_are_refused(spec, message):
    with pytest.raises(ClusteringError, match=message):
        parse_split(spec)


def test_unknown_or_unsuitable_split_column_is_refused():
    catalog = catalog_of(np.random.default_rng(0).uniform(0, BOX, (300, 3)),
                         color=np.linspace(0, 1, 300), cls=np.linspace(0, 1, 300))
    settings = BiasSettings(edges=(5.0, 10.0, 20.0), fit_range=(5.0, 20.0))
    with pytest.raises(ClusteringError, match=r"unknown column 'colour'.*available: color"):
        measure_populations(catalog, "colour:quantiles=4", settings=settings)
    with pytest.raises(ClusteringError, match="not an integer class column"):
        measure_populations(catalog, "cls:classes", settings=settings)
    # the default 1.25-40 Mpc/h bins do not fit 27 jackknife cubes of this box
    with pytest.raises(ClusteringError, match=r"jackknife cubes of side 33\.3333"):
        measure_populations(catalog, "color:quantiles=4")


# --------------------------------------------------------------------------- shuffle


def test_shuffle_permutes_galaxy_columns_within_mass_bins_and_realizations():
    rng = np.random.default_rng(2)
    n = 2000
    table = pd.DataFrame({"M_h": rng.uniform(11, 13, n), "color": rng.random(n),
                          "smass": rng.random(n), REALIZATION: np.repeat([0, 1], n // 2)})
    shuffled = shuffle_within_mass_bins(table, ["color", "smass"], bin_width=0.1, seed=4)
    assert shuffled["M_h"].equals(table["M_h"])
    assert not np.array_equal(shuffled["color"], table["color"])
    group = [np.floor((table.M_h - table.M_h.min()) / 0.1), table[REALIZATION]]
    for (_, before), (_, after) in zip(table.groupby(group), shuffled.groupby(group),
                                       strict=True):
        assert sorted(before.color) == sorted(after.color)
    # columns move together: every (color, smass) pair of the input survives
    pairs = set(zip(table.color, table.smass, strict=True))
    assert set(zip(shuffled.color, shuffled.smass, strict=True)) == pairs
    again = shuffle_within_mass_bins(table, ["color", "smass"], bin_width=0.1, seed=4)
    other = shuffle_within_mass_bins(table, ["color", "smass"], bin_width=0.1, seed=5)
    assert again.equals(shuffled) and not other.equals(shuffled)


# --------------------------------------------------------------------------- comparison


def _toy_universe(seed: int = 13):
    """Thomas-process 'halos' whose mass is set by the cluster richness and whose 'color'
    is richness plus noise, in a 100 Mpc/h box."""
    positions, _, parent = thomas_process(seed=seed, n_parents=1500, mean_children=6.0)
    rng = np.random.default_rng(seed)
    richness = np.bincount(parent)[parent].astype(float)
    mass = 10 + 0.25 * richness  # 0.1-dex mass bins never hold two richness values
    color = 0.1 * richness + rng.normal(0, 0.3, len(parent))
    table = pd.DataFrame({"x": positions[:, 0], "y": positions[:, 1], "z": positions[:, 2],
                          "M_h": mass, "color": color})
    return Catalog(table, CatalogMeta(box_size=BOX))


def test_a_mock_identical_to_the_truth_has_ratio_one_and_zero_deviation(tmp_path):
    truth = _toy_universe()
    settings = BiasSettings(edges=tuple(np.geomspace(1, 12, 8)), fit_range=(2.0, 12.0),
                            nthreads=THREADS)
    comparison = compare_clustering(truth, {"same": truth}, "color:quantiles=3",
                                    settings=settings, shuffle_seed=0)
    table = comparison.table
    assert list(table.population) == ["color q1/3", "color q2/3", "color q3/3"]
    assert np.all(table.ratio == 1.0) and np.all(table.deviation_sigma == 0.0)
    assert np.all(table.b_truth == table.b_mock)
    assert table.b_truth.iloc[2] > table.b_truth.iloc[0]  # colour follows richness
    # the toy colour depends on position only through richness, i.e. mass: shuffling at
    # fixed mass leaves the biases as they were
    ab = comparison.assembly_bias
    assert np.all(np.abs(ab.delta) <= 3 * ab.delta_error + 1e-12)

    from galhalo.report.clustering_figure import write_clustering

    written = write_clustering(comparison, tmp_path / "out")
    assert {"json", "table", "assembly_bias", "xi", "bias"} <= set(written)
    data = json.loads((tmp_path / "out" / "clustering.json").read_text())
    assert data["table"][0]["ratio"] == 1.0
    assert (tmp_path / "out" / "xi.png").read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_stochasticity_of_a_mock_with_realizations():
    """A mock with K = 3 realisations whose colours are redrawn with noise: b_sd is the
    spread of the per-realisation b_LS, each of which equals a separate measurement of
    that realisation alone; deviation_sigma_stochastic uses it."""
    truth = _toy_universe()
    rng = np.random.default_rng(0)
    parts = []
    for realization in range(3):
        part = truth.table.copy()
        part["color"] = part["color"] + rng.normal(0, 0.3, len(part))
        part[REALIZATION] = realization
        parts.append(part)
    mock = Catalog(pd.concat(parts, ignore_index=True), truth.meta)
    settings = BiasSettings(edges=tuple(np.geomspace(1, 12, 8)), fit_range=(2.0, 12.0),
                            nthreads=THREADS)
    comparison = compare_clustering(truth, {"noisy": mock}, "color:quantiles=2",
                                    settings=settings, shuffle_seed=None)
    single = [measure_populations(Catalog(p.drop(columns=REALIZATION), truth.meta),
                                  "color:quantiles=2", settings=settings)
              .populations["color q2/2"].large_scale.value for p in parts]
    row = comparison.stochasticity.set_index("population").loc["color q2/2"]
    assert row.realizations == 3
    assert row.b_sd == pytest.approx(np.std(single, ddof=1), rel=1e-12)
    top = comparison.table.set_index("population").loc["color q2/2"]
    expected = (top.b_mock - top.b_truth) / (row.b_sd * math.sqrt(1 + 1 / 3))
    assert top.deviation_sigma_stochastic == pytest.approx(expected)
    assert top.b_mock == pytest.approx(
        comparison.mocks["noisy"].populations["color q2/2"].large_scale.value)
    assert comparison.assembly_bias.empty


# --------------------------------------------------------------------------- bad input


def test_positions_outside_the_box_are_refused():
    positions = np.random.default_rng(0).uniform(0, BOX, (500, 3))
    positions[:3, 0] += BOX
    with pytest.raises(ClusteringError, match=r"3 of 500 points are outside the box"):
        xi(positions, BOX, nthreads=THREADS)
    with pytest.raises(ClusteringError, match="NaN or inf"):
        xi(np.full((200, 3), np.nan), BOX)
    with pytest.raises(ClusteringError, match=r"shape \(n, 3\)"):
        xi(positions[:, :2], BOX)


def test_missing_box_size_is_refused():
    catalog = catalog_of(np.random.default_rng(0).uniform(0, BOX, (500, 3)), box=None)
    with pytest.raises(ClusteringError, match="box size missing"):
        measure_populations(catalog)


def test_too_small_populations_are_refused_with_their_name():
    rng = np.random.default_rng(0)
    catalog = catalog_of(rng.uniform(0, BOX, (1000, 3)), smass=rng.uniform(9, 11, 1000))
    settings = BiasSettings(edges=(5.0, 10.0, 20.0), fit_range=(5.0, 20.0), min_points=100,
                            nthreads=THREADS)
    with pytest.raises(ClusteringError, match=r"'catalog: smass >= 10.95' has \d+ points, "
                                              r"fewer than the minimum 100"):
        measure_populations(catalog, "smass:above=10.95", settings=settings)
    with pytest.raises(ClusteringError, match="fewer than the minimum"):
        xi(rng.uniform(0, BOX, (50, 3)), BOX, [5.0, 10.0])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"edges": [0.0, 5.0, 10.0]}, "strictly increasing and > 0"),
    ({"edges": [5.0, 4.0]}, "strictly increasing"),
    ({"edges": [5.0, 40.0]}, r"jackknife cubes of side 33\.3333 Mpc/h"),
    ({"jackknife": 1}, "jackknife must be an integer >= 2"),
    ({"nthreads": 0}, "nthreads"),
])
def test_bad_bins_and_settings_are_refused(kwargs, message):
    positions = np.random.default_rng(0).uniform(0, BOX, (500, 3))
    settings = {"edges": [5.0, 10.0, 20.0], **kwargs}
    with pytest.raises(ClusteringError, match=message):
        xi(positions, BOX, **settings)


def test_fit_range_without_bins_is_refused():
    with pytest.raises(ClusteringError, match="no separation bin lies inside"):
        BiasSettings(edges=(1.0, 2.0, 4.0), fit_range=(10.0, 40.0))
    with pytest.raises(ClusteringError, match="pi_max"):
        wp(np.random.default_rng(0).uniform(0, BOX, (500, 3)), BOX, pi_max=10.5)
    with pytest.raises(ClusteringError, match="line-of-sight"):
        multipoles(np.random.default_rng(0).uniform(0, BOX, (500, 3)), BOX, [5.0, 10.0],
                   los="w")


# --------------------------------------------------------------------------- universe


@pytest.fixture(scope="module")
def universe():
    """Default synthetic universe, 205 Mpc/h, 1e5 centrals, coarse 64^3 grid (about 12 s),
    plus each halo's formation-time residual g_z at fixed mass (the 'age' column)."""
    from galhalo.sim.truth import TruthModel
    from galhalo.sim.universe import simulate

    catalog = simulate(n_halos=100_000, box=205.0, seed=1, grid=64)
    table = catalog.table
    model = TruthModel.from_dict(catalog.meta.truth).halo_model
    table["age"] = model.latents(table["M_h"].to_numpy(),
                                 table[["z_h", "C_h", "S_h"]].to_numpy())[:, 0]
    return catalog


UNIVERSE_SETTINGS = BiasSettings(edges=tuple(8.0 * 2.0 ** (np.arange(5) / 2)),
                                 fit_range=(8.0, 32.0), jackknife=3, nthreads=THREADS)


def _difference(first, second) -> tuple[float, float]:
    copies = first.copies - second.copies
    error = float(np.sqrt(jackknife_covariance(copies[:, None])[0, 0]))
    return first.value - second.value, error


@pytest.mark.slow
def test_red_centrals_are_the_most_biased_and_carry_assembly_bias(universe):
    """What the truth implies: red centrals are mostly mass-quenched hosts above 10^12
    (mass-only Tinker bias of the reddest colour quartile is 1.12 times the sample's, the
    other quartiles 0.95-0.97), and at fixed mass quenching favours early-forming halos
    and dense environments, which are more clustered: b(q4) exceeds every other
    quartile, and shuffling colours at fixed mass lowers it. After the shuffle the
    q4 - q1 difference is the mass-only one. All at 3 paired-jackknife sigma."""
    from galhalo.sim.cosmology import Cosmology

    split = "color:quantiles=4"
    measured = measure_populations(universe, split, settings=UNIVERSE_SETTINGS)
    b = {name: p.large_scale for name, p in measured.populations.items()}
    red = b["color q4/4"]
    for name in ("color q1/4", "color q2/4", "color q3/4"):
        difference, error = _difference(red, b[name])
        assert difference > 3 * error, name
    shuffled, table = assembly_bias(universe, split, settings=UNIVERSE_SETTINGS, seed=0,
                                    original=measured)
    row = table.set_index("population").loc["color q4/4"]
    assert row.delta > 3 * row.delta_error

    halo_bias = Cosmology().halo_bias(universe.table["M_h"].to_numpy())
    masks = parse_split(split).masks(universe.table)
    predicted = (halo_bias[masks["color q4/4"]].mean()
                 - halo_bias[masks["color q1/4"]].mean()) / halo_bias.mean()
    difference, error = _difference(shuffled.populations["color q4/4"].large_scale,
                                    shuffled.populations["color q1/4"].large_scale)
    assert abs(difference - predicted) < 3 * error


@pytest.mark.slow
def test_shuffling_at_fixed_mass_removes_the_halo_assembly_bias_signal(universe):
    """Halos of 10^11-10^11.5 split by formation-time residual: the early-forming quarter
    is more biased than the late-forming quarter (halo assembly bias, docs/universe.md
    section 12) before the shuffle, not after it. The reference is the whole catalog."""
    table = universe.table
    window = universe.select(((table["M_h"] >= 11.0) & (table["M_h"] < 11.5)).to_numpy())
    measured = measure_populations(window, "age:quantiles=4", reference=universe,
                                   settings=UNIVERSE_SETTINGS)
    shuffled, _ = assembly_bias(window, "age:quantiles=4", reference=universe,
                                settings=UNIVERSE_SETTINGS, seed=0, original=measured)
    for result, signal in ((measured, True), (shuffled, False)):
        difference, error = _difference(result.populations["age q4/4"].large_scale,
                                        result.populations["age q1/4"].large_scale)
        assert (difference > 3 * error) if signal else (abs(difference) < 3 * error)


def test_old_import_paths_re_export_the_same_objects():
    """galhalo.evaluate.clustering and galhalo.evaluate.bias stay importable (shims):
    every name of their former ``__all__`` is the object of its new home."""
    import galhalo.clustering as estimators
    import galhalo.evaluate.bias as old_bias
    import galhalo.evaluate.clustering as old_clustering
    from galhalo.evaluate import (
        clustering_comparison,
        population_clustering,
        populations,
        positions,
        shuffle,
        stochasticity,
    )

    homes = [estimators, positions, populations, population_clustering, shuffle,
             stochasticity, clustering_comparison]
    former = {
        old_clustering: "AXES DEFAULT_JACKKNIFE DEFAULT_MU_BINS DEFAULT_PI_MAX "
                        "DEFAULT_R_EDGES DEFAULT_THREADS MIN_POINTS ClusteringError "
                        "Correlation box_size_of catalog_positions check_positions "
                        "jackknife_covariance jackknife_regions mean_over_realizations "
                        "multipoles redshift_space rsd_shift wp xi",
        old_bias: "DEFAULT_FIT_RANGE DEFAULT_MASS_BIN BiasSettings ClusteringComparison "
                  "LargeScaleBias PopulationClustering PopulationSet Split assembly_bias "
                  "compare_clustering fit_weights large_scale_bias measure_populations "
                  "parse_split relative_bias shuffle_within_mass_bins stochasticity",
    }
    for shim, names in former.items():
        for name in names.split():
            found = [getattr(home, name) for home in homes if hasattr(home, name)]
            assert found, f"{name} has no new home"
            assert getattr(shim, name) is found[0], f"{shim.__name__}.{name}"


def test_the_estimators_do_not_import_catalog_level_code():
    """galhalo.clustering holds pure estimators on arrays: it imports nothing from
    evaluate, models, report, populate, cosmo or the CLI (layering evaluate -> clustering)."""
    import ast
    from pathlib import Path

    import galhalo.clustering as package

    above = ("evaluate", "models", "report", "populate", "cosmo", "cli", "catalog", "mock")
    for path in Path(package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                target = (node.module or "").split(".")[0]
                if node.level == 2:
                    assert target not in above, f"{path.name} imports galhalo.{node.module}"
            elif isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module] if isinstance(node, ast.ImportFrom) else [
                    alias.name for alias in node.names]
                for name in names:
                    parts = (name or "").split(".")
                    assert not (parts[0] == "galhalo" and len(parts) > 1
                                and parts[1] in above), f"{path.name} imports {name}"
