"""The synthetic universe: exact sizes, selection, clustering, assembly bias, determinism."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from scipy import stats

from galhalo.catalog import read_catalog, write_catalog
from galhalo.columns import GALAXY, HALO, POSITION, VELOCITY
from galhalo.evaluate.clustering import Correlation, xi
from galhalo.sim.cosmology import Cosmology
from galhalo.sim.halos import HaloModel
from galhalo.sim.presets import preset_truth
from galhalo.sim.truth import TruthModel
from galhalo.sim.universe import UniverseConfig, simulate, simulate_halos

SMALL = {"n_halos": 3000, "box": 100.0}
KS_CRITICAL = 1.949  # Kolmogorov distribution at alpha = 0.001, times sqrt(n)


@pytest.fixture(scope="module")
def small_catalog():
    return simulate(seed=1, **SMALL)


@pytest.fixture(scope="module")
def halo_population():
    """A 205 Mpc/h box of 150,000 halos above 10^10.5 (about 15 s)."""
    return simulate_halos(150_000, seed=3).table


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def xi_shell(positions: np.ndarray) -> Correlation:
    """xi in the one shell 5-25 Mpc/h of the 205 Mpc/h box, with 27 jackknife copies."""
    return xi(positions, 205.0, [5.0, 25.0], jackknife=3, nthreads=1)


def difference_significance(first: Correlation, second: Correlation) -> float:
    """(xi_1 - xi_2) / its jackknife standard error (the same cubes for both)."""
    difference = first.combine(second, np.subtract, "xi difference")
    return float(difference.value[0] / difference.error[0])


def test_catalog_has_exactly_the_requested_rows_columns_and_metadata(small_catalog):
    catalog = small_catalog.validate()  # schema: bounds, positions inside the box, ids
    assert len(catalog) == SMALL["n_halos"]
    assert list(catalog.table.columns) == ["halo_id", *HALO, *GALAXY, *POSITION, *VELOCITY]
    assert catalog.meta.box_size == SMALL["box"]
    assert catalog.meta.seed == 1
    assert TruthModel.from_dict(catalog.meta.truth) == preset_truth()  # the default preset
    assert 0 < catalog.meta.extra["selected_fraction"] < 1
    assert catalog.table["halo_id"].is_unique


def test_every_galaxy_passes_the_stellar_mass_cut(small_catalog):
    assert (small_catalog.table["smass"] >= TruthModel().stellar_mass_cut).all()


@pytest.mark.parametrize("name", GALAXY)
def test_catalog_galaxies_follow_the_selected_truth_density(small_catalog, name):
    """Probability integral transform of every row through the truth's exact conditional
    CDF is uniform (KS, alpha = 0.001): the universe's selection and sampling produce
    exactly the density that ``TruthModel.log_prob`` scores."""
    table = small_catalog.table
    truth = TruthModel.from_dict(small_catalog.meta.truth)
    pit = truth.cdf(table, table[name].to_numpy(), name)
    statistic = stats.kstest(pit, "uniform").statistic
    assert statistic < KS_CRITICAL / np.sqrt(len(table))


def test_halo_marginals_follow_the_halo_model(halo_population):
    """At fixed mass, the standardised secondary properties are N(0, 1) with the model's
    correlations (exactly so in the construction, even with assembly bias)."""
    model = HaloModel()
    latents = model.latents(halo_population["M_h"].to_numpy(),
                            halo_population[["z_h", "C_h", "S_h"]].to_numpy())
    n = len(latents)
    np.testing.assert_allclose(latents.mean(axis=0), 0.0, atol=5 / np.sqrt(n))
    np.testing.assert_allclose(latents.std(axis=0), 1.0, atol=5 / np.sqrt(2 * n))
    correlation = np.corrcoef(latents.T)
    np.testing.assert_allclose(correlation, model.latent_correlation, atol=5 / np.sqrt(n))


def test_halo_clustering_grows_with_mass_like_tinker_bias(halo_population):
    """xi(8-25 Mpc/h) of massive halos exceeds that of light ones (> 3 jackknife sigma),
    and the bias ratio sqrt(xi_heavy / xi_light) agrees with Tinker et al. 2010 (3 sigma)."""
    table = halo_population
    positions = table[["x", "y", "z"]].to_numpy()
    light = ((table["M_h"] >= 10.5) & (table["M_h"] < 11.0)).to_numpy(copy=True)
    # 25,000 light halos are plenty (their xi error is far below the heavy halos').
    light[np.flatnonzero(light)[25_000:]] = False
    heavy = (table["M_h"] >= 12.0).to_numpy()
    xi_light = xi_shell(positions[light])
    xi_heavy = xi_shell(positions[heavy])
    assert difference_significance(xi_heavy, xi_light) > 3.0
    ratio = xi_heavy.combine(xi_light, lambda a, b: np.sqrt(a / b), "bias ratio")
    bias = Cosmology().halo_bias
    expected = (bias(table["M_h"][heavy].to_numpy()).mean()
                / bias(table["M_h"][light].to_numpy()).mean())
    assert abs(ratio.value[0] - expected) < 3 * ratio.error[0]


def _old_minus_young(table) -> float:
    """Significance of xi(old quartile) - xi(young quartile) at 11 <= M_h < 11.5."""
    fixed_mass = table[(table["M_h"] >= 11.0) & (table["M_h"] < 11.5)]
    young, old = fixed_mass["z_h"].quantile([0.25, 0.75])
    positions = fixed_mass[["x", "y", "z"]].to_numpy()
    xi_old = xi_shell(positions[(fixed_mass["z_h"] > old).to_numpy()])
    xi_young = xi_shell(positions[(fixed_mass["z_h"] < young).to_numpy()])
    return difference_significance(xi_old, xi_young)


def test_early_forming_halos_cluster_more_at_fixed_mass(halo_population):
    assert _old_minus_young(halo_population) > 3.0


def test_without_assembly_bias_formation_time_does_not_change_clustering():
    """Control: the same universe with assembly_bias = 0 shows no old/young difference."""
    truth = TruthModel(halo_model=HaloModel(assembly_bias=0.0))
    table = simulate_halos(150_000, seed=3, truth=truth).table
    assert abs(_old_minus_young(table)) < 3.0


def test_velocities_follow_linear_theory_amplitude(halo_population):
    """1-D velocity dispersion of halos is that of linear theory on the grid plus the
    sub-grid and virial terms: a few hundred km/s, isotropic."""
    velocities = halo_population[["vx", "vy", "vz"]].to_numpy()
    dispersion = velocities.std(axis=0)
    assert np.all((dispersion > 150) & (dispersion < 500))
    n = len(velocities)
    assert dispersion.max() / dispersion.min() < 1 + 0.2 + 5 / np.sqrt(n)


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    paths = []
    for run, seed in enumerate((5, 5, 6)):
        catalog = simulate(n_halos=500, box=60.0, seed=seed)
        for suffix in (".parquet", ".csv"):
            path = tmp_path / f"run{run}{suffix}"
            write_catalog(catalog, path)
            paths.append(path)
    first, second, other = (paths[i:i + 2] for i in (0, 2, 4))
    assert [sha256(p) for p in first] == [sha256(p) for p in second]
    assert sha256(first[0]) != sha256(other[0])
    reread = read_catalog(first[0])
    assert TruthModel.from_dict(reread.meta.truth) == preset_truth()


@pytest.mark.parametrize(("option", "value", "message"), [
    ("n_halos", 0, "n_halos"),
    ("n_halos", 2.5, "n_halos"),
    ("box", -10.0, "box"),
    ("box", float("nan"), "box"),
    ("redshift", -1.0, "redshift"),
    ("grid", 63, "grid"),
    ("particles", 16, "particles"),
])
def test_invalid_configuration_is_refused_before_any_work(option, value, message):
    settings = {"n_halos": 100, "box": 50.0, "grid": 32, option: value}
    with pytest.raises(ValueError, match=message):
        UniverseConfig(**settings)
