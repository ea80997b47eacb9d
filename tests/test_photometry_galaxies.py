"""Galaxy SEDs from a galhalo mock: distances, light-cone geometry, template mixtures,
photometry (issue #21)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from galhalo.catalog import Catalog
from galhalo.catalog.meta import CatalogMeta
from galhalo.errors import PhotometryError
from galhalo.photometry.distances import (
    comoving_distance,
    distance_modulus,
    luminosity_distance,
    redshift_at_comoving_distance,
)
from galhalo.photometry.filters import jpas_like
from galhalo.photometry.galaxies import (
    galaxy_sources,
    kcorrect_templates,
    mock_galaxies,
    rest_colour,
    template_coefficients,
)
from galhalo.photometry.lightcone import box_at_redshift, cone_half_angle, light_cone
from galhalo.photometry.sources import check_sources, flux_columns
from galhalo.photometry.synthetic import ab_magnitude, band_fluxes

PLANCK15 = {"name": "planck15", "Om0": 0.3089, "Ob0": 0.0486, "H0": 67.74,
            "sigma8": 0.8159, "ns": 0.9667}
BOX = 100.0


def uniform_catalog(n=20_000, seed=5, velocities=True):
    """Galaxies at uniform random positions (Poisson counts) with mock-like properties."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({
        "halo_id": np.arange(n), "x": rng.uniform(0, BOX, n), "y": rng.uniform(0, BOX, n),
        "z": rng.uniform(0, BOX, n), "smass": rng.uniform(8.75, 11.5, n),
        "color": rng.uniform(0.0, 1.3, n), "sSFR": rng.uniform(-12.5, -8.8, n)})
    if velocities:
        for name in ("vx", "vy", "vz"):
            table[name] = rng.normal(0, 300.0, n)
    return Catalog(table, CatalogMeta(box_size=BOX, cosmology=PLANCK15))


def test_distances_match_colossus():
    from colossus.cosmology import cosmology

    params = {key: PLANCK15[key] for key in ("Om0", "Ob0", "H0", "sigma8", "ns")}
    ref = cosmology.setCosmology("p1_test", params={**params, "flat": True,
                                                   "relspecies": False}, persistence="",
                                  interpolation=False)
    z = np.array([0.01, 0.1, 0.5, 1.0, 3.0])
    h = PLANCK15["H0"] / 100
    np.testing.assert_allclose(luminosity_distance(z, PLANCK15),
                               ref.luminosityDistance(z) / h, rtol=1e-5)
    np.testing.assert_allclose(comoving_distance(z, PLANCK15), ref.comovingDistance(
        np.zeros_like(z), z, transverse=False) / h, rtol=1e-5)
    assert distance_modulus(0.1, PLANCK15) == pytest.approx(
        5 * np.log10(ref.luminosityDistance(0.1) / h * 1e5), abs=1e-4)
    back = redshift_at_comoving_distance(comoving_distance(z, PLANCK15) * h, PLANCK15)
    np.testing.assert_allclose(back, z, rtol=1e-6, atol=1e-8)
    with pytest.raises(PhotometryError, match=r"Om0 .* H0"):
        luminosity_distance(0.1, {"name": "x"})


def test_templates_and_mixtures_reproduce_colour_ssfr_and_mass():
    tpl = kcorrect_templates()
    assert tpl.flux.shape == (5, tpl.rest_wavelength.size)
    assert tpl.rest_colour.min() < -0.5 and tpl.rest_colour.max() > 1.5
    rng = np.random.default_rng(1)
    n = 5000
    colour = rng.uniform(-1.2, 2.3, n)
    ssfr = rng.uniform(-13.0, -8.7, n)
    mass = 10 ** rng.uniform(8.5, 11.5, n)
    mix = template_coefficients(colour, ssfr, mass)
    assert (mix.coefficients >= 0).all()
    lo, hi = tpl.rest_colour.min() + 0.01, tpl.rest_colour.max() - 0.01
    outside = (colour < lo) | (colour > hi)
    np.testing.assert_array_equal(mix.colour_clipped, outside)
    np.testing.assert_allclose(rest_colour(mix.coefficients), np.clip(colour, lo, hi),
                               rtol=0, atol=1e-6)
    np.testing.assert_allclose(mix.coefficients @ tpl.mremain, mass, rtol=1e-9)
    matched = ~mix.ssfr_unmatched
    got = np.log10(mix.coefficients @ tpl.sfr / (mix.coefficients @ tpl.mremain))
    np.testing.assert_allclose(got[matched], ssfr[matched], rtol=0, atol=1e-6)
    # typical blue star-forming and red passive galaxies are matched
    typical = template_coefficients([0.4, 0.7, 1.1], [-9.5, -10.3, -12.0], [1e10] * 3)
    assert not typical.ssfr_unmatched.any()
    with pytest.raises(PhotometryError, match="colour: NaN"):
        template_coefficients([np.nan], [-10.0], [1e10])


def test_light_cone_geometry_and_counts():
    catalog = uniform_catalog(velocities=False)
    area, z_max, z_min = 100.0, 0.2, 0.05
    cone = light_cone(catalog, z_max, area, z_min=z_min)
    theta = cone_half_angle(area)
    # angle from the patch centre (ra, dec) = (0, 0)
    ra, dec = np.radians(cone["ra"]), np.radians(cone["dec"])
    cos_sep = np.cos(dec) * np.cos(ra)
    assert (cos_sep >= math.cos(theta) - 1e-12).all()
    assert cone["redshift"].between(z_min, z_max).all()
    np.testing.assert_allclose(cone["redshift"], cone["redshift_cosmological"])
    # Poisson: expected count = density x cone volume, within 5 sigma
    d_lo, d_hi = comoving_distance(np.array([z_min, z_max]), {**PLANCK15, "H0": 100.0})
    omega = area * (math.pi / 180) ** 2
    expected = len(catalog.table) / BOX**3 * omega / 3 * (d_hi**3 - d_lo**3)
    assert abs(len(cone) - expected) < 5 * math.sqrt(expected)
    # every copy of a galaxy is a different replica
    assert not cone.duplicated(["row", "replica"]).any()
    assert cone["replica"].nunique() > 8


def test_box_at_redshift_and_velocities():
    catalog = uniform_catalog(n=2000)
    placed = box_at_redshift(catalog, 0.3, los="y")
    assert len(placed) == 2000 and (placed["row"] == np.arange(2000)).all()
    centre = comoving_distance(0.3, {**PLANCK15, "H0": 100.0})
    assert abs(np.median(placed["distance"]) - centre) < 0.05 * BOX
    shift = placed["redshift"] - placed["redshift_cosmological"]
    # 300 km/s per axis: |v_los| (1+z)/c < 5 sigma = 1500 km/s
    assert np.abs(shift).max() < 1500 / 299_792.458 * 1.3 + 1e-9
    assert np.std(shift) > 0.5 * 300 / 299_792.458
    with pytest.raises(PhotometryError, match="contain the observer"):
        box_at_redshift(catalog, 0.001)
    with pytest.raises(PhotometryError, match="observer must be"):
        light_cone(catalog, 0.1, 1.0, observer=(1.0, np.nan, 2.0))
    small_box = Catalog(catalog.table, CatalogMeta(box_size=10.0, cosmology=PLANCK15))
    with pytest.raises(PhotometryError, match="box replicas"):
        light_cone(small_box, 5.0, 1.0)
    with pytest.raises(PhotometryError, match="sky area"):
        light_cone(catalog, 0.1, 0.0)
    with pytest.raises(PhotometryError, match="box_size"):
        light_cone(Catalog(catalog.table, CatalogMeta(cosmology=PLANCK15)), 0.1, 1.0)


def test_galaxy_photometry_matches_direct_integration_and_scales_with_distance():
    catalog = uniform_catalog(n=200)
    filters = jpas_like()
    redshifts = np.random.default_rng(8).uniform(0.02, 0.8, 12)
    rows = np.arange(redshifts.size)
    placement = pd.DataFrame({"row": rows, "ra": 1.0, "dec": 2.0, "redshift": redshifts,
                              "redshift_cosmological": redshifts})
    sources = galaxy_sources(catalog, placement, filters)
    assert check_sources(sources, filters.names) is sources
    assert (sources["source_class"] == "galaxy").all()
    fluxes = sources[flux_columns(filters.names)].to_numpy()
    np.testing.assert_allclose(sources["mag_r"], ab_magnitude(sources["flux_rSDSS"]))
    # direct: the mixture's 10 pc spectrum, redshifted, through the filters, / d_L^2
    tpl = kcorrect_templates()
    props = catalog.table.iloc[rows]
    h = PLANCK15["H0"] / 100
    mix = template_coefficients(props["color"], props["sSFR"], 10 ** props["smass"] / h)
    for i, z in enumerate(redshifts):
        spectrum = mix.coefficients[i] @ tpl.flux / (1 + z)
        direct = band_fluxes(tpl.rest_wavelength * (1 + z), spectrum, filters)
        direct *= 10 ** (-0.4 * distance_modulus(z, PLANCK15))
        # the fine table (step 2e-4 in ln(1+z)) follows the templates' emission lines
        # across the 10 Å filter edges: 0.3% at worst for single templates
        np.testing.assert_allclose(fluxes[i], direct, rtol=0.005)
    # same SED and observed z, placed twice as far: flux / d_L^2
    z0 = redshifts[0]
    z_far = float(redshift_at_comoving_distance(
        2 * comoving_distance(z0, PLANCK15) * h, PLANCK15))
    far = placement.iloc[:1].assign(redshift_cosmological=z_far)
    scale = (luminosity_distance(z0, PLANCK15) / luminosity_distance(z_far, PLANCK15)) ** 2
    far_fluxes = galaxy_sources(catalog, far, filters)[flux_columns(filters.names)]
    with pytest.raises(PhotometryError, match="placement has no column 'ra'"):
        galaxy_sources(catalog, far.drop(columns=["ra"]), filters)
    np.testing.assert_allclose(far_fluxes.to_numpy()[0], fluxes[0] * scale, rtol=1e-6)


@pytest.mark.parametrize("colour, ssfr", [(1.0, -11.5), (0.5, -9.8)])
def test_a_1e10_msun_galaxy_at_z_01_is_r_17_to_19(colour, ssfr):
    # SDSS: an L* galaxy (M_r ~ -20.4 + 5 log h, M* ~ 5e10 Msun) has r ~ 17.8 at z = 0.1;
    # 1e10 Msun is 0.5-1.5 mag fainter depending on its mass-to-light ratio.
    h = PLANCK15["H0"] / 100
    table = pd.DataFrame({"x": [1.0], "y": [1.0], "z": [1.0], "smass": [10 + math.log10(h)],
                          "color": [colour], "sSFR": [ssfr]})
    catalog = Catalog(table, CatalogMeta(box_size=BOX, cosmology=PLANCK15))
    placement = pd.DataFrame({"row": [0], "ra": 0.0, "dec": 0.0, "redshift": [0.1],
                              "redshift_cosmological": [0.1]})
    mag_r = galaxy_sources(catalog, placement)["mag_r"].iloc[0]
    assert 17.0 < mag_r < 19.0


def test_mock_galaxies_from_a_simulated_mock():
    import galhalo

    catalog = galhalo.simulate(2000, 50.0, 1)
    sources = mock_galaxies(catalog, z_max=0.15, area=20.0)
    assert len(sources) > 50
    assert sources.attrs["sed"]["colour_clipped"] == 0
    # the mock's (colour, sSFR) pairs are reachable by the templates but for a few
    assert sources.attrs["sed"]["ssfr_unmatched"] <= 0.01 * len(sources)
    assert np.isfinite(sources["mag_r"]).all()
    near = sources["redshift"] < sources["redshift"].median()
    assert sources.loc[near, "mag_r"].median() < sources.loc[~near, "mag_r"].median()
    with pytest.raises(PhotometryError, match="either z_max and area"):
        mock_galaxies(catalog, redshift=0.3, z_max=0.2, area=1.0)
    bad = Catalog(catalog.table.drop(columns=["color"]), catalog.meta)
    with pytest.raises(PhotometryError, match="no column 'color'"):
        mock_galaxies(bad, redshift=0.3)


def test_a_blue_filter_usable_up_to_z_max_is_not_refused_by_the_cached_table():
    """Regression: the cached table rounds z_max up to 0.5; a far-UV band the templates
    (from 600 Å rest) cover up to z = 0.3 but not 0.5 must still work at z_max = 0.3, and
    fail at z_max = 0.6 with that redshift in the message."""
    from galhalo.photometry.filters import Filter, FilterSet

    wavelength = np.linspace(800.0, 900.0, 41)
    far_uv = Filter("far_uv", wavelength, np.ones_like(wavelength))
    filters = FilterSet((far_uv, *jpas_like().filters[:2]))
    catalog = uniform_catalog(n=50)
    redshifts = np.linspace(0.01, 0.3, 5)
    placement = pd.DataFrame({"row": np.arange(5), "ra": 0.0, "dec": 0.0,
                              "redshift": redshifts, "redshift_cosmological": redshifts})
    sources = galaxy_sources(catalog, placement, filters)
    assert np.isfinite(sources["flux_far_uv"]).all() and (sources["flux_far_uv"] >= 0).all()
    deeper = placement.assign(redshift=0.6, redshift_cosmological=0.6)
    with pytest.raises(PhotometryError, match=r"do not cover the filters .* redshifts 0-0\.6"):
        galaxy_sources(catalog, deeper, filters)


def test_r_range_photometers_only_the_kept_galaxies_with_the_same_numbers():
    """r first, every band for the kept rows only: the rows, fluxes and attrs of
    photometering everything and cutting afterwards (mixed_sample's bright <= r < faint)."""
    import galhalo

    catalog = galhalo.simulate(2000, 50.0, 1, satellites=True)
    filters = jpas_like()
    placement = light_cone(catalog, 0.6, 30.0)
    everything = galaxy_sources(catalog, placement, filters)
    mag = everything["mag_r"].to_numpy()
    inside = (mag >= 17.0) & (mag < 21.0)
    assert 0 < inside.sum() < 0.9 * inside.size  # the cut does drop galaxies
    cut = galaxy_sources(catalog, placement, filters, r_range=(17.0, 21.0))
    pd.testing.assert_frame_equal(cut, everything[inside].reset_index(drop=True),
                                  check_exact=True)
    # the SED counts are those of the kept galaxies: photometering just them agrees
    assert cut.attrs["sed"] == galaxy_sources(catalog, placement[inside], filters).attrs["sed"]
    counts = cut.attrs["r_cut"]
    assert counts == {"r_range": [17.0, 21.0], "placed": len(placement),
                      "photometered": counts["photometered"], "kept": int(inside.sum())}
    # the bound skips galaxies, all of them fainter than the cut
    assert inside.sum() <= counts["photometered"] < len(placement)
    assert "r_cut" not in everything.attrs
    via_mock = mock_galaxies(catalog, filters, z_max=0.6, area=30.0, r_range=(17.0, 21.0))
    pd.testing.assert_frame_equal(via_mock, cut, check_exact=True)
    with pytest.raises(PhotometryError, match="no 'rSDSS' band"):
        galaxy_sources(catalog, placement, filters.select(["gSDSS", "iSDSS"]),
                       r_range=(17.0, 21.0))
    with pytest.raises(PhotometryError, match="bright < faint"):
        galaxy_sources(catalog, placement, filters, r_range=(21.0, 17.0))
    bad = catalog.table.copy()
    bad.loc[int(placement["row"].iloc[0]), "sSFR"] = np.nan
    with pytest.raises(PhotometryError, match=rf"catalog row {placement['row'].iloc[0]}: "
                                              r"column 'sSFR' is NaN"):
        galaxy_sources(Catalog(bad, catalog.meta), placement, filters)
