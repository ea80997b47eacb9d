"""A mixed survey sample: given galaxies + drawn quasars and stars, and its counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galhalo.errors import PhotometryError
from galhalo.photometry.filters import jpas_like
from galhalo.photometry.lightcone import cone_half_angle
from galhalo.photometry.mixture import class_counts, mixed_sample
from galhalo.photometry.sources import CLASSES, check_sources, flux_columns
from galhalo.photometry.synthetic import flux_from_ab

AREA = 3.0


def fake_galaxies(filters, n=3000, seed=0):
    """Flat-f_ν galaxies (a stand-in for :mod:`galhalo.photometry.galaxies`)."""
    rng = np.random.default_rng(seed)
    mag = rng.uniform(16.0, 24.5, n)
    frame = pd.DataFrame(np.repeat(flux_from_ab(mag)[:, None], len(filters), axis=1),
                         columns=flux_columns(filters.names))
    frame.insert(0, "mag_r", mag)
    frame.insert(0, "redshift", rng.uniform(0.05, 1.0, n))
    frame.insert(0, "source_class", "galaxy")
    frame["smass"] = rng.uniform(9.0, 11.5, n)
    frame["halo_id"] = (2**60 + np.arange(n)).astype(np.int64)  # beyond float precision
    return frame


@pytest.fixture(scope="module")
def sample():
    filters = jpas_like()
    galaxies = fake_galaxies(filters)
    return galaxies, mixed_sample(galaxies, AREA, filters, seed=7, r_range=(17.0, 23.6))


def test_one_catalog_of_the_spec_with_every_class(sample):
    galaxies, mixed = sample
    check_sources(mixed, jpas_like().names)
    assert set(mixed["source_class"]) == set(CLASSES)
    assert mixed["mag_r"].between(17.0, 23.6).all()
    kept = galaxies["mag_r"].between(17.0, 23.6, inclusive="left").sum()
    assert (mixed["source_class"] == "galaxy").sum() == kept
    # class extras stay, NaN on the other classes
    assert mixed.loc[mixed["source_class"] == "star", "M_g"].isna().all()
    assert mixed.loc[mixed["source_class"] == "galaxy", "smass"].notna().all()
    assert mixed.loc[mixed["source_class"] == "qso_high", "redshift"].gt(2.1).all()


def test_quasar_counts_match_the_j_pas_expectation(sample):
    # J-PAS (the talk, REFERENCES.md): ~200 quasars deg⁻², ~75 at z > 2.2, at the survey's
    # quasar depth; we take r < 22.75 (narrow-band 5σ depth ~22.5, broad bands deeper) and
    # read "~" as ±1/3. The Poisson error of the 3 deg² sample (~5 %) is well inside it.
    _, mixed = sample
    quasars = mixed[mixed["source_class"].str.startswith("qso") & (mixed["mag_r"] < 22.75)]
    total = len(quasars) / AREA
    high = np.count_nonzero(quasars["redshift"] > 2.2) / AREA
    assert 200 * 2 / 3 < total < 200 * 4 / 3, total
    assert 75 * 2 / 3 < high < 75 * 4 / 3, high


def test_integer_columns_stay_integers_and_every_class_has_a_sky_position(sample):
    galaxies, mixed = sample
    assert mixed["halo_id"].dtype == "Int64"
    is_galaxy = (mixed["source_class"] == "galaxy").to_numpy()
    assert mixed.loc[~is_galaxy, "halo_id"].isna().all()
    kept = galaxies[galaxies["mag_r"].between(17.0, 23.6, inclusive="left")]
    assert sorted(mixed.loc[is_galaxy, "halo_id"].astype("int64")) == sorted(kept["halo_id"])
    # quasars and stars: uniform over the circular patch of AREA deg² around (0, 0)
    others = mixed[~is_galaxy]
    assert others[["ra", "dec"]].notna().all().all()
    ra, dec = np.radians(others["ra"].to_numpy()), np.radians(others["dec"].to_numpy())
    cos_angle = np.cos(ra) * np.cos(dec)
    cos_theta = np.cos(cone_half_angle(AREA))
    assert (cos_angle >= cos_theta - 1e-12).all()
    # uniform in solid angle: half the points inside the cap of half the area
    inner = np.mean(cos_angle >= np.cos(cone_half_angle(AREA / 2)))
    assert abs(inner - 0.5) < 5 * np.sqrt(0.25 / len(others))


def test_class_counts_per_square_degree(sample):
    _, mixed = sample
    table = class_counts(mixed, AREA)
    assert list(table.index) == [*CLASSES, "total"]
    assert table.loc["total", "all"] == pytest.approx(len(mixed) / AREA)
    np.testing.assert_allclose(table.iloc[:, :3].sum(axis=1), table["all"])
    # high-z quasars are a small minority of the sources (J-PAS: 1e-4 of all to r~24;
    # here galaxies are a thin stand-in, so only "small")
    assert table.loc["qso_high", "all"] < 0.05 * table.loc["total", "all"]


def test_same_seed_same_sample_and_shuffle():
    filters = jpas_like()
    galaxies = fake_galaxies(filters, n=200)
    first = mixed_sample(galaxies, 0.3, filters, seed=1)
    assert first.equals(mixed_sample(galaxies, 0.3, filters, seed=1))
    ordered = mixed_sample(galaxies, 0.3, filters, seed=1, shuffle=False)
    assert sorted(first["mag_r"]) == sorted(ordered["mag_r"])
    assert list(ordered["source_class"].iloc[:3]) == ["galaxy"] * 3
    # the star draws do not depend on the quasar settings
    narrower = mixed_sample(galaxies, 0.3, filters, seed=1, quasar_z_range=(1.0, 2.0),
                            shuffle=False)
    stars = ordered[ordered["source_class"] == "star"]["mag_r"].to_numpy()
    np.testing.assert_array_equal(
        narrower[narrower["source_class"] == "star"]["mag_r"].to_numpy(), stars)


def test_bad_galaxies_are_a_photometry_error():
    filters = jpas_like()
    galaxies = fake_galaxies(filters, n=10)
    with pytest.raises(PhotometryError, match="missing column"):
        mixed_sample(galaxies.drop(columns=["flux_J0500"]), 1.0, filters, seed=1)
    wrong = galaxies.copy()
    wrong.loc[3, "source_class"] = "star"
    with pytest.raises(PhotometryError, match="row 3"):
        mixed_sample(wrong, 1.0, filters, seed=1)
    with pytest.raises(PhotometryError, match="area"):
        mixed_sample(galaxies, 0.0, filters, seed=1)
    with pytest.raises(PhotometryError, match="edges"):
        class_counts(galaxies, 1.0, edges=(20.0, 18.0))
