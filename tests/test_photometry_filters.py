"""Filters (J-PAS-like, kcorrect curves, CSV files) and the source-catalog conventions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galhalo.errors import PhotometryError
from galhalo.photometry.filters import (
    JPAS_NARROW_CENTRES,
    Filter,
    FilterSet,
    alhambra,
    jpas_like,
    read_filters,
    sdss,
    write_filters,
)
from galhalo.photometry.sources import (
    CLASSES,
    HIGH_Z_QUASAR,
    check_sources,
    error_columns,
    flux_columns,
    quasar_class,
)


def test_jpas_like_has_the_jpas_layout():
    filters = jpas_like()
    assert len(filters) == 60
    names = filters.names
    assert names[:3] == ("J0378", "J0390", "J0400") and names[53] == "J0910"
    assert names[54:] == ("uJAVA", "J1007", "uJPAS", "gSDSS", "rSDSS", "iSDSS")
    centres = np.array(JPAS_NARROW_CENTRES)
    assert centres.size == 54 and centres[0] == 3780 and centres[-1] == 9100
    assert np.all(np.diff(centres[2:]) == 100)
    for name, centre in zip(names[:54], centres, strict=True):
        band = filters[name]
        assert abs(band.pivot - centre) < 1.0
        assert abs(band.fwhm - 145.0) < 1.0
        assert abs(band.mean_wavelength - centre) < 1.0
    assert 3400 < filters["uJAVA"].pivot < 3600
    assert 9900 < filters["J1007"].pivot < 10200


def test_kcorrect_curves_have_the_published_pivots():
    # SDSS pivot wavelengths as quoted for the revised curves of Doi et al. (2010):
    # 3551/4686/6166/7480/8932 Å; kcorrect ships the 2001 curves, hence 2%.
    expected = {"uSDSS": 3551, "gSDSS": 4686, "rSDSS": 6166, "iSDSS": 7480, "zSDSS": 8932}
    filters = sdss()
    for name, pivot in expected.items():
        assert abs(filters[name].pivot / pivot - 1) < 0.02, name
    assert filters["rSDSS"].transmission.min() >= 0
    medium = alhambra()
    assert len(medium) == 23 and medium.names[0] == "F365W" and medium.names[19] == "F954W"
    for name in medium.names[:20]:
        assert abs(medium[name].pivot - 10 * int(name[1:4])) < 60, name
    assert 200 < medium["F613W"].fwhm < 400  # ALHAMBRA medium bands are ~300 Å wide


def test_filter_file_round_trip(tmp_path):
    filters = jpas_like().select(["J0378", "uJAVA", "rSDSS"])
    path = tmp_path / "filters.csv"
    write_filters(filters, path)
    back = read_filters(path)
    assert back.names == filters.names
    for a, b in zip(filters, back, strict=True):
        np.testing.assert_allclose(b.wavelength, a.wavelength, rtol=1e-9)
        np.testing.assert_allclose(b.transmission, a.transmission, rtol=1e-9, atol=1e-12)
    header = path.read_text().splitlines()[0]
    assert header == "filter,wavelength,transmission"


GOOD = "filter,wavelength,transmission\nA,4000,0\nA,4100,1\nA,4200,0\nB,5000,0\nB,5100,1\n"


@pytest.mark.parametrize("text, words", [
    ("", ["bad.csv"]),
    ("filter,wavelength\nA,4000\n", ["bad.csv", "transmission"]),
    ("filter,wavelength,transmission\n", ["bad.csv", "no filter rows"]),
    (GOOD.replace("A,4100,1", "A,-4100,1"), ["bad.csv", "'A'"]),
    (GOOD.replace("A,4100,1", "A,3900,1"), ["bad.csv", "'A'", "increasing"]),
    (GOOD.replace("A,4100,1", "A,4100,-1"), ["bad.csv", "'A'", "negative"]),
    (GOOD.replace("A,4100,1", "A,4100,nan"), ["bad.csv", "'A'", "NaN"]),
    (GOOD.replace("A,4100,1", "A,4100,abc"), ["bad.csv", "'A'"]),
    (GOOD + "A,6000,1\nA,6100,0\n", ["bad.csv", "'A'", "two separate blocks"]),
    (GOOD.replace("B,5100,1", "B,5100,0"), ["bad.csv", "'B'", "zero everywhere"]),
])
def test_bad_filter_files_raise_one_line(tmp_path, text, words):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(PhotometryError) as info:
        read_filters(path)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_missing_file_and_good_file(tmp_path):
    with pytest.raises(PhotometryError, match="no such filter file"):
        read_filters(tmp_path / "nope.csv")
    path = tmp_path / "good.csv"
    path.write_text(GOOD)
    filters = read_filters(path)
    assert filters.names == ("A", "B")
    assert filters["A"].fwhm == pytest.approx(100.0)


def test_filter_and_set_checks():
    band = Filter("A", np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.0]))
    with pytest.raises(PhotometryError, match="duplicate filter name 'A'"):
        FilterSet((band, band))
    with pytest.raises(PhotometryError, match="no filter 'Z'"):
        FilterSet((band,))["Z"]
    with pytest.raises(PhotometryError, match="non-positive"):
        Filter("B", np.array([0.0, 2.0]), np.array([1.0, 1.0]))
    assert band.wavelength.flags.writeable is False


def test_source_columns_and_checks():
    names = ("J0378", "rSDSS")
    assert flux_columns(names) == ["flux_J0378", "flux_rSDSS"]
    assert error_columns(names) == ["flux_err_J0378", "flux_err_rSDSS"]
    assert list(quasar_class([0.5, HIGH_Z_QUASAR, 2.2])) == ["qso_low", "qso_low", "qso_high"]
    assert CLASSES == ("star", "galaxy", "qso_low", "qso_high")
    frame = pd.DataFrame({"source_class": ["star", "galaxy"], "redshift": [0.0, 0.3],
                          "mag_r": [18.0, np.nan], "flux_J0378": [1.0, 2.0],
                          "flux_rSDSS": [3.0, -1.0]})
    assert check_sources(frame, names) is frame
    with pytest.raises(PhotometryError, match="missing column 'flux_J0390'"):
        check_sources(frame, ("J0390",))
    bad = frame.assign(source_class=["star", "qso"])
    with pytest.raises(PhotometryError, match=r"'source_class' has 1 rows .* row 1"):
        check_sources(bad, names)
    bad = frame.assign(flux_rSDSS=[1.0, np.nan])
    with pytest.raises(PhotometryError, match="'flux_rSDSS' has 1 NaN"):
        check_sources(bad, names)
    with pytest.raises(PhotometryError, match="negative at row 0"):
        check_sources(frame.assign(redshift=[-0.1, 0.2]), names)
