"""galhalo.photometry.observation: depths, noise models, zero-points, non-detections."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from galhalo.errors import PhotometryError
from galhalo.photometry.observation import (
    depth_flux,
    jpas_depths,
    noise_sigma,
    observe,
    read_depths,
    write_depths,
)

NAMES = ["J0400", "J0500", "rSDSS"]
DEPTHS = {"J0400": 22.0, "J0500": 21.5, "rSDSS": 23.5}
N = 20_000


def constant_sources(flux: float | np.ndarray, n: int = N) -> pd.DataFrame:
    """n sources with the same true flux (µJy) in every filter."""
    flux = np.broadcast_to(np.asarray(flux, dtype=float), (len(NAMES),))
    frame = pd.DataFrame({"source_class": ["star"] * n, "redshift": np.zeros(n),
                          "mag_r": np.full(n, 20.0)})
    for name, value in zip(NAMES, flux, strict=True):
        frame[f"flux_{name}"] = value
    return frame


def _std_bound(n: int) -> float:
    """5 sigma relative error of a Gaussian sample standard deviation."""
    return 5.0 / math.sqrt(2 * (n - 1))


def test_depth_flux_is_the_ab_flux():
    assert depth_flux(23.9) == pytest.approx(1.0)
    assert depth_flux(21.4) == pytest.approx(10.0)


def test_sky_noise_has_sigma_of_a_fifth_of_the_depth_flux():
    limit = depth_flux(np.array([DEPTHS[n] for n in NAMES]))
    observed = observe(constant_sources(limit), DEPTHS, seed=1)
    for name, f5 in zip(NAMES, limit, strict=True):
        residual = observed[f"flux_{name}"] - observed[f"true_flux_{name}"]
        assert residual.std() == pytest.approx(f5 / 5, rel=_std_bound(N))
        assert abs(residual.mean()) < 5 * (f5 / 5) / math.sqrt(N)
        assert np.allclose(observed[f"flux_err_{name}"], f5 / 5)
        assert np.allclose(observed[f"true_flux_{name}"], f5)


def test_poisson_noise_keeps_the_depth_and_grows_with_flux():
    limit = depth_flux(np.array([DEPTHS[n] for n in NAMES]))
    # at the depth the S/N is 5 in both models
    assert np.allclose(noise_sigma(limit[None, :], limit, "poisson", 2.0), limit / 5)
    bright = 100 * limit
    observed = observe(constant_sources(bright), DEPTHS, seed=2, noise="poisson",
                       source_to_sky=1.0)
    expected = limit / (5 * math.sqrt(2)) * math.sqrt(1 + 100)
    for name, sigma in zip(NAMES, expected, strict=True):
        residual = observed[f"flux_{name}"] - observed[f"true_flux_{name}"]
        assert residual.std() == pytest.approx(sigma, rel=_std_bound(N))


def test_depth_scatter_varies_the_errors_and_they_stay_right():
    limit = depth_flux(np.array([DEPTHS[n] for n in NAMES]))
    observed = observe(constant_sources(limit), DEPTHS, seed=7, depth_scatter=0.3)
    for name in NAMES:
        error = observed[f"flux_err_{name}"].to_numpy()
        assert error.std() > 0.1 * error.mean()  # 0.3 mag: ~28 % scatter of sigma
        pull = (observed[f"flux_{name}"] - observed[f"true_flux_{name}"]) / error
        assert pull.std() == pytest.approx(1.0, rel=_std_bound(N))
    with pytest.raises(PhotometryError, match="depth_scatter"):
        observe(constant_sources(1.0, 5), DEPTHS, seed=1, depth_scatter=-1)


def test_same_seed_same_numbers():
    sources = constant_sources(5.0, 100)
    first = observe(sources, DEPTHS, seed=3, zero_point_error=0.05)
    again = observe(sources, DEPTHS, seed=3, zero_point_error=0.05)
    other = observe(sources, DEPTHS, seed=4, zero_point_error=0.05)
    pd.testing.assert_frame_equal(first, again)
    assert first.attrs["zero_point_offsets"] == again.attrs["zero_point_offsets"]
    assert not np.allclose(first["flux_J0400"], other["flux_J0400"])
    assert list(sources.columns) == ["source_class", "redshift", "mag_r",
                                     *[f"flux_{n}" for n in NAMES]]  # input untouched


def test_zero_point_offsets_scale_the_measured_flux():
    bright = 1000 * depth_flux(np.array([DEPTHS[n] for n in NAMES]))  # S/N 5000
    observed = observe(constant_sources(bright), DEPTHS, seed=5,
                       zero_point_error={"J0500": 0.1})
    ratio = observed["flux_J0500"] / observed["true_flux_J0500"]
    # 5 sigma of the mean ratio with S/N 5000 per source
    assert ratio.mean() == pytest.approx(10 ** (-0.04), abs=5 * 2e-4 / math.sqrt(N))
    assert (observed["flux_J0400"] / observed["true_flux_J0400"]).mean() == pytest.approx(
        1.0, abs=5 * 2e-4 / math.sqrt(N))
    assert observed.attrs["zero_point_offsets"] == {"J0400": 0.0, "J0500": 0.1, "rSDSS": 0.0}
    drawn = observe(constant_sources(bright, 10), DEPTHS, seed=5, zero_point_error=0.05)
    assert all(v != 0 for v in drawn.attrs["zero_point_offsets"].values())
    with pytest.raises(PhotometryError, match="unknown filter"):
        observe(constant_sources(1.0, 5), DEPTHS, seed=5, zero_point_error={"J9999": 0.1})


def test_non_detections_flagged_below_one_sigma():
    observed = observe(constant_sources(0.0), DEPTHS, seed=6)
    fraction = observed["nondetected_J0400"].mean()
    expected = stats.norm.cdf(1.0)
    assert fraction == pytest.approx(expected, abs=5 * math.sqrt(expected * (1 - expected) / N))
    flagged = observed["nondetected_J0400"].to_numpy()
    assert (observed["flux_J0400"][flagged] < observed["flux_err_J0400"][flagged]).all()
    limited = observe(constant_sources(0.0, 200), DEPTHS, seed=6, nondetection="limit")
    rows = limited["nondetected_rSDSS"].to_numpy()
    assert rows.any()
    assert (limited["flux_rSDSS"][rows] == 0).all()
    assert np.allclose(limited["flux_err_rSDSS"][rows], depth_flux(23.5) / 5)


def test_missing_depth_and_bad_options_raise():
    with pytest.raises(PhotometryError, match=r"no depth for filter.*rSDSS"):
        observe(constant_sources(1.0, 5), {"J0400": 22.0, "J0500": 22.0}, seed=1)
    with pytest.raises(PhotometryError, match="noise model"):
        observe(constant_sources(1.0, 5), DEPTHS, seed=1, noise="gaussian")
    with pytest.raises(PhotometryError, match="nondetection"):
        observe(constant_sources(1.0, 5), DEPTHS, seed=1, nondetection="drop")
    with pytest.raises(PhotometryError, match="flux_J0600"):
        observe(constant_sources(1.0, 5), DEPTHS, seed=1, filter_names=["J0600"])


def test_depths_file_round_trip_and_bad_files(tmp_path):
    path = write_depths(DEPTHS, tmp_path / "depths.csv")
    assert read_depths(path) == DEPTHS
    observed = observe(constant_sources(1.0, 5), path, seed=1)
    assert observed.attrs["depths"] == pytest.approx(DEPTHS)
    bad = tmp_path / "bad.csv"
    bad.write_text("band,limit\nJ0400,22\n")
    with pytest.raises(PhotometryError, match="header 'filter,depth'"):
        read_depths(bad)
    bad.write_text("filter,depth\nJ0400,deep\n")
    with pytest.raises(PhotometryError, match=r"line 2.*J0400"):
        read_depths(bad)
    bad.write_text("filter,depth\nJ0400,22\nJ0400,21\n")
    with pytest.raises(PhotometryError, match="twice"):
        read_depths(bad)
    with pytest.raises(PhotometryError, match=r"missing\.csv"):
        read_depths(tmp_path / "missing.csv")
    with pytest.raises(PhotometryError, match=r"bad\.csv: no depth for filter"):
        bad.write_text("filter,depth\nJ0400,22\n")
        observe(constant_sources(1.0, 5), bad, seed=1)


def test_jpas_default_depths():
    depths = jpas_depths(["J0378", "J0910", "uJAVA", "J1007", "gSDSS", "rSDSS"])
    assert depths["J0378"] == depths["J0910"] == 22.0
    assert depths["rSDSS"] > depths["J0378"]
    with pytest.raises(PhotometryError, match="zSDSS"):
        jpas_depths(["J0378", "zSDSS"])
