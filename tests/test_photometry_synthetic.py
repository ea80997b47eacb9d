"""Synthetic photometry: photon-counting band fluxes, AB magnitudes, ComponentTable."""

from __future__ import annotations

import time

import numpy as np
import pytest

from galhalo.errors import PhotometryError
from galhalo.photometry.filters import Filter, FilterSet, jpas_like, smooth_top_hat
from galhalo.photometry.synthetic import (
    SPEED_OF_LIGHT,
    ComponentTable,
    ab_magnitude,
    band_fluxes,
    flux_from_ab,
)


def flat_fnu(wavelength, mag):
    """f_lambda (erg/s/cm2/A) of a source with constant f_nu of AB magnitude `mag`."""
    return flux_from_ab(mag) * 1e-29 * SPEED_OF_LIGHT / wavelength**2


def test_ab_conversion_round_trip():
    assert ab_magnitude(1.0) == pytest.approx(23.9)
    assert ab_magnitude(3631e6) == pytest.approx(0.0, abs=1e-3)  # 3631 Jy is AB 0
    mags = np.array([15.0, 20.5, 26.0])
    np.testing.assert_allclose(ab_magnitude(flux_from_ab(mags)), mags, rtol=0, atol=1e-12)
    assert np.isnan(ab_magnitude(np.array([0.0, -1.0]))).all()


@pytest.mark.parametrize("n_wave", [400, 20_000])
def test_flat_fnu_source_has_zero_colours(n_wave):
    filters = jpas_like()
    wave = np.geomspace(2900.0, 12_000.0, n_wave)
    mags = ab_magnitude(band_fluxes(wave, flat_fnu(wave, 21.3), filters))
    # linear interpolation of 1/lambda^2 between samples: relative error < 1e-5
    np.testing.assert_allclose(mags, 21.3, rtol=0, atol=2e-5)


def test_power_law_against_the_analytic_integral():
    lo, hi = 5000.0, 6000.0
    box = Filter("box", np.array([lo - 1e-6, lo, hi, hi + 1e-6]), np.array([0, 1, 1, 0.0]))
    wave = np.linspace(4000.0, 7000.0, 30_001)
    beta = -1.3
    f_lambda = 1e-17 * (wave / 5000.0) ** beta
    got = band_fluxes(wave, f_lambda, FilterSet((box,)))[0]
    numerator = 1e-17 * 5000.0**-beta * (hi ** (beta + 2) - lo ** (beta + 2)) / (beta + 2)
    denominator = SPEED_OF_LIGHT * np.log(hi / lo)
    expected = numerator / denominator / 1e-29
    assert got == pytest.approx(expected, rel=1e-6)


def line_spectrum(wave, centre=5000.0, sigma=2.0, total=1e-15):
    """A Gaussian emission line of integrated flux `total` erg/s/cm2 on no continuum."""
    return total * np.exp(-0.5 * ((wave - centre) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)


def test_redshifted_line_lands_in_the_expected_narrow_band():
    filters = jpas_like()
    rest = np.linspace(2000.0, 12_000.0, 50_001)
    line = line_spectrum(rest)[None, :]
    z = 6500.0 / 5000.0 - 1.0
    table = ComponentTable.build(rest, line, filters, np.array([0.0, z]))
    fluxes = table.fluxes(np.array([z]), np.ones((1, 1)))[0]
    assert filters.names[int(np.argmax(fluxes))] == "J0650"
    # a narrow line at the band's flat top (T = 1); redshifting conserves the line's
    # flux F (the (1+z) losses are in d_L, applied per source), so <f_nu> = F λ / norm:
    band = filters["J0650"]
    w, t = band.wavelength, band.transmission
    norm = SPEED_OF_LIGHT * np.sum(0.5 * (t[1:] / w[1:] + t[:-1] / w[:-1]) * np.diff(w))
    expected = 1e-15 * 6500.0 / norm / 1e-29
    assert fluxes[filters.names.index("J0650")] == pytest.approx(expected, rel=1e-3)
    assert fluxes[filters.names.index("J0640")] < 1e-3 * expected  # 27 Å beyond its 10 Å-wide edge


def test_component_table_matches_direct_photometry_and_is_linear():
    rng = np.random.default_rng(3)
    filters = jpas_like()
    rest = np.linspace(1500.0, 12_000.0, 3000)
    comps = np.abs(rng.normal(1e-16, 3e-17, size=(3, rest.size)))
    grid = np.linspace(0.0, 0.6, 7)
    table = ComponentTable.build(rest, comps, filters, grid)
    assert table.table.shape == (7, 3, 60) and table.filter_names == filters.names
    coeffs = rng.uniform(0, 2, size=(4, 3))
    z = np.full(4, grid[3])
    direct = band_fluxes(rest * (1 + grid[3]), coeffs @ comps / (1 + grid[3]), filters)
    np.testing.assert_allclose(table.fluxes(z, coeffs), direct, rtol=1e-10)
    # halfway between grid points: the mean of the neighbours (linear in z)
    mid = table.fluxes(np.full(4, 0.5 * (grid[1] + grid[2])), coeffs)
    ends = 0.5 * (table.fluxes(np.full(4, grid[1]), coeffs)
                  + table.fluxes(np.full(4, grid[2]), coeffs))
    np.testing.assert_allclose(mid, ends, rtol=1e-12)


def test_transmission_multiplies_and_bad_ranges_raise():
    filters = jpas_like().select(["J0500", "J0600"])
    rest = np.linspace(3000.0, 7000.0, 2000)
    comps = np.ones((1, rest.size))
    grid = np.array([0.0, 0.1])
    plain = ComponentTable.build(rest, comps, filters, grid)
    calls = []

    def half(observed, z):
        calls.append(z.shape)
        return np.full((z.size, observed.size), 0.5)

    halved = ComponentTable.build(rest, comps, filters, grid, transmission=half)
    np.testing.assert_allclose(halved.table, 0.5 * plain.table)
    assert calls == [(1,), (1,)]
    with pytest.raises(PhotometryError, match=r"z = 1: filter .J0500.* outside"):
        ComponentTable.build(rest, comps, filters, np.array([0.0, 1.0]))
    with pytest.raises(PhotometryError, match=r"redshift 0.2 \(row 1\) is outside"):
        plain.fluxes(np.array([0.05, 0.2]), np.ones((2, 1)))
    with pytest.raises(PhotometryError, match="2 components"):
        plain.fluxes(np.array([0.05]), np.ones((1, 2)))
    narrow = FilterSet((smooth_top_hat("far", 20_000.0, 145.0),))
    with pytest.raises(PhotometryError, match=r"'far'.*outside"):
        band_fluxes(rest, comps, narrow)


def test_fluxes_are_fast():
    """The photometry of 1e5 sources is a few array operations (issue #21: >= 1e5/s)."""
    rng = np.random.default_rng(0)
    grid = np.linspace(0.0, 5.0, 501)
    table = ComponentTable(grid, rng.uniform(size=(grid.size, 5, 60)), jpas_like().names)
    z = rng.uniform(0, 5, 100_000)
    coeffs = rng.uniform(size=(z.size, 5))
    table.fluxes(z[:1000], coeffs[:1000])
    start = time.perf_counter()
    out = table.fluxes(z, coeffs)
    elapsed = time.perf_counter() - start
    assert out.shape == (100_000, 60)
    assert elapsed < 1.0  # measured 0.1 s on one core; the margin covers a busy machine
