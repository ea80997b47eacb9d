"""Synthetic photometry: photon-counting band fluxes, AB magnitudes, ComponentTable."""

from __future__ import annotations

import numpy as np
import pytest

from galhalo.errors import PhotometryError
from galhalo.photometry import igm
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
    table = ComponentTable.build(rest, line, filters, z + 0.01)
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


def direct(rest, components, filters, z, transmission=None):
    """(K, n_filters) band fluxes of the redshifted components by direct integration on
    a fine rest grid (3e-5 in ln λ): the reference of the table. The transmission is
    evaluated blueward of rest 1300 Å only (the IGM is 1 redward of Lyα)."""
    fine = np.exp(np.arange(np.log(rest[0]), np.log(rest[-1]), 3e-5))
    spectra = np.stack([np.interp(fine, rest, c) for c in components]) / (1 + z)
    if transmission is not None:
        blue = fine < 1300.0
        spectra[:, blue] *= transmission(fine[blue] * (1 + z), z)
    return band_fluxes(fine * (1 + z), spectra, filters)


def worst_error(table, components, references, redshifts):
    """Largest |table - reference| of each component over the bands, relative to the
    component's brightest band, over ``redshifts``."""
    worst = 0.0
    for z, reference in zip(redshifts, references, strict=True):
        got = table.fluxes(np.full(len(components), z), np.eye(len(components)))
        worst = max(worst, float((np.abs(got - reference).max(axis=1)
                                  / np.abs(reference).max(axis=1)).max()))
    return worst


def test_table_is_exact_for_flat_fnu_and_follows_lines_across_filter_edges():
    filters = jpas_like()
    rest = np.geomspace(2000.0, 12_000.0, 15_000)
    flat = flat_fnu(rest, 20.0)
    line = line_spectrum(rest, centre=6563.0, sigma=3.0)
    table = ComponentTable.build(rest, np.stack([flat, line]), filters, z_max=0.4)
    assert table.redshift[0] == 0 and table.redshift[-1] >= 0.4
    np.testing.assert_allclose(np.diff(np.log1p(table.redshift)), 2e-4)
    # flat f_nu: observed f_nu = (1+z) f_nu(rest) at 10 pc (bolometric flux conserved)
    flat_mags = ab_magnitude(table.table[:, 0, :] / (1 + table.redshift[:, None]))
    np.testing.assert_allclose(flat_mags, 20.0, rtol=0, atol=1e-6)
    # the line centred on the half-maximum edges of J0650 (6427.5, 6572.5 Å; 10 Å wide)
    # and 4 Å either side, at redshifts between grid points
    edges = np.array([6427.5, 6572.5])[:, None] + np.array([-4.0, -1.3, 0.0, 2.1, 4.0])
    z = (edges.ravel() / 6563.0 - 1.0)
    z = z[z >= 0]
    references = [direct(rest, [line], filters, zi) for zi in z]
    line_only = ComponentTable(table.redshift, table.table[:, 1:], table.filter_names)
    assert worst_error(line_only, [line], references, z) < 0.005
    # a grid 25 times coarser misses the edges by far more
    coarse = ComponentTable.build(rest, line[None, :], filters, z_max=0.4, log_step=5e-3)
    assert worst_error(coarse, [line], references, z) > 0.02
    with pytest.raises(PhotometryError, match="do not cover the filters"):
        ComponentTable.build(rest, flat[None, :], filters, z_max=3.0)


def test_table_with_the_igm_matches_direct_integration():
    filters = jpas_like()
    rest = np.geomspace(500.0, 3000.0, 10_000)  # covers the filters at 3 < z < 4.5
    power_law = (rest / 1500.0) ** -1.5
    lyman_alpha = line_spectrum(rest, centre=1215.67, sigma=9.5, total=1.0)
    components = np.stack([power_law, lyman_alpha])
    table = ComponentTable.build(rest, components, filters, 4.5, z_min=3.0,
                                 transmission=igm.transmission)
    z = np.random.default_rng(2).uniform(3.0, 4.5, 3)
    absorbed = [direct(rest, components, filters, zi, igm.transmission) for zi in z]
    assert worst_error(table, components, absorbed, z) < 0.005
    bare = [direct(rest, components, filters, zi) for zi in z]
    assert worst_error(table, components, bare, z) > 0.1  # the IGM matters
    # a selection of bands is those columns of the full photometry
    picked = table.fluxes(z, np.ones((z.size, 2)), ["rSDSS", "J0500"])
    full = table.fluxes(z, np.ones((z.size, 2)))
    np.testing.assert_array_equal(picked, full[:, [filters.names.index("rSDSS"),
                                                   filters.names.index("J0500")]])
    with pytest.raises(PhotometryError, match="no filter 'zSDSS'"):
        table.fluxes(z, np.ones((z.size, 2)), ["zSDSS"])


def test_component_table_is_linear_in_the_components():
    rng = np.random.default_rng(3)
    filters = jpas_like()
    rest = np.linspace(1500.0, 12_000.0, 3000)
    comps = np.abs(rng.normal(1e-16, 3e-17, size=(3, rest.size)))
    table = ComponentTable.build(rest, comps, filters, 0.6, log_step=0.01)
    assert table.table.shape == (49, 3, 60) and table.filter_names == filters.names
    coeffs = rng.uniform(0, 2, size=(4, 3))
    z = np.full(4, table.redshift[20])
    single = ComponentTable.build(rest, (coeffs @ comps)[:1], filters, 0.6, log_step=0.01)
    np.testing.assert_allclose(table.fluxes(z, coeffs)[0], single.fluxes(z[:1], [[1.0]])[0],
                               rtol=1e-10)
    reference = direct(rest, coeffs @ comps, filters, z[0])
    np.testing.assert_allclose(table.fluxes(z, coeffs), reference, rtol=0.005)


def test_transmission_multiplies_and_bad_ranges_raise():
    filters = jpas_like().select(["J0500", "J0600"])
    rest = np.linspace(3000.0, 7000.0, 2000)
    comps = np.ones((1, rest.size))
    plain = ComponentTable.build(rest, comps, filters, 0.1)
    calls = []

    def half(observed, z):
        calls.append(z.shape)
        return np.full((z.size, observed.size), 0.5)

    halved = ComponentTable.build(rest, comps, filters, 0.1, transmission=half)
    np.testing.assert_allclose(halved.table, 0.5 * plain.table, rtol=1e-9)
    assert len(calls) == 1 and calls[0][0] >= 2  # one call, every z node at once
    with pytest.raises(PhotometryError, match=r"do not cover the filters"):
        ComponentTable.build(rest, comps, filters, 1.0)
    with pytest.raises(PhotometryError, match=r"redshift 0.2 \(row 1\) is outside"):
        plain.fluxes(np.array([0.05, 0.2]), np.ones((2, 1)))
    with pytest.raises(PhotometryError, match="2 components"):
        plain.fluxes(np.array([0.05]), np.ones((1, 2)))
    with pytest.raises(PhotometryError, match="z_min < z_max"):
        ComponentTable.build(rest, comps, filters, 0.0)
    narrow = FilterSet((smooth_top_hat("far", 20_000.0, 145.0),))
    with pytest.raises(PhotometryError, match=r"'far'.*outside"):
        band_fluxes(rest, comps, narrow)


def test_fluxes_interpolate_linearly_in_redshift_between_grid_points():
    """``fluxes`` is sum_k c_k table(z)[k] with the table linear in z between grid points
    (the speed is measured by benchmarks/photometry.py, not here)."""
    rng = np.random.default_rng(0)
    grid = np.linspace(0.0, 5.0, 51)
    table = ComponentTable(grid, rng.uniform(size=(grid.size, 5, 60)), jpas_like().names)
    z = rng.uniform(0, 5, 2000)
    coeffs = rng.uniform(size=(z.size, 5))
    out = table.fluxes(z, coeffs)
    low = np.clip(np.searchsorted(grid, z, side="right") - 1, 0, grid.size - 2)
    weight = (z - grid[low]) / (grid[low + 1] - grid[low])
    at_z = ((1 - weight)[:, None, None] * table.table[low]
            + weight[:, None, None] * table.table[low + 1])
    np.testing.assert_allclose(out, np.einsum("nk,nkf->nf", coeffs, at_z), rtol=1e-10)
