"""Stars: BaSeL-anchored spectra, counts, and their overlap with quasars in colour."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from galhalo.errors import PhotometryError
from galhalo.photometry.filters import jpas_like, sdss
from galhalo.photometry.quasars import quasar_sources
from galhalo.photometry.stars import (
    COUNT_AMPLITUDE,
    COUNT_SLOPE,
    basel_spectrum,
    star_counts,
    star_sources,
    stellar_spectrum,
)
from galhalo.photometry.synthetic import ab_magnitude, band_fluxes


def colours(frame, bands=("uJPAS", "gSDSS", "rSDSS", "iSDSS")):
    mags = np.column_stack([ab_magnitude(frame[f"flux_{b}"].to_numpy()) for b in bands])
    return -np.diff(mags, axis=1)


def test_basel_sun_has_the_suns_sdss_colours():
    # the Sun in SDSS AB: u-g = 1.43, g-r = 0.44, r-i = 0.11 (Holmberg et al. 2006);
    # 0.15 mag: the BaSeL model and the kcorrect curves are not the Sun and its filters
    wave, flux = basel_spectrum("sun")
    mags = ab_magnitude(band_fluxes(wave, flux, sdss().select(["uSDSS", "gSDSS", "rSDSS",
                                                               "iSDSS"])))
    np.testing.assert_allclose(-np.diff(mags), [1.43, 0.44, 0.11], atol=0.15)


def test_no_blanketing_is_a_planck_spectrum():
    wave, flux = stellar_spectrum(np.array([6000.0]), np.array([0.0]))
    planck = wave**-5 / np.expm1(1.4387769e8 / (wave * 6000.0))
    np.testing.assert_allclose(flux[0] / flux[0][100], planck / planck[100], rtol=1e-10)


def test_cooler_stars_are_redder():
    teff = np.array([9000.0, 7000.0, 6000.0, 5000.0, 4000.0, 3300.0])
    wave, flux = stellar_spectrum(teff, np.ones(teff.size))
    mags = ab_magnitude(band_fluxes(wave, flux, sdss()))
    g_r = mags[:, 1] - mags[:, 2]
    u_g = mags[:, 0] - mags[:, 1]
    assert (np.diff(g_r) > 0).all()
    assert (np.diff(u_g[1:]) > 0).all()
    assert u_g[-1] > 2.0 and g_r[-1] > 1.2  # M dwarfs


def test_star_count_is_the_integral_of_the_counts():
    area = 2.0
    frame = star_sources(area, jpas_like(), seed=2, r_range=(18.0, 22.0))
    mags = np.linspace(18.0, 22.0, 401)
    expected = area * np.trapezoid(star_counts(mags), mags)
    assert abs(len(frame) - expected) < 5 * np.sqrt(expected)
    # the magnitudes follow the exponential counts: mean r of the truncated law
    slope = COUNT_SLOPE * np.log(10.0)
    weights = np.exp(slope * (mags - 20.0))
    mean = np.trapezoid(mags * weights, mags) / np.trapezoid(weights, mags)
    sd = np.sqrt(np.trapezoid((mags - mean) ** 2 * weights, mags) / np.trapezoid(weights, mags))
    assert abs(frame["mag_r"].mean() - mean) < 5 * sd / np.sqrt(len(frame))
    assert star_counts(20.0) == pytest.approx(COUNT_AMPLITUDE)
    assert star_counts(20.0, latitude=30.0) == pytest.approx(COUNT_AMPLITUDE * np.sqrt(3.0))


def test_star_catalog_columns_and_reproducibility():
    filters = jpas_like()
    first = star_sources(0.2, filters, seed=9)
    assert first.equals(star_sources(0.2, filters, seed=9))
    assert (first["source_class"] == "star").all() and (first["redshift"] == 0).all()
    np.testing.assert_allclose(ab_magnitude(first["flux_rSDSS"].to_numpy()), first["mag_r"],
                               atol=1e-9)
    assert first["mag_r"].between(17.0, 23.6).all()
    assert (first[[c for c in first.columns if c.startswith("flux_")]] > 0).all().all()


@pytest.fixture(scope="module")
def bright_sample():
    filters = jpas_like()
    quasars = quasar_sources(6.0, filters, seed=4, r_range=(17.0, 21.5))
    stars = star_sources(3.0, filters, seed=4, r_range=(17.0, 21.5))
    return quasars, stars


def test_low_redshift_quasars_have_a_uv_excess_stars_do_not(bright_sample):
    # the classic UV-excess selection (u - g < 0.6, e.g. Richards et al. 2002) finds
    # nearly all z < 2 quasars and few stars other than white dwarfs
    quasars, stars = bright_sample
    low = quasars["redshift"].between(0.5, 2.0).to_numpy()
    assert (colours(quasars)[low, 0] < 0.6).mean() > 0.9
    normal = (stars["population"] != "white_dwarf").to_numpy()
    assert (colours(stars)[normal, 0] < 0.6).mean() < 0.05


def test_quasars_near_z_2_8_sit_on_the_stellar_locus(bright_sample):
    # z ≈ 2.6-3.0 quasars cross the F-star locus in ugri (their selection's blind spot):
    # their colour distance to the nearest star is far below that of 1 < z < 2 quasars
    quasars, stars = bright_sample
    tree = cKDTree(colours(stars))
    distance, _ = tree.query(colours(quasars))
    z = quasars["redshift"].to_numpy()
    crossing = (z > 2.6) & (z < 3.0)
    ordinary = (z > 1.0) & (z < 2.0)
    assert crossing.sum() > 20
    assert np.median(distance[crossing]) < 0.5 * np.median(distance[ordinary])


def test_bad_input_is_a_photometry_error():
    with pytest.raises(PhotometryError, match="latitude"):
        star_counts(20.0, latitude=10.0)
    with pytest.raises(PhotometryError, match="rSDSS"):
        star_sources(1.0, sdss().select(["gSDSS"]), seed=1)
    with pytest.raises(PhotometryError, match="area"):
        star_sources(-1.0, jpas_like(), seed=1)
    with pytest.raises(PhotometryError, match="teff"):
        stellar_spectrum(np.array([100.0]), np.array([1.0]))
    with pytest.raises(PhotometryError, match="sun"):
        basel_spectrum("sirius")
