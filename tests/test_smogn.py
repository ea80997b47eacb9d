"""SMOGN (galhalo.augment.smogn): relevance, bins, sampling counts, synthetic geometry, errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist

from galhalo.augment import synthesis
from galhalo.augment.smogn import (
    SmognError,
    augment,
    automatic_control_points,
    check_control_points,
    relevance,
    smogn,
)


def skewed_table(n: int = 600, seed: int = 3) -> pd.DataFrame:
    """Four features and a right-skewed target with both tails beyond the whiskers."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, 4))
    target = features[:, 0] + 1.5 * rng.standard_gamma(1.0, n) + 0.5 * rng.standard_t(2, n)
    table = pd.DataFrame(features, columns=["a", "b", "c", "d"])
    table["y"] = target
    return table


def step_table() -> tuple[pd.DataFrame, np.ndarray]:
    """y = 0..99; control points make y <= 9 and y >= 90 rare (bins of 10, 80, 10 rows)."""
    rng = np.random.default_rng(0)
    y = np.arange(100.0)
    table = pd.DataFrame({"f": y / 10 + rng.normal(scale=0.1, size=100),
                          "g": rng.normal(size=100), "y": y})
    points = np.array([[9.0, 1, 0], [10, 0, 0], [89, 0, 0], [90, 1, 0]])
    return table, points


# ------------------------------------------------------------------------ relevance


def test_relevance_zero_slope_cubic_matches_hand_values():
    # Points (0, 0, 0), (1, 1, 0): the Hermite cubic is 3 s^2 - 2 s^3; flat outside.
    points = np.array([[0.0, 0, 0], [1, 1, 0]])
    y = np.array([-1.0, 0, 0.25, 0.5, 0.75, 1, 2])
    expected = [0.0, 0.0, 0.15625, 0.5, 0.84375, 1.0, 1.0]
    np.testing.assert_allclose(relevance(y, points), expected, atol=1e-15)


def test_relevance_given_slopes_matches_hand_values():
    # (0, 0, slope 1), (2, 1, slope 0): secant 1/2, alpha 2, beta 0 -> no rescaling;
    # c = (3 * 0.5 - 2) / 2 = -0.25, d = 0, so phi = s - s^2 / 4 on [0, 2].
    points = np.array([[0.0, 0, 1], [2, 1, 0]])
    np.testing.assert_allclose(relevance([0.0, 0.5, 1, 1.5, 2], points),
                               [0, 0.4375, 0.75, 0.9375, 1.0], atol=1e-15)


def test_relevance_rescales_non_monotone_slopes():
    # (0, 0, 5), (1, 1, 0.5): alpha = 5, beta = 0.5 lie outside the Fritsch-Carlson
    # region (5 * (7.5 + 3) < 7.5^2), so both slopes are scaled by 3 / sqrt(25.25).
    points = np.array([[0.0, 0, 5], [1, 1, 0.5]])
    m0, m1 = 15 / math.sqrt(25.25), 1.5 / math.sqrt(25.25)
    s = np.array([0.2, 0.5, 0.8])
    hand = m0 * s + (3 - 2 * m0 - m1) * s**2 + (m0 - 2 + m1) * s**3
    np.testing.assert_allclose(relevance(s, points), hand, rtol=1e-13)
    grid = relevance(np.linspace(0, 1, 2001), points)
    assert np.all(np.diff(grid) >= 0)


def test_relevance_flat_interval_and_control_point_values():
    points = np.array([[0.0, 1, 0], [1, 0, 0], [2, 0, 0], [3, 1, 0]])
    np.testing.assert_array_equal(relevance(points[:, 0], points), points[:, 1])
    np.testing.assert_array_equal(relevance(np.linspace(1, 2, 11), points), 0.0)
    np.testing.assert_allclose(relevance([0.5, 2.5], points), [0.5, 0.5], atol=1e-15)


def test_automatic_control_points_from_box_plot():
    # y = 1..9 and 50: midpoint quartiles 3.5 and 7.5, median 5.5, IQR 4; fences -2.5 and
    # 13.5, so the whiskers are 1 and 9 and only 50 is an outlier (above).
    high = np.r_[np.arange(1.0, 10), 50]
    np.testing.assert_array_equal(automatic_control_points(high),
                                  [[1, 0, 0], [5.5, 0, 0], [9, 1, 0]])
    # relevance(y) with no points uses these automatic points of y itself: on [5.5, 9]
    # phi = 3 s^2 - 2 s^3 with s = (y - 5.5) / 3.5 = 1/7, 3/7, 5/7 at y = 6, 7, 8.
    hand = [0, 0, 0, 0, 0, 19 / 343, 135 / 343, 275 / 343, 1, 1]
    np.testing.assert_allclose(relevance(high), hand, atol=1e-15)
    # Mirror image: -50 and 1..9: quartiles 2.5 and 6.5, median 4.5, whiskers 1 and 9.
    low = np.r_[-50, np.arange(1.0, 10)]
    np.testing.assert_array_equal(automatic_control_points(low),
                                  [[1, 1, 0], [4.5, 0, 0], [9, 0, 0]])


# ------------------------------------------------------------------------ bins and counts


def test_rare_set_and_bins_follow_the_threshold():
    table = skewed_table()
    for threshold in (0.3, 0.8, 1.0):
        result = augment(table, "y", threshold=threshold)
        phi = relevance(table["y"].to_numpy(), result.control_points)
        np.testing.assert_array_equal(result.relevance, phi)
        np.testing.assert_array_equal(result.rare, phi >= threshold)
        bins = result.bins
        # Bins partition the sorted target into alternating runs of equal rarity.
        assert bins["rows"].sum() == len(table)
        assert np.all(bins["upper"].to_numpy()[:-1] < bins["lower"].to_numpy()[1:])
        assert np.all(bins["rare"].to_numpy()[1:] != bins["rare"].to_numpy()[:-1])
        for b, row in bins.iterrows():
            members = result.input_bin == b
            assert members.sum() == row["rows"]
            assert np.all(result.rare[members] == row["rare"])


def test_balance_mode_bin_counts():
    table = skewed_table()
    result = augment(table, "y")
    bins = result.bins
    share = round(len(table) / len(bins))
    assert len(bins) == 3 and bins["rare"].tolist() == [True, False, True]
    np.testing.assert_array_equal(bins["total"], share)
    np.testing.assert_array_equal(np.bincount(result.bin), share)
    assert len(result.table) == share * len(bins)
    # Rare (small) bins keep every original row; the common bin keeps `share` of them.
    rare = bins["rare"].to_numpy()
    np.testing.assert_array_equal(bins["kept"][rare], bins["rows"][rare])
    np.testing.assert_array_equal(bins["synthetic"][rare], share - bins["rows"][rare])
    assert bins["kept"][~rare].item() == share and bins["synthetic"][~rare].item() == 0
    # Kept rows are exact copies of their input rows, each at most once.
    kept = ~result.synthetic
    assert len(np.unique(result.source[kept])) == kept.sum()
    np.testing.assert_array_equal(result.table[kept].to_numpy(),
                                  table.to_numpy()[result.source[kept]])

    whole = augment(table, "y", undersample=False).bins
    np.testing.assert_array_equal(whole["total"], np.where(rare, share, bins["rows"]))


def test_extreme_and_balance_counts_hand_computed():
    # Bins of 10, 80, 10 rows; b = round(100 / 3) = 33. Extreme: scale = 99 / sum(b^2/n_i)
    # = 99 / 231.4125; objectives 46.59, 5.82, 46.59; ratios 4.7, 0.1, 4.7 -> 47, 8, 47.
    table, points = step_table()
    extreme = augment(table, "y", control_points=points, mode="extreme").bins
    np.testing.assert_array_equal(extreme["rows"], [10, 80, 10])
    np.testing.assert_array_equal(extreme["total"], [47, 8, 47])
    np.testing.assert_array_equal(extreme["synthetic"], [37, 0, 37])
    balance = augment(table, "y", control_points=points).bins
    np.testing.assert_array_equal(balance["total"], [33, 33, 33])


# ------------------------------------------------------------------------ synthetic rows


def test_synthetic_rows_lie_on_neighbour_segments_or_within_the_noise():
    table = skewed_table(n=1500, seed=5)
    k, pert = 5, 0.2
    result = augment(table, "y", k=k, pert=pert, threshold=0.5, seed=11)
    data = table.to_numpy()
    out = result.table.to_numpy()
    made = np.flatnonzero(result.synthetic)
    interpolated, noise = made[result.neighbour[made] >= 0], made[result.neighbour[made] < 0]
    assert len(interpolated) > 100 and len(noise) > 100  # both branches exercised

    expected_safe, z_scores = [], []
    for b in np.flatnonzero(result.bins["rare"].to_numpy()):
        members = np.flatnonzero(result.input_bin == b)
        distance = cdist(data[members], data[members])
        half = 0.5 * np.median(distance, axis=1)  # exact: the seed's own 0 included
        nearest = np.argsort(distance, axis=1, kind="stable")[:, 1:k + 1]
        local = {row: i for i, row in enumerate(members)}
        rows_b = made[result.bin[made] == b]
        for r in rows_b:
            i = local[result.source[r]]
            safe = distance[i, nearest[i]] < half[i]
            expected_safe.append(safe.mean())
            partner = result.neighbour[r]
            if partner >= 0:
                j = local[partner]
                assert j in nearest[i] and distance[i, j] < half[i]
                step = data[partner] - data[result.source[r]]
                shift = out[r] - data[result.source[r]]
                u = shift @ step / (step @ step)
                assert -1e-12 <= u <= 1 + 1e-12
                np.testing.assert_allclose(shift, u * step, atol=1e-9)
            else:
                scale = data[members].std(axis=0) * min(pert, half[i])
                clipped = np.isclose(out[r], data.min(axis=0)) | np.isclose(
                    out[r], data.max(axis=0))
                z_scores.extend(((out[r] - data[result.source[r]]) / scale)[~clipped])
    # Interpolation happens exactly when the drawn neighbour (uniform among k) is close:
    # the count is a sum of Bernoulli(p_seed) draws; allow 4 standard deviations.
    p = np.array(expected_safe)
    assert abs(len(interpolated) - p.sum()) < 4 * math.sqrt((p * (1 - p)).sum())
    # Noise offsets are N(0, 1) in units of min(pert, half median) x the bin's sd:
    # mean within 4 standard errors, sd within 4 x sqrt(1 / (2 N)).
    z = np.array(z_scores)
    assert abs(z.mean()) < 4 / math.sqrt(len(z))
    assert abs(z.std() - 1) < 4 / math.sqrt(2 * len(z))


def test_sampled_median_distance_is_within_its_rank_error(monkeypatch):
    # Above EXACT_MEDIAN_MAX_ROWS the median comes from MEDIAN_SAMPLE rows: its rank among
    # all distances is ~ Binomial, so it lies between the population quantiles
    # 0.5 -+ 2.5 / sqrt(m) (5 standard deviations of the sample median's rank).
    rng = np.random.default_rng(2)
    points = rng.normal(size=(1500, 3))
    m = 400
    monkeypatch.setattr(synthesis, "EXACT_MEDIAN_MAX_ROWS", 1000)
    monkeypatch.setattr(synthesis, "MEDIAN_SAMPLE", m)
    seeds = np.arange(0, 1500, 15)
    sampled = 2 * synthesis.half_median_distance(points, seeds, np.random.default_rng(0))
    exact = cdist(points[seeds], points)
    width = 2.5 / math.sqrt(m)
    low, high = np.quantile(exact, [0.5 - width, 0.5 + width], axis=1)
    assert np.all((low <= sampled) & (sampled <= high))
    assert not np.allclose(sampled, np.median(exact, axis=1))  # really the sampled path


def test_seeds_reproduce_and_differ():
    table = skewed_table(n=300)
    first = smogn(table, "y", seed=4)
    pd.testing.assert_frame_equal(first, smogn(table, "y", seed=4))
    assert not first.equals(smogn(table, "y", seed=5))


def test_output_columns_dtypes_and_feature_subset():
    table = skewed_table(n=300)
    table["count"] = np.arange(300, dtype=np.int32) % 7
    table["name"] = "x"
    out = smogn(table, "y", features=["count", "a", "b"])
    assert list(out.columns) == ["a", "b", "y", "count"]
    assert out["count"].dtype == np.int32
    assert out["count"].between(0, 6).all()
    assert isinstance(out.index, pd.RangeIndex)
    # Synthetic values stay within each column's observed range.
    for name in ("a", "b", "y"):
        assert table[name].min() <= out[name].min() and out[name].max() <= table[name].max()


def test_extreme_mode_warns_when_a_bin_is_emptied():
    # Bins of 3, 394, 3 rows: b = 133, the common bin's objective 1.51 rows gives the
    # ratio 1.51 / 394, which rounds to 0.0 (the package's rule): the bin disappears.
    big = pd.DataFrame({"f": np.arange(400.0), "g": np.cos(np.arange(400.0)),
                        "y": np.arange(400.0)})
    points = np.array([[2.0, 1, 0], [3, 0, 0], [396, 0, 0], [397, 1, 0]])
    with pytest.warns(UserWarning, match="removes bin 1"):
        bins = augment(big, "y", control_points=points, mode="extreme", k=2).bins
    assert bins["total"][1] == 0 and bins["rows"][1] == 394


# ------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(("change", "kwargs", "message"), [
    (lambda t: t.assign(y=2.0), {}, "constant"),
    (lambda t: t, {"k": 300}, "k = 300"),
    (lambda t: t, {"k": 0}, "k must be an integer >= 1"),
    (lambda t: t.assign(b=t["b"].where(t.index != 7)), {}, r"'b': 1 of 300 rows are NaN"),
    (lambda t: t.assign(c=np.inf), {}, "NaN or inf"),
    (lambda t: t.assign(label="red"), {}, r"column 'label' \(\w+\) is not numeric"),
    (lambda t: t.assign(flag=True), {}, "not numeric"),
    (lambda t: t, {"mode": "balanced"}, "unknown mode 'balanced'"),
    (lambda t: t.drop(columns="y"), {}, "target column 'y' is not in the table"),
    (lambda t: t, {"features": ["a", "zz"]}, "'zz' are not in the table"),
    (lambda t: t, {"features": ["a", "y"]}, "must not be listed among the features"),
    (lambda t: t, {"features": "a"}, "sequence of column names"),
    (lambda t: t, {"pert": 0.0}, r"pert must be in \(0, 1\]"),
    (lambda t: t, {"threshold": 1.5}, r"threshold must be in \(0, 1\]"),
    (lambda t: t, {"seed": -1}, "seed must be an integer"),
    (lambda t: t.iloc[:0], {}, "0 rows"),
    (lambda t: t, {"control_points": [[1, 0, 0], [0, 1, 0]]}, "strictly increasing y: row 1"),
    (lambda t: t, {"control_points": [[0, 0, 0], [1, 1.2, 0]]}, r"phi = 1.2 is outside \[0, 1\]"),
    (lambda t: t, {"control_points": [[0, 0], [1, 1]]}, r"shape \(m, 3\)"),
    (lambda t: t, {"control_points": [[0, 0, 0], [1, np.nan, 0]]}, "not finite"),
    (lambda t: t, {"control_points": [[-100, 0, 0], [-99, 1, 0]]}, "nothing is common"),
    (lambda t: t, {"control_points": [[-100, 0, 0], [-99, 0, 0]]}, "no row of 'y'"),
])
def test_bad_input_names_the_problem(change, kwargs, message):
    table = change(skewed_table(n=300))
    with pytest.raises(SmognError, match=message):
        smogn(table, "y", **kwargs)


def test_errors_are_value_errors_and_relevance_checks_input():
    assert issubclass(SmognError, ValueError)
    with pytest.raises(SmognError, match="1 of 3 values are NaN"):
        relevance([1.0, np.nan, 2.0])
    with pytest.raises(SmognError, match="y is constant"):
        relevance(np.ones(5))
    with pytest.raises(SmognError, match="at least 2 rows"):
        check_control_points([[0, 0, 0]])
    with pytest.raises(SmognError, match="degenerate"):
        automatic_control_points(np.r_[np.zeros(20), 5.0])
    with pytest.raises(SmognError, match="must be a pandas DataFrame"):
        smogn(skewed_table().to_numpy(), "y")


# ------------------------------------------------------------------------ figure


def test_figure_is_written_atomically(tmp_path):
    from galhalo.report.smogn_figure import smogn_figure

    table = skewed_table(n=300)
    result = augment(table, "y")
    path = smogn_figure(table["y"], result.table["y"], tmp_path / "smogn.png",
                        control_points=result.control_points, threshold=0.8, label="y",
                        synthetic=result.synthetic, title="test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["smogn.png"]
    with pytest.raises(SmognError, match="boolean mask"):
        smogn_figure(table["y"], result.table["y"], tmp_path / "bad.png",
                     control_points=result.control_points, threshold=0.8,
                     synthetic=result.synthetic[:-1])
    assert not (tmp_path / "bad.png").exists()
