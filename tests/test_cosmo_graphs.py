"""Galaxy graphs, systematics and posterior metrics: edges equal a brute-force periodic
pair search, features are invariant under the box symmetries they should be invariant
under, systematics do what they say, metrics match hand-computed values, and bad input
fails clearly."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.transform import Rotation

from galhalo.catalog import Catalog, CatalogMeta
from galhalo.cosmo import (
    CosmoError,
    Galaxies,
    GraphConfig,
    Systematics,
    build_graph,
    galaxies_from_suite,
    graphs_from_suite,
    periodic_pairs,
)
from galhalo.cosmo.graphs import feature_names, minimum_image
from galhalo.cosmo.metrics import (
    chi2,
    coverage,
    expected_coverage,
    mean_relative_error,
    posterior_metrics,
    r2,
)
from galhalo.cosmo.systematics import (
    add_errors,
    apply_mask,
    random_mask,
    select_stellar_mass,
    to_redshift_space,
)

BOX = 25.0


def _galaxies(n: int, seed: int, box: float = BOX, clustered: bool = True) -> Galaxies:
    """Clumps (many pairs within 1.25 Mpc/h), some straddling the box faces."""
    rng = np.random.default_rng(seed)
    if clustered:
        centres = rng.uniform(0, box, (n // 8, 3))
        centres[:3] = [[0.2, 0.3, 24.9], [24.8, 12.0, 0.1], [0.05, 24.95, 24.9]]
        positions = np.mod(np.repeat(centres, 8, axis=0)
                           + rng.normal(0, 0.6, (len(centres) * 8, 3)), box)
    else:
        positions = rng.uniform(0, box, (n, 3))
    positions[positions >= box] = 0.0
    velocities = rng.normal(0, 300, positions.shape)
    return Galaxies(positions, velocities, box, {"smass": rng.normal(10, 0.5, len(positions))})


def _brute_force_pairs(positions: np.ndarray, box: float, r_link: float) -> set:
    d = positions[None, :, :] - positions[:, None, :]
    d -= box * np.round(d / box)
    close = (d**2).sum(axis=2) < r_link**2
    np.fill_diagonal(close, False)
    return {(int(j), int(i)) for i, j in zip(*np.nonzero(close), strict=True)}


# ----------------------------------------------------------------------------- edges
@pytest.mark.parametrize(("n", "r_link", "seed"), [(400, 1.25, 0), (160, 3.0, 1),
                                                    (300, 0.5, 2)])
def test_edges_equal_brute_force_periodic_pairs(n, r_link, seed):
    galaxies = _galaxies(n, seed)
    edges = periodic_pairs(galaxies.positions, BOX, r_link)
    found = set(map(tuple, edges.T.tolist()))
    assert len(found) == edges.shape[1]  # no duplicates
    expected = _brute_force_pairs(galaxies.positions, BOX, r_link)
    assert found == expected
    assert any(abs(galaxies.positions[j] - galaxies.positions[i]).max() > BOX / 2
               for j, i in found)  # some edges really cross the box faces


def test_uniform_points_give_the_expected_number_of_pairs():
    """Poisson expectation of directed pairs: n (n - 1) (4/3) pi r^3 / L^3; the count of
    pairs of a Poisson process is close to Poisson for sparse linking, so allow 5 sqrt."""
    galaxies = _galaxies(2000, 5, clustered=False)
    r = 1.0
    expected = 2000 * 1999 * 4 / 3 * math.pi * r**3 / BOX**3
    found = periodic_pairs(galaxies.positions, BOX, r).shape[1]
    assert abs(found - expected) < 5 * math.sqrt(expected)


def test_minimum_image_components_within_half_box():
    d = minimum_image(np.array([[24.0, -24.0, 12.4], [13.0, -13.0, 0.0]]), BOX)
    np.testing.assert_allclose(d, [[-1.0, 1.0, 12.4], [-12.0, 12.0, 0.0]])


# ----------------------------------------------------------------------------- invariance
def _features(galaxies: Galaxies, config: GraphConfig):
    graph = build_graph(galaxies, config)
    return graph.x.numpy(), graph.edge_index.numpy(), graph.edge_attr.numpy(), graph.u.numpy()


def _assert_same_graph(a, b):
    np.testing.assert_array_equal(a[1], b[1])
    for x, y in zip((a[0], a[2], a[3]), (b[0], b[2], b[3]), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-3)


def _cube_rotation(seed: int) -> np.ndarray:
    """A random proper rotation of the cube: a signed axis permutation with det +1."""
    rng = np.random.default_rng(seed)
    matrix = np.eye(3)[rng.permutation(3)] * rng.choice([-1.0, 1.0], 3)[:, None]
    if np.linalg.det(matrix) < 0:
        matrix[0] *= -1
    return matrix


def _rotate_box(galaxies: Galaxies, matrix: np.ndarray, shift: np.ndarray) -> Galaxies:
    positions = np.mod(galaxies.positions @ matrix.T + shift, BOX)
    positions[positions >= BOX] = 0.0
    velocities = (galaxies.velocities @ matrix.T if galaxies.velocities.shape[1] == 3
                  else galaxies.velocities)
    return Galaxies(positions, velocities, BOX, galaxies.properties)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_features_invariant_under_periodic_translations_and_cube_rotations(seed):
    galaxies = _galaxies(320, seed)
    config = GraphConfig(properties=("smass",))
    shift = np.random.default_rng(seed).uniform(0, BOX, 3)
    moved = _rotate_box(galaxies, _cube_rotation(seed), shift)
    _assert_same_graph(_features(galaxies, config), _features(moved, config))


def test_features_invariant_under_arbitrary_rotations_of_an_isolated_clump():
    """Points within 6 Mpc/h of the box centre stay away from the faces under any
    rotation about the centre, so the periodic box is irrelevant there."""
    rng = np.random.default_rng(7)
    offsets = rng.normal(0, 1.0, (150, 3))
    offsets = offsets[np.linalg.norm(offsets, axis=1) < 6]
    galaxies = Galaxies(BOX / 2 + offsets, rng.normal(0, 300, offsets.shape), BOX)
    matrix = Rotation.random(random_state=3).as_matrix()
    rotated = Galaxies(BOX / 2 + offsets @ matrix.T, galaxies.velocities @ matrix.T, BOX)
    _assert_same_graph(_features(galaxies, GraphConfig()), _features(rotated, GraphConfig()))


def test_line_of_sight_features_respect_only_rotations_about_the_line_of_sight():
    galaxies = _galaxies(320, 4)
    config = GraphConfig(line_of_sight=True)
    about_z = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    _assert_same_graph(_features(galaxies, config),
                       _features(_rotate_box(galaxies, about_z, np.array([3.0, 9.0, 1.0])),
                                 config))
    about_x = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    tilted = _features(_rotate_box(galaxies, about_x, np.zeros(3)), config)
    original = _features(galaxies, config)
    np.testing.assert_array_equal(original[1], tilted[1])  # same pairs...
    assert not np.allclose(original[2], tilted[2], atol=1e-3)  # ...seen from elsewhere


def test_feature_values_on_a_hand_made_pair():
    """Two galaxies 1 Mpc/h apart across the x face; receiver 0 moves towards sender 1."""
    galaxies = Galaxies([[24.7, 5.0, 5.0], [0.7, 5.0, 5.0]],
                        [[100.0, 0.0, 0.0], [0.0, 100.0, 0.0]], BOX)
    graph = build_graph(galaxies, GraphConfig(r_link=1.25))
    assert graph.edge_index.tolist() == [[1, 0], [0, 1]]
    edge = dict(zip(feature_names(GraphConfig())[1], graph.edge_attr[0].tolist(),
                    strict=True))
    assert edge["distance"] == pytest.approx(1 / 1.25)
    assert edge["cos_vi_d"] == pytest.approx(1.0)  # v_0 points along d = x_1 - x_0
    assert edge["cos_vj_d"] == pytest.approx(0.0, abs=1e-7)
    assert edge["cos_vi_vj"] == pytest.approx(0.0, abs=1e-7)
    assert edge["v_radial"] == pytest.approx(-100.0)  # approaching
    node = dict(zip(feature_names(GraphConfig())[0], graph.x[0].tolist(), strict=True))
    assert node["log_degree"] == pytest.approx(math.log(2))
    assert node["log_kernel"] == pytest.approx(math.log1p(1 - 1 / 1.25))
    assert node["speed"] == pytest.approx(100.0)
    assert graph.u.tolist() == [[pytest.approx(math.log10(2))]]
    assert build_graph(galaxies, GraphConfig(use_global=False)).u.shape == (1, 0)


# ----------------------------------------------------------------------------- systematics
def test_mask_empties_the_masked_cells_and_removes_the_stated_fraction():
    galaxies = _galaxies(4000, 8, clustered=False)
    mask = random_mask(0.3, 5, seed=1)
    assert mask.sum() == round(0.3 * 125)
    kept = apply_mask(galaxies, mask)
    cells = (kept.positions / BOX * 5).astype(int)
    assert not mask[cells[:, 0], cells[:, 1], cells[:, 2]].any()
    # Uniform points: the kept count is binomial(n, 1 - f); allow 4 standard deviations.
    f = mask.mean()
    assert abs(len(kept) - len(galaxies) * (1 - f)) < 4 * math.sqrt(len(galaxies) * f * (1 - f))
    np.testing.assert_array_equal(random_mask(0.3, 5, seed=1), mask)


def test_errors_have_the_given_size():
    """The sample standard deviation of n = 3 x 4000 Gaussian draws has relative standard
    error 1 / sqrt(2n); allow 4 of them."""
    galaxies = _galaxies(4000, 9, clustered=False)
    noisy = add_errors(galaxies, position_error=0.3, velocity_error=80.0, seed=2)
    dx = minimum_image(noisy.positions - galaxies.positions, BOX).ravel()
    dv = (noisy.velocities - galaxies.velocities).ravel()
    tolerance = 4 / math.sqrt(2 * dx.size)
    assert abs(dx.std() / 0.3 - 1) < tolerance
    assert abs(dv.std() / 80.0 - 1) < tolerance
    assert abs(dx.mean()) < 4 * 0.3 / math.sqrt(dx.size)
    assert ((noisy.positions >= 0) & (noisy.positions < BOX)).all()


def test_redshift_space_moves_z_by_vz_over_100_and_keeps_only_vz():
    galaxies = _galaxies(400, 10)
    moved = to_redshift_space(galaxies)
    np.testing.assert_array_equal(moved.positions[:, :2], galaxies.positions[:, :2])
    shift = minimum_image(moved.positions[:, 2] - galaxies.positions[:, 2], BOX)
    np.testing.assert_allclose(shift, galaxies.velocities[:, 2] / 100.0, atol=1e-9)
    assert moved.line_of_sight_only
    np.testing.assert_array_equal(moved.velocities[:, 0], galaxies.velocities[:, 2])
    with pytest.raises(CosmoError, match="line_of_sight=True"):
        build_graph(moved, GraphConfig())
    with pytest.raises(CosmoError, match="redshift space already"):
        to_redshift_space(moved)


def test_stellar_mass_selection_and_the_chain():
    galaxies = _galaxies(800, 11)
    kept = select_stellar_mass(galaxies, 10.2)
    assert len(kept) == (galaxies.properties["smass"] >= 10.2).sum()
    assert (kept.properties["smass"] >= 10.2).all()
    chain = Systematics(redshift_space=True, mask_fraction=0.2, position_error=0.1,
                        velocity_error=30.0, stellar_mass_min=10.0)
    first, again = chain.apply(galaxies, seed=5), chain.apply(galaxies, seed=5)
    np.testing.assert_array_equal(first.positions, again.positions)
    assert first.line_of_sight_only and (first.properties["smass"] >= 10.0).all()
    assert not np.array_equal(first.positions, chain.apply(galaxies, seed=6).positions)
    assert Systematics.from_dict(chain.to_dict()) == chain
    assert chain.active and not Systematics().active


@pytest.mark.parametrize(("settings", "message"), [
    ({"mask_fraction": 1.0}, "mask_fraction"), ({"mask_cells": 0}, "mask_cells"),
    ({"position_error": -1.0}, "position_error"), ({"velocity_error": math.nan},
                                                   "velocity_error"),
    ({"stellar_mass_min": math.inf}, "stellar_mass_min")])
def test_bad_systematics_are_refused(settings, message):
    with pytest.raises(CosmoError, match=message):
        Systematics(**settings)


def test_systematics_need_what_they_act_on():
    galaxies = Galaxies(np.full((3, 3), 1.0), np.zeros((3, 3)), BOX)
    with pytest.raises(CosmoError, match="smass"):
        select_stellar_mass(galaxies, 9.0)
    with pytest.raises(CosmoError, match="unknown systematics"):
        Systematics.from_dict({"mask": 0.1})
    with pytest.raises(CosmoError, match="boolean cube"):
        apply_mask(galaxies, np.zeros((2, 3, 2), dtype=bool))


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"positions": np.full((3, 2), 1.0)}, "shape"),
    ({"positions": [[1.0, 2.0, np.nan]] * 3}, "NaN"),
    ({"positions": [[1.0, 2.0, 25.0]] * 3}, "outside the box"),
    ({"velocities": np.zeros((3, 2))}, r"\(n, 3\) or \(n, 1\)"),
    ({"velocities": np.zeros((2, 3))}, "3 positions but 2 velocities"),
    ({"box_size": -1.0}, "box_size"),
    ({"properties": {"smass": np.zeros(2)}}, "property 'smass'"),
])
def test_bad_galaxies_are_refused(kwargs, message):
    base = {"positions": np.full((3, 3), 1.0), "velocities": np.zeros((3, 3)),
            "box_size": BOX}
    with pytest.raises(CosmoError, match=message):
        Galaxies(**{**base, **kwargs})


def test_bad_graph_input_is_refused():
    galaxies = _galaxies(80, 12)
    with pytest.raises(CosmoError, match="no galaxies"):
        build_graph(galaxies.select(np.zeros(len(galaxies), dtype=bool)))
    with pytest.raises(CosmoError, match="properties"):
        build_graph(galaxies, GraphConfig(properties=("color",)))
    with pytest.raises(CosmoError, match="r_link"):
        build_graph(galaxies, GraphConfig(r_link=13.0))
    with pytest.raises(CosmoError, match="r_link"):
        GraphConfig(r_link=-1.0)
    with pytest.raises(CosmoError, match="Galaxies"):
        build_graph(galaxies.positions)


# ----------------------------------------------------------------------------- suites
def _fake_suite(tmp_boxes: int = 3):
    names = [f"LH_{i}" for i in range(tmp_boxes)]
    parameters = pd.DataFrame({"Omega_m": [0.2, 0.3, 0.4][:tmp_boxes],
                               "sigma_8": [0.7, 0.8, 0.9][:tmp_boxes]},
                              index=pd.Index(names, name="Name"))

    def catalog(name: str) -> Catalog:
        g = _galaxies(80, int(name[3:]))
        table = pd.DataFrame({**dict(zip("xyz", g.positions.T, strict=True)),
                              **dict(zip(("vx", "vy", "vz"), g.velocities.T, strict=True)),
                              "smass": g.properties["smass"]})
        return Catalog(table, CatalogMeta(box_size=BOX))

    return SimpleNamespace(names=names, parameters=parameters, catalog=catalog)


def test_suite_adaptor_reads_boxes_and_parameters():
    suite = _fake_suite()
    boxes, values, names = galaxies_from_suite(suite, ["Omega_m", "sigma_8"], ["smass"])
    assert names == ("LH_0", "LH_1", "LH_2") and values.shape == (3, 2)
    np.testing.assert_allclose(values[:, 0], [0.2, 0.3, 0.4])
    np.testing.assert_array_equal(boxes[1].positions, _galaxies(80, 1).positions)
    graphs, omega_m, _ = graphs_from_suite(suite, GraphConfig(properties=("smass",)))
    assert len(graphs) == 3 and graphs[0].x.shape[1] == 4 and omega_m.shape == (3, 1)
    with pytest.raises(CosmoError, match="unknown"):
        galaxies_from_suite(suite, ["h"])
    with pytest.raises(CosmoError, match=r"\.catalog"):
        galaxies_from_suite(SimpleNamespace(names=[], parameters=None))
    with pytest.raises(CosmoError, match="missing"):
        galaxies_from_suite(suite, ["Omega_m"], ["color"])


# ----------------------------------------------------------------------------- metrics
def test_metrics_on_hand_computed_values():
    truth = np.array([0.2, 0.3, 0.4, 0.5])
    mean = np.array([0.25, 0.3, 0.35, 0.5])
    std = np.array([0.1, 0.01, 0.02, 0.1])
    assert r2(truth, mean)[0] == pytest.approx(1 - 0.005 / 0.05)
    assert mean_relative_error(truth, mean)[0] == pytest.approx((0.25 + 0 + 0.125 + 0) / 4)
    assert chi2(truth, mean, std)[0] == pytest.approx((0.25 + 0 + 6.25 + 0) / 4)
    assert coverage(truth, mean, std, 1.0)[0] == pytest.approx(0.75)
    assert coverage(truth, mean, std, 3.0)[0] == pytest.approx(1.0)
    metrics = posterior_metrics(truth, mean, std, ["Omega_m"])["Omega_m"]
    assert metrics["boxes"] == 4 and metrics["coverage_1sigma"] == pytest.approx(0.75)


def test_calibrated_gaussian_posteriors_score_as_expected():
    """Truth drawn from N(mean, std): coverage is binomial(n, erf(k / sqrt 2)) and chi^2
    has standard error sqrt(2 / n); allow 4 standard errors."""
    rng = np.random.default_rng(0)
    n = 20000
    mean = rng.uniform(0.1, 0.5, n)
    std = rng.uniform(0.01, 0.05, n)
    truth = rng.normal(mean, std)
    for k in (1.0, 2.0):
        p = expected_coverage(k)
        assert abs(coverage(truth, mean, std, k)[0] - p) < 4 * math.sqrt(p * (1 - p) / n)
    assert abs(chi2(truth, mean, std)[0] - 1) < 4 * math.sqrt(2 / n)


@pytest.mark.parametrize(("args", "message"), [
    ((np.zeros(3), np.zeros(4)), "differ in shape"),
    ((np.array([0.1, np.nan]), np.zeros(2)), "NaN"),
    ((np.zeros(0), np.zeros(0)), "boxes >= 1"),
    ((np.full(3, 0.3), np.full(3, 0.3)), "two distinct"),
])
def test_bad_metric_input_is_refused(args, message):
    with pytest.raises(CosmoError, match=message):
        r2(*args)


def test_bad_std_is_refused():
    with pytest.raises(CosmoError, match="std must be > 0"):
        chi2([0.1, 0.2], [0.1, 0.2], [0.1, 0.0])
    with pytest.raises(CosmoError, match="names"):
        posterior_metrics([0.1, 0.2], [0.1, 0.2], [0.1, 0.1], ["a", "b"])
