"""HiVAl: the pairing rule on hand-checkable geometry, the exact reference, the invariants
of the hierarchy (one class per point, nesting, monotone counts, fixed point), statistics
recomputed from memberships, persistence, assignment and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_model_store_families import as_legacy_hierarchy

from galhalo.errors import ReportError
from galhalo.models.hival import (
    Hierarchy,
    HiValError,
    exact_geometry,
    hival,
    oracle_pcc,
    pair_cells,
    raycast_geometry,
)
from galhalo.report.hival_figure import hival_figure

# A product grid: the Voronoi cells are rectangles bounded by the midpoints, so volumes
# and faces are products and differences of coordinates (worked out in the comments).
XS = np.array([0.0, 0.1, 0.4, 1.0])  # cell widths 0.05, 0.20, 0.45, 0.30
YS = np.array([0.0, 0.3, 1.0])       # cell heights 0.15, 0.50, 0.35
WIDTH = np.array([0.05, 0.20, 0.45, 0.30])
HEIGHT = np.array([0.15, 0.50, 0.35])


def grid_points() -> np.ndarray:
    """Point (a, b) has index 3 a + b."""
    return np.array([[x, y] for x in XS for y in YS])


def cell(a: int, b: int) -> int:
    return 3 * a + b


@pytest.mark.parametrize("method", ["raycast", "exact"])
def test_rectangle_volumes_and_faces(method):
    points = grid_points()
    geometry = (exact_geometry(points, 3) if method == "exact"
                else raycast_geometry(points, 3, neighbours=16, directions=512))
    area = np.outer(WIDTH, HEIGHT).ravel()
    if method == "exact":
        # the reference cuts the cube exactly: equal to rounding
        np.testing.assert_allclose(geometry.volumes, area, rtol=1e-9)
    else:
        # area = integral of r(theta)^2 / 2 over Q equally spaced angles (step 2 pi / Q):
        # the midpoint rule errs by at most step / 2 x the total variation of r^2 / 2,
        # which rises and falls at most once per quadrant: <= 4 r_max^2 (r_max <= the
        # rectangle's diagonal). Q = 512 gives 0.0245 r_max^2.
        diagonal2 = np.add.outer(WIDTH**2, HEIGHT**2).ravel()
        assert np.all(np.abs(geometry.volumes - area) <= np.pi / 512 * 4 * diagonal2)
    faces = {(i, int(j)): f for i, (row, frow) in enumerate(zip(geometry.partners,
                                                                 geometry.faces, strict=True))
             for j, f in zip(row, frow, strict=True) if j >= 0}
    # (0,0)-(1,0) share the vertical edge x = 0.05 of height 0.15; (0,0)-(0,1) the
    # horizontal edge y = 0.15 of width 0.05; (0,0)-(1,1) touch at a corner only.
    assert faces[(cell(0, 0), cell(1, 0))] == pytest.approx(0.15, rel=1e-6)
    assert faces[(cell(0, 0), cell(0, 1))] == pytest.approx(0.05, rel=1e-6)
    assert (cell(0, 0), cell(1, 1)) not in faces
    assert faces[(cell(2, 0), cell(2, 1))] == pytest.approx(0.45, rel=1e-6)


@pytest.mark.parametrize("method", ["raycast", "exact"])
def test_rectangle_grid_first_iteration_pairs(method):
    """Visiting order (volume): (0,0) .0075, (0,2) .0175, (0,1) .025, (1,0) .03,
    (3,0) .045, (2,0) .0675, (1,2) .07, ... Each takes the unpaired candidate (among its
    3 nearest) with the longest shared edge:
    (0,0): (1,0) edge .15 over (0,1) .05;   (0,2): (1,2) .35 over (0,1) .05;
    (0,1): (1,1) .50;  (3,0): (3,1) .30 over (2,0) .15;  (2,0): (2,1) .45 over (1,0);
    (3,2): (2,2) .35 (its other candidate (3,1) is taken)."""
    points = grid_points()
    hierarchy = hival(points, method=method, directions=512)
    expected = [{(0, 0), (1, 0)}, {(0, 2), (1, 2)}, {(0, 1), (1, 1)}, {(3, 0), (3, 1)},
                {(2, 0), (2, 1)}, {(3, 2), (2, 2)}]
    level1 = hierarchy.labels[1]
    groups = [{divmod(int(i), 3) for i in np.flatnonzero(level1 == k)}
              for k in range(hierarchy.counts[1])]
    assert sorted(map(sorted, groups)) == sorted(map(sorted, expected))


def test_partner_is_the_largest_face_not_the_nearest():
    """A (.5,.45) is the smallest cell. Its nearest generator B (.5,.55) is flanked by
    F1 (.4,.55) and F2 (.6,.55), whose bisectors with A (y = x + .05 and y = -x + 1.05)
    cut the edge A|B on y = .5 to .45 <= x <= .55 (length .10); C (.5,.32) is farther
    (.13 vs .10) but the edge A|C on y = .385 runs over .335 <= x <= .665 (length .33).
    The corners fix the bounding box to the unit square. A pairs with C."""
    a, b, c, f1, f2 = (0.5, 0.45), (0.5, 0.55), (0.5, 0.32), (0.4, 0.55), (0.6, 0.55)
    points = np.array([a, b, c, f1, f2, (0, 0), (1, 0), (0, 1), (1, 1)], dtype=float)
    for method in ("raycast", "exact"):
        geometry = (exact_geometry(points) if method == "exact"
                    else raycast_geometry(points, directions=512))
        assert np.argmin(geometry.volumes) == 0
        row = list(geometry.partners[0])
        assert row[0] == 2 and 1 in row
        faces = dict(zip(row, geometry.faces[0], strict=True))
        assert faces[2] == pytest.approx(0.33, rel=1e-6)
        assert faces[1] == pytest.approx(0.10, rel=1e-6)
        assert {0, 2} in [set(p) for p in pair_cells(geometry.volumes, geometry.partners)]


def test_raycast_matches_the_exact_voronoi_reference():
    """With every generator a neighbour (no local ball) the rays are exact: volumes agree
    to the 2-D quadrature error (< 1 % at 256 rays) and the partners agree."""
    rng = np.random.default_rng(3)
    points = rng.random((60, 2)) ** 2  # denser towards a corner
    exact = exact_geometry(points, 3)
    fast = raycast_geometry(points, 3, neighbours=59, directions=256)
    np.testing.assert_allclose(fast.volumes, exact.volumes, rtol=2e-2)
    assert fast.volumes.sum() == pytest.approx(1.0, rel=5e-3)
    np.testing.assert_array_equal(fast.partners, exact.partners)
    np.testing.assert_allclose(fast.faces, exact.faces, rtol=1e-6, atol=1e-12)


@pytest.fixture(scope="module")
def sample():
    """A skewed, correlated 3-D cloud with a few exact duplicates."""
    rng = np.random.default_rng(0)
    n = 1500
    base = rng.normal(size=(n, 3)) @ np.array([[1, 0.5, 0], [0, 1, 0.3], [0, 0, 0.5]])
    base[:, 0] = np.exp(0.5 * base[:, 0])
    base[-5:] = base[:5]
    return base


@pytest.fixture(scope="module")
def hierarchy(sample):
    return hival(sample, ("smass", "color", "sSFR"), seed=1)


def test_every_point_in_exactly_one_class_at_every_level(hierarchy, sample):
    labels = hierarchy.labels
    assert labels.shape == (hierarchy.n_levels, len(sample))
    for level, count in enumerate(hierarchy.counts):
        assert labels[level].min() == 0 and labels[level].max() == count - 1
        assert np.all(np.bincount(labels[level], minlength=count) > 0)
    for level in range(hierarchy.n_levels - 1):
        # nested: a class of level l lies inside one class of level l + 1, which holds
        # at most two classes of level l (merges are pairwise)
        parent = np.zeros(hierarchy.counts[level], dtype=int) - 1
        parent[labels[level]] = labels[level + 1]
        assert np.all(parent[labels[level]] == labels[level + 1])
        assert np.bincount(parent).max() <= 2


def test_counts_decrease_to_a_fixed_point(hierarchy):
    counts = np.array(hierarchy.counts)
    assert counts[0] == 1500 - 5  # duplicates share a class from level 0
    assert hierarchy.settings["duplicates"] == 5
    assert np.all(np.diff(counts) < 0)
    assert np.all(counts[1:] >= np.ceil(counts[:-1] / 2))
    assert counts[-1] == 1  # every cell is bounded, so merging ends in one class
    last = raycast_geometry(hierarchy.generators[-1])
    assert len(pair_cells(last.volumes, last.partners)) == 0
    # the published first step keeps ~56 % of the classes; pairwise merging keeps >= 50 %
    assert 0.5 <= counts[1] / counts[0] < 0.65


def test_statistics_match_a_recomputation_from_memberships(hierarchy, sample):
    for level in (0, 2, 5, hierarchy.n_levels - 2):
        labels = hierarchy.labels[level]
        for k in range(0, hierarchy.counts[level], max(1, hierarchy.counts[level] // 25)):
            members = sample[labels == k]
            assert hierarchy.occupancy[level][k] == len(members)
            np.testing.assert_allclose(hierarchy.dispersion[level][k], members.std(axis=0),
                                       atol=1e-12)
        assert hierarchy.occupancy[level].sum() == len(sample)


def _variance_shares(hierarchy, sample, level):
    """(between, within) class variance of each column at ``level``, from memberships."""
    n = len(sample)
    occupancy = hierarchy.occupancy[level]
    within = (hierarchy.dispersion[level] ** 2 * occupancy[:, None]).sum(axis=0) / n
    return sample.var(axis=0) - within, within


def test_oracle_pcc_matches_its_expectation(hierarchy, sample):
    """The default (paper) oracle draws a random member of the point's class plus
    N(0, class dispersion): E[PCC] = B / sqrt((B + W)(B + 2W)) with B, W the between- and
    within-class variances. The draw's sampling error is ~ sqrt(2 / N) at most; allow
    5 x."""
    n = len(sample)
    assert hierarchy.settings["oracle"] == "paper" and hierarchy.oracle == "paper"
    for level in range(1, hierarchy.n_levels - 1, 2):
        between, within = _variance_shares(hierarchy, sample, level)
        total = between + within
        expected = between / np.sqrt(total * (total + within))
        np.testing.assert_allclose(hierarchy.oracle_pcc[level], expected,
                                   atol=5 * np.sqrt(2 / n))
    np.testing.assert_allclose(hierarchy.oracle_pcc[0], 1.0, rtol=1e-12)  # duplicates equal


def test_paper_oracle_is_lower_than_the_member_oracle():
    """Pins issue 17: the member rule (the old default: a random member of the class, no
    noise) has E[PCC] = B / (B + W), the paper's rule (plus N(0, class dispersion))
    B / sqrt((B + W)(B + 2W)), lower. 1e5 points in 400 classes of 250, two columns
    with within-class shares 0.2 and 0.4; the sampling error of a PCC is below
    sqrt(2 / N): tolerance 5 x."""
    rng = np.random.default_rng(4)
    n, classes = 100_000, 400
    labels = rng.integers(classes, size=n)
    centres = rng.normal(size=(classes, 2))
    x = centres[labels] + rng.normal(size=(n, 2)) * np.sqrt([0.2 / 0.8, 0.4 / 0.6])
    occupancy = np.bincount(labels, minlength=classes)
    mean = np.stack([np.bincount(labels, weights=c, minlength=classes) for c in x.T], 1)
    dispersion = np.sqrt(np.stack([np.bincount(labels, weights=c**2, minlength=classes)
                                   for c in (x - mean[labels] / occupancy[labels, None]).T], 1)
                         / occupancy[:, None])
    within = (dispersion**2 * occupancy[:, None]).sum(axis=0) / n
    total = x.var(axis=0)
    between = total - within
    tolerance = 5 * np.sqrt(2 / n)
    member = oracle_pcc(x, labels, occupancy, dispersion, np.random.default_rng(1), "member")
    paper = oracle_pcc(x, labels, occupancy, dispersion, np.random.default_rng(1), "paper")
    np.testing.assert_allclose(member, between / total, atol=tolerance)
    np.testing.assert_allclose(paper, between / np.sqrt(total * (total + within)),
                               atol=tolerance)
    assert np.all(paper < member - 2 * tolerance)


def test_paper_oracle_picks_finer_levels(hierarchy, sample):
    """The same hierarchy with the member rule (the classes do not depend on the rule)
    reaches a PCC threshold at a coarser level: wherever the two rules' smallest column
    PCCs at a level are separated by 3 standard errors each ((1 - r^2) / sqrt(N)), a
    threshold between them is reached at a finer (lower) level by the paper rule."""
    n = len(sample)
    member = hival(sample, ("smass", "color", "sSFR"), seed=1, oracle="member")
    np.testing.assert_array_equal(member.labels, hierarchy.labels)
    assert member.settings["oracle"] == "member"
    checked = 0
    for level in range(1, hierarchy.n_levels - 1):
        paper_pcc, member_pcc = hierarchy.oracle_pcc[level].min(), member.oracle_pcc[level].min()
        low = paper_pcc + 3 * (1 - paper_pcc**2) / np.sqrt(n)
        high = member_pcc - 3 * (1 - member_pcc**2) / np.sqrt(n)
        if low < high:  # a threshold between the rules at this level
            threshold = 0.5 * (low + high)
            assert hierarchy.coarsest_level(threshold) < member.coarsest_level(threshold)
            checked += 1
    assert checked > 0
    with pytest.raises(HiValError, match="unknown oracle PCC rule 'noisy'"):
        hival(sample, oracle="noisy")


def test_same_input_same_hierarchy(sample, hierarchy):
    again = hival(sample, ("smass", "color", "sSFR"), seed=1)
    np.testing.assert_array_equal(again.labels, hierarchy.labels)
    np.testing.assert_array_equal(again.oracle_pcc, hierarchy.oracle_pcc)
    other = hival(sample, ("smass", "color", "sSFR"), seed=2)
    np.testing.assert_array_equal(other.labels, hierarchy.labels)  # geometry has no seed
    assert not np.array_equal(other.oracle_pcc[3:], hierarchy.oracle_pcc[3:])


def test_save_and_load_round_trip(hierarchy, sample, tmp_path):
    directory = hierarchy.save(tmp_path / "h")
    loaded = Hierarchy.load(directory)
    assert loaded.names == hierarchy.names and loaded.counts == hierarchy.counts
    np.testing.assert_array_equal(loaded.labels, hierarchy.labels)
    for name in ("generators", "volumes", "occupancy", "dispersion"):
        for a, b in zip(getattr(loaded, name), getattr(hierarchy, name), strict=True):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.assign(sample[:50], 3), hierarchy.assign(sample[:50], 3))
    with np.load(directory / "arrays.npz", allow_pickle=False) as data:
        assert "labels" in data.files
    assert json.loads((directory / "config.json").read_text())["counts"] == hierarchy.counts
    assert loaded.oracle == "paper"
    # a hierarchy saved before the rule was recorded (and before the model store) keeps
    # its values, read as "member"
    as_legacy_hierarchy(directory)
    meta = json.loads((directory / "hival.json").read_text())
    meta["settings"].pop("oracle")
    (directory / "hival.json").write_text(json.dumps(meta))
    legacy = Hierarchy.load(directory)
    assert legacy.oracle == "member"
    np.testing.assert_array_equal(legacy.oracle_pcc, hierarchy.oracle_pcc)
    (directory / "hival.npz").unlink()
    with pytest.raises(HiValError, match=r"hival\.npz is missing"):
        Hierarchy.load(directory)


def test_assign_puts_points_into_the_nearest_class(hierarchy):
    level = 4
    generators = hierarchy.generators_physical(level)
    np.testing.assert_array_equal(hierarchy.assign(generators, level),
                                  np.arange(len(generators)))
    span = hierarchy.upper - hierarchy.lower
    nudged = generators[:10] + 1e-6 * span
    np.testing.assert_array_equal(hierarchy.assign(nudged, level), np.arange(10))
    with pytest.raises(HiValError, match="level 99 does not exist"):
        hierarchy.assign(generators, 99)
    with pytest.raises(HiValError, match=r"shape \(rows, 3\)"):
        hierarchy.assign(generators[:, :2], level)


def test_diagnostic_figure(hierarchy, sample, tmp_path):
    path = hival_figure(hierarchy, tmp_path / "h.png", points=sample, level=3)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ReportError, match="points must be the 1500 x 3 array"):
        hival_figure(hierarchy, tmp_path / "x.png", points=sample[:10])
    assert not (tmp_path / "x.png").exists()


def test_coarsest_level_for_a_threshold(hierarchy):
    pcc = hierarchy.oracle_pcc
    level = hierarchy.coarsest_level(0.9)
    assert np.all(pcc[level] >= 0.9) and not np.all(pcc[level + 1:] >= 0.9, axis=1).any()
    strict_on_colour = hierarchy.coarsest_level({"color": 0.99})
    assert pcc[strict_on_colour, 1] >= 0.99 and strict_on_colour <= level
    with pytest.raises(HiValError, match="unknown columns"):
        hierarchy.coarsest_level({"radius": 0.5})


def test_one_dimension_and_volumes_tile_the_interval():
    x = np.random.default_rng(5).normal(size=400)
    hierarchy = hival(x[:, None], ("smass",))
    assert hierarchy.counts[-1] == 1
    geometry = raycast_geometry(hierarchy.generators[0], neighbours=399)
    # exact in 1-D up to the single-precision ray products (relative error ~1e-7)
    assert geometry.volumes.sum() == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("points, message", [
    (np.random.default_rng(0).normal(size=(4, 4)), "at least D \\+ 1 = 5 distinct points"),
    (np.repeat([[0.0, 1.0], [1.0, 0.0]], 5, axis=0), "at least D \\+ 1 = 3 distinct"),
    (np.where(np.arange(20)[:, None] == 7, np.nan, np.ones((20, 2)) * np.arange(20)[:, None]),
     "'x0': 1 of 20 values are NaN or inf \\(first at row 7\\)"),
    (np.random.default_rng(0).normal(size=(40, 9)), "1 to 8 dimensions, got 9"),
    (np.column_stack([np.arange(10.0), np.ones(10)]), "columns \\['x1'\\] are constant"),
])
def test_bad_input_fails_clearly(points, message):
    with pytest.raises(HiValError, match=message):
        hival(points)


def test_bad_options_fail_clearly():
    points = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(HiValError, match="unknown HiVAl method 'delaunay'"):
        hival(points, method="delaunay")
    with pytest.raises(HiValError, match="candidates must be a positive integer"):
        hival(points, candidates=0)
    with pytest.raises(HiValError, match=r"shape \(rows, 3\)"):
        hival(points, names=("a", "b", "c"))
    assert issubclass(HiValError, ValueError)
