"""The fast paths of the survey photometry (issue #21) give the numbers of the plain ones:
the r bound that skips faint galaxies is conservative, the light-cone's cell search and
sort, the column-wise template mixtures, the one-band fluxes and the mixed sample's
assembly are bit-identical to the straightforward computations they replace."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from test_photometry_galaxies import BOX, PLANCK15

import galhalo
from galhalo.catalog import Catalog
from galhalo.catalog.meta import CatalogMeta
from galhalo.errors import PhotometryError
from galhalo.photometry.distances import (
    SPEED_OF_LIGHT_KM_S,
    comoving_distance,
    distance_modulus,
    flat_lcdm,
    redshift_at_comoving_distance,
)
from galhalo.photometry.filters import jpas_like
from galhalo.photometry.galaxies import (
    _bands,
    _component_table,
    galaxy_sources,
    mock_galaxies,
)
from galhalo.photometry.lightcone import _frame, cone_half_angle, light_cone
from galhalo.photometry.mixture import mixed_sample
from galhalo.photometry.sources import REQUIRED_COLUMNS, check_sources, flux_columns
from galhalo.photometry.synthetic import ComponentTable
from galhalo.photometry.templates import BrightestR, kcorrect_templates, template_coefficients


@pytest.fixture(scope="module")
def mock():
    """A small galhalo mock with satellites, its velocities 5x faster (a wide window
    between cosmological and observed redshifts for the distance bound)."""
    catalog = galhalo.simulate(2000, 50.0, 1, satellites=True)
    table = catalog.table.copy()
    table[["vx", "vy", "vz"]] *= 5.0
    return Catalog(table, catalog.meta)


def odd_catalog(n=3000, seed=2):
    """Galaxies with colours beyond the templates' (clipped) and sSFRs they cannot meet
    (unmatched), pairs at identical positions (equal distances in every replica) and
    positions on and a rounding outside the box's faces."""
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(0, BOX, (n, 3))
    xyz[1::50] = xyz[::50][: xyz[1::50].shape[0]]  # twins
    xyz[2, 0], xyz[3, 1], xyz[4, 2], xyz[5, 0] = 0.0, BOX, -1e-9, BOX + 1e-9
    table = pd.DataFrame({
        "halo_id": np.arange(n), "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
        "smass": rng.uniform(8.5, 12.0, n), "color": rng.uniform(-1.2, 2.3, n),
        "sSFR": rng.uniform(-13.5, -8.0, n),
        "vx": rng.normal(0, 600.0, n), "vy": rng.normal(0, 600.0, n),
        "vz": rng.normal(0, 600.0, n)})
    return Catalog(table, CatalogMeta(box_size=BOX, cosmology=PLANCK15))


def masses(catalog, rows):
    h = flat_lcdm(catalog.meta.cosmology)[1] / 100.0
    return 10.0 ** catalog.table["smass"].to_numpy()[rows] / h


def test_the_r_bound_is_above_every_galaxy_s_r_flux():
    """BrightestR.bound >= the r flux computed the full way, for every galaxy (clipped
    colours, unmatched sSFRs, z from 0.001 to 1.5); the galaxies a cut at r = 21 skips
    are all fainter than 21 when photometered; the bound skips most of them."""
    catalog = odd_catalog()
    filters = jpas_like()
    rng = np.random.default_rng(4)
    n = len(catalog.table)
    z = np.sort(rng.uniform(0.001, 1.5, n))
    placement = pd.DataFrame({"row": np.arange(n), "ra": 0.0, "dec": 0.0, "redshift": z,
                              "redshift_cosmological": z})
    full = galaxy_sources(catalog, placement, filters)
    assert full.attrs["sed"]["colour_clipped"] > 100
    assert full.attrs["sed"]["ssfr_unmatched"] > 100
    table_z = _component_table(_bands(filters), float(z.max()), 2e-4)
    brightest = BrightestR.of(table_z)
    scale = 10.0 ** (-0.4 * distance_modulus(z, PLANCK15))
    bound = brightest.bound(catalog.table["color"].to_numpy(), masses(catalog, slice(None)),
                            np.arange(n), z, scale)
    flux = full["flux_rSDSS"].to_numpy()
    assert (bound >= flux).all()
    skipped = ~brightest.reaches(bound, 21.0)
    assert (full["mag_r"].to_numpy()[skipped] >= 21.0).all()
    fainter = full["mag_r"].to_numpy() >= 21.0
    assert skipped.sum() > 0.5 * fainter.sum()
    cut = galaxy_sources(catalog, placement, filters, r_range=(17.0, 21.0))
    inside = (full["mag_r"] >= 17.0) & (full["mag_r"] < 21.0)
    pd.testing.assert_frame_equal(cut, full[inside].reset_index(drop=True),
                                  check_exact=True)


@pytest.mark.parametrize("velocities, z_min", [(True, 0.0), (False, 0.1)])
def test_the_distance_bound_is_above_every_light_cone_copy_s_r_flux(mock, velocities,
                                                                     z_min):
    """BrightestR.bound_at_distance (from the comoving distance alone, the peculiar
    velocity's reach allowed for) >= the r flux of every copy of a light-cone; the
    copies a cut at r = 21 skips are all fainter; mock_galaxies with that cut is the
    full catalog cut afterwards, row for row and bit for bit."""
    filters = jpas_like()
    cone = light_cone(mock, 0.6, 30.0, z_min=z_min, velocities=velocities)
    full = galaxy_sources(mock, cone, filters)
    z_obs = np.maximum(cone["redshift"].to_numpy(), 0.0)
    brightest = BrightestR.of(_component_table(_bands(filters), float(z_obs.max()), 2e-4))
    rows = cone["row"].to_numpy()
    speed = float(np.sqrt((mock.table[["vx", "vy", "vz"]].to_numpy() ** 2).sum(axis=1))
                  .max()) if velocities else 0.0
    assert speed / SPEED_OF_LIGHT_KM_S > 0.004 or not velocities
    bound = brightest.bound_at_distance(mock.table["color"].to_numpy(),
                                        masses(mock, slice(None)), rows,
                                        cone["distance"].to_numpy(), mock.meta.cosmology,
                                        speed)
    assert (bound >= full["flux_rSDSS"].to_numpy()).all()
    mag = full["mag_r"].to_numpy()
    skipped = ~brightest.reaches(bound, 21.0)
    assert skipped.sum() > 0.3 * len(cone)
    assert (mag[skipped] >= 21.0).all()
    via_mock = mock_galaxies(mock, filters, z_max=0.6, area=30.0, z_min=z_min,
                             velocities=velocities, r_range=(17.0, 21.0))
    inside = (mag >= 17.0) & (mag < 21.0)
    pd.testing.assert_frame_equal(via_mock, full[inside].reset_index(drop=True),
                                  check_exact=True)
    counts = via_mock.attrs["r_cut"]
    assert counts == {"r_range": [17.0, 21.0], "placed": len(cone),
                      "photometered": counts["photometered"], "kept": int(inside.sum())}
    assert inside.sum() <= counts["photometered"] < 0.7 * len(cone)


def test_the_distance_bound_covers_every_observed_redshift_the_velocity_allows():
    """At each comoving distance, bound_at_distance >= the per-copy bound at every
    observed redshift within the peculiar velocity's reach (sampled); without that
    reach (speed 0) it would not be."""
    brightest = BrightestR.of(_component_table(_bands(jpas_like()), 1.5, 2e-4))
    rng = np.random.default_rng(0)
    n = 5000
    colour, mass, copy_of = rng.uniform(-1.0, 2.2, n), np.ones(n), np.arange(n)
    distance = rng.uniform(1.0, 3000.0, n)
    speed = 15_000.0
    z_cos = redshift_at_comoving_distance(distance, PLANCK15)
    scale = 10.0 ** (-0.4 * distance_modulus(z_cos, PLANCK15))
    widest = np.zeros(n)
    for step in np.linspace(-1.0, 1.0, 41):
        z_obs = np.clip((1.0 + z_cos) * (1.0 + step * speed / SPEED_OF_LIGHT_KM_S) - 1.0,
                        0.0, 1.5)
        widest = np.maximum(widest, brightest.bound(colour, mass, copy_of, z_obs, scale))
    bound = brightest.bound_at_distance(colour, mass, copy_of, distance, PLANCK15, speed)
    assert (bound >= widest).all()
    assert (bound < 1.1 * widest).mean() > 0.5  # and not much above
    still = brightest.bound_at_distance(colour, mass, copy_of, distance, PLANCK15, 0.0)
    assert (still < widest).mean() > 0.5


def test_a_cut_that_keeps_no_galaxy_is_an_empty_catalog(mock):
    filters = jpas_like()
    empty = mock_galaxies(mock, filters, z_max=0.3, area=10.0, r_range=(5.0, 6.0))
    assert len(empty) == 0 and list(empty.columns[:3]) == list(REQUIRED_COLUMNS)
    assert empty.attrs["r_cut"]["kept"] == 0 and empty.attrs["r_cut"]["placed"] > 100
    direct = galaxy_sources(mock, light_cone(mock, 0.3, 10.0), filters, r_range=(5.0, 6.0))
    pd.testing.assert_frame_equal(empty, direct)


def plain_light_cone(catalog, z_max, area, *, z_min=0.0, observer=None,
                     axis=(1.0, 2.0, 3.0), velocities=True):
    """The light-cone as first written: every replica within reach, every galaxy
    tested replica by replica, one stable sort by distance."""
    table = catalog.table
    positions = table[["x", "y", "z"]].to_numpy(float)
    vel = table[["vx", "vy", "vz"]].to_numpy(float) if "vx" in table.columns else None
    box = catalog.meta.box_size
    theta = cone_half_angle(area)
    frame = _frame(axis)
    origin = np.full(3, box / 2) if observer is None else np.asarray(observer, float)
    units = {"H0": 100.0, "Om0": flat_lcdm(catalog.meta.cosmology)[0]}
    d_lo, d_hi = (float(d) for d in comoving_distance(np.array([z_min, z_max]), units))
    reach = math.ceil(d_hi / box) + 1
    rows, offsets, codes, labels = [], [], [], []
    for shift in itertools.product(range(-reach, reach + 1), repeat=3):
        offset = positions + np.array(shift) * box - origin
        distance = np.linalg.norm(offset, axis=1)
        inside = (distance >= d_lo) & (distance <= d_hi) & (
            offset @ frame[0] >= math.cos(theta) * distance) & (distance > 0)
        if inside.any():
            rows.append(np.flatnonzero(inside))
            offsets.append(offset[inside])
            codes.append(np.full(rows[-1].size, len(labels), dtype=np.int32))
            labels.append(f"{shift[0]},{shift[1]},{shift[2]}")
    offset = np.concatenate(offsets)
    order = np.argsort(np.einsum("ij,ij->i", offset, offset), kind="stable")
    rows, offset = np.concatenate(rows)[order], offset[order]
    distance = np.linalg.norm(offset, axis=1)
    direction = offset / np.where(distance > 0, distance, 1.0)[:, None]
    local = direction @ frame.T
    z_cos = redshift_at_comoving_distance(distance, catalog.meta.cosmology)
    redshift = z_cos
    if velocities and vel is not None:
        v_los = np.einsum("ij,ij->i", vel[rows], direction)
        redshift = (1.0 + z_cos) * (1.0 + v_los / SPEED_OF_LIGHT_KM_S) - 1.0
    cone = pd.DataFrame({
        "row": rows, "ra": np.degrees(np.arctan2(local[:, 1], local[:, 0])) % 360.0,
        "dec": np.degrees(np.arcsin(np.clip(local[:, 2], -1.0, 1.0))),
        "redshift": redshift, "redshift_cosmological": z_cos, "distance": distance})
    cone["replica"] = pd.Categorical.from_codes(np.concatenate(codes)[order],
                                                categories=labels)
    return cone


@pytest.mark.parametrize("options", [
    {"z_max": 0.12, "area": 400.0},
    {"z_max": 0.2, "area": 60.0, "z_min": 0.05, "observer": (3.0, 97.0, 50.0),
     "axis": (0.0, 0.0, 1.0), "velocities": False},
])
def test_the_light_cone_is_the_plain_replica_loop(options):
    """Cells near the cone, copies tested in one pass, the fast sort with the stable
    order on equal distances (twins): the frame of the plain loop, bit for bit."""
    catalog = odd_catalog()
    fast = light_cone(catalog, **options)
    plain = plain_light_cone(catalog, **options)
    assert len(fast) > 1000
    twins = fast["distance"].duplicated(keep=False)
    assert twins.sum() > 10  # the equal distances are there and keep their order
    pd.testing.assert_frame_equal(fast, plain, check_exact=True)
    bad = catalog.table.copy()
    bad.loc[7, "y"] = np.nan
    with pytest.raises(PhotometryError, match="row 7: galaxy position"):
        light_cone(Catalog(bad, catalog.meta), **options)


def plain_template_coefficients(colour, log_ssfr, mass):
    """template_coefficients' triple loop as first written (np.cross on (n, 3) slices);
    only for matched galaxies (the unmatched ones share _colour_only)."""
    tpl = kcorrect_templates()
    lo, hi = tpl.colour_range
    rho = 10.0 ** (-0.4 * np.clip(colour, lo, hi))
    colour_row = tpl.g_flux[None, :] - rho[:, None] * tpl.i_flux[None, :]
    colour_row /= np.abs(colour_row).max(axis=1, keepdims=True)
    ssfr_row = tpl.sfr[None, :] - 10.0 ** log_ssfr[:, None] * tpl.mremain[None, :]
    ssfr_row /= np.abs(ssfr_row).max(axis=1, keepdims=True)
    total = np.zeros((colour.size, 5))
    count = np.zeros(colour.size)
    for triple in itertools.combinations(range(5), 3):
        idx = list(triple)
        direction = np.cross(colour_row[:, idx], ssfr_row[:, idx])
        mass_row = tpl.mremain[idx]
        denom = direction @ mass_row
        good = np.abs(denom) > 1e-12 * np.linalg.norm(direction, axis=1) * np.linalg.norm(
            mass_row)
        solution = direction / np.where(good, denom, 1.0)[:, None]
        feasible = good & (solution >= -1e-12).all(axis=1)
        total[:, idx] += np.where(feasible[:, None], np.clip(solution, 0.0, None), 0.0)
        count += feasible
    return total / np.maximum(count, 1)[:, None] * mass[:, None], count == 0


def test_template_mixtures_are_the_plain_cross_products_row_by_row():
    rng = np.random.default_rng(11)
    n = 4000
    colour = rng.uniform(-1.2, 2.3, n)
    ssfr = rng.uniform(-13.0, -8.0, n)
    mass = 10 ** rng.uniform(8.5, 11.5, n)
    mix = template_coefficients(colour, ssfr, mass)
    plain, unmatched = plain_template_coefficients(colour, ssfr, mass)
    np.testing.assert_array_equal(mix.ssfr_unmatched, unmatched)
    assert 50 < unmatched.sum() < n - 50
    np.testing.assert_array_equal(mix.coefficients[~unmatched], plain[~unmatched])
    # a part of the galaxies gets the same numbers as within the whole
    part = np.arange(3, n, 7)
    np.testing.assert_array_equal(
        template_coefficients(colour[part], ssfr[part], mass[part]).coefficients,
        mix.coefficients[part])


def test_table_indices_and_one_band_fluxes_are_the_binary_search_and_sparse_ones():
    table = _component_table(_bands(jpas_like()), 1.9, 2e-4)
    rng = np.random.default_rng(5)
    grid = table.redshift
    z = np.concatenate([rng.uniform(grid[0], grid[-1], 20000), grid, [grid[-1]],
                        np.nextafter(grid[1:], 0.0), np.nextafter(grid[:-1], 9.0)])
    expected = np.clip(np.searchsorted(grid, z, side="right"), 1, grid.size - 1)
    np.testing.assert_array_equal(table.upper_index(z), expected)
    # a grid not uniform in ln(1+z): the binary search
    uneven = ComponentTable(np.array([0.0, 0.1, 0.15, 0.5]), np.ones((4, 2, 1)), ("b",))
    np.testing.assert_array_equal(uneven.upper_index([0.0, 0.1, 0.12, 0.5]), [1, 2, 2, 3])
    with pytest.raises(PhotometryError, match="outside the table's grid"):
        uneven.upper_index([0.6])
    coefficients = 10 ** rng.uniform(5, 11, (z.size, 5)) * (rng.uniform(size=(z.size, 5))
                                                           > 0.3)
    every = table.fluxes(z, coefficients)
    for band in ("rSDSS", "J0378", "uJPAS"):
        one = table.fluxes(z, coefficients, [band])[:, 0]
        column = every[:, table.filter_names.index(band)]
        np.testing.assert_array_equal(one.view(np.int64), column.view(np.int64))
    assert table.fluxes(z[:0], coefficients[:0], ["rSDSS"]).shape == (0, 1)


def test_a_distance_table_reaching_further_gives_the_whole_array_s_numbers():
    z = np.random.default_rng(2).uniform(0.0, 2.0, 1000)
    part = z < 0.7
    whole = comoving_distance(z, PLANCK15)
    assert not np.array_equal(comoving_distance(z[part], PLANCK15), whole[part])
    np.testing.assert_array_equal(
        comoving_distance(z[part], PLANCK15, table_max=float(z.max())), whole[part])
    np.testing.assert_array_equal(
        distance_modulus(z[part], PLANCK15, table_max=float(z.max())),
        distance_modulus(z, PLANCK15)[part])


def plain_mixed(galaxies, quasars, stars, base, order):
    """The mixed sample's assembly as first written: Int64 casts, concat, reorder,
    take."""
    parts = [part for part in (galaxies, quasars, stars) if len(part)]
    integer = {name for part in parts for name, dtype in part.dtypes.items()
               if pd.api.types.is_integer_dtype(dtype)}
    if any(name not in part.columns for part in parts for name in integer):
        parts = [part.astype({name: "Int64" for name in integer if name in part.columns})
                 for part in parts]
    frame = pd.concat(parts, ignore_index=True, sort=False)
    frame = frame[base + [name for name in frame.columns if name not in base]]
    return frame if order is None else frame.iloc[order].reset_index(drop=True)


@pytest.mark.parametrize("shuffle", [True, False])
def test_the_mixed_sample_is_the_plain_concat(mock, shuffle):
    from galhalo.photometry.quasars import quasar_sources
    from galhalo.photometry.stars import star_sources

    filters = jpas_like()
    area, seed, r_range = 20.0, 3, (17.0, 22.0)
    galaxies = mock_galaxies(mock, filters, z_max=0.4, area=area, r_range=r_range)
    mixed = mixed_sample(galaxies, area, filters, seed, r_range=r_range, shuffle=shuffle)
    quasar_seed, star_seed, order_seed = np.random.SeedSequence(seed).spawn(3)
    quasars = quasar_sources(area, filters, np.random.default_rng(quasar_seed),
                             r_range=r_range)
    stars = star_sources(area, filters, np.random.default_rng(star_seed), r_range=r_range)
    n = len(galaxies) + len(quasars) + len(stars)
    order = np.random.default_rng(order_seed).permutation(n) if shuffle else None
    base = [*REQUIRED_COLUMNS, *flux_columns(filters.names)]
    plain = plain_mixed(galaxies, quasars, stars, base, order)
    assert len(galaxies) > 100 and len(quasars) > 10 and len(stars) > 100
    assert str(mixed["halo_id"].dtype) == "Int64"
    pd.testing.assert_frame_equal(mixed, plain, check_exact=True)


def test_source_checks_of_columns_that_are_not_floats():
    names = ("J0378", "rSDSS")
    frame = pd.DataFrame({"source_class": ["star", "galaxy"], "redshift": [0.0, 0.3],
                          "mag_r": [18.0, 19.0], "flux_J0378": [1.0, 2.0],
                          "flux_rSDSS": [3.0, 4.0]})
    as_objects = frame.astype({"flux_J0378": object})
    assert check_sources(as_objects, names) is as_objects
    bad = as_objects.copy()
    bad.loc[1, "flux_J0378"] = "abc"
    with pytest.raises(PhotometryError, match=r"'flux_J0378' has 1 NaN/infinite .* row 1"):
        check_sources(bad, names)
    with pytest.raises(PhotometryError, match=r"'flux_rSDSS' has 1 NaN/infinite .* row 0"):
        check_sources(frame.assign(flux_rSDSS=[np.inf, 1.0]), names)
    with pytest.raises(PhotometryError, match=r"'source_class' has 1 rows .* row 0, nan\)"):
        check_sources(frame.assign(source_class=[np.nan, "star"]), names)
