"""Tests of galhalo.catalog (schema validation, Parquet/CSV/HDF5 I/O) and galhalo.files."""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from galhalo import __version__
from galhalo.catalog import (
    CSV_PREFIX,
    HDF5_ATTRIBUTE,
    HDF5_GROUP,
    PARQUET_KEY,
    Catalog,
    CatalogError,
    CatalogMeta,
    iter_batches,
    meta_from_header,
    read_catalog,
    read_file,
    read_header,
    scan_file,
    validate_table,
    write_catalog,
)
from galhalo.columns import GALAXY, HALO
from galhalo.files import (
    OutputPathError,
    atomic_directory,
    atomic_path,
    check_writable,
    to_jsonable,
    write_json,
)

BOX = 100.0
ROWS = 200
SUFFIXES = [".parquet", ".csv", ".h5"]

# Ranges inside the physical bounds of galhalo.columns (mostly the TNG300 ranges).
RANGES = {
    "M_h": (10.5, 14.8), "C_h": (0.2, 6.5), "S_h": (0.001, 1.3), "z_h": (0.0, 6.0),
    "Delta3_h": (0.06, 49.0), "smass": (8.75, 12.6), "color": (-0.3, 1.23),
    "sSFR": (-16.3, -8.3), "radius": (0.05, 2.2),
    "x": (0.0, BOX), "y": (0.0, BOX), "z": (0.0, BOX),
    "vx": (-2000.0, 2000.0), "vy": (-2000.0, 2000.0), "vz": (-2000.0, 2000.0),
}


def make_meta(**changes) -> CatalogMeta:
    settings_ = dict(
        box_size=BOX, redshift=0.0, seed=1234, source="test fixture",
        cosmology={"name": "Planck18", "Om0": 0.3111, "H0": 67.66, "sigma8": 0.8102},
        truth={"model": "toy", "params": {"slope": [1.0, 0.5], "scatter": 0.2}},
        extra={"note": "synthetic"},
    )
    settings_.update(changes)
    return CatalogMeta(**settings_)


def make_table(rows: int = ROWS, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    table = {"halo_id": rng.permutation(rows).astype(np.int64) * 3 + 11}
    table.update({name: rng.uniform(lo, hi, rows) for name, (lo, hi) in RANGES.items()})
    table["weight"] = rng.standard_normal(rows).astype(np.float32)  # not in the schema
    return pd.DataFrame(table)


@pytest.fixture
def table() -> pd.DataFrame:
    return make_table()


@pytest.fixture
def catalog(table: pd.DataFrame) -> Catalog:
    return Catalog(table, make_meta())


def assert_same_catalog(got: Catalog, want: Catalog) -> None:
    assert list(got.table.columns) == list(want.table.columns)
    for name in want.table.columns:
        assert got.table[name].dtype == want.table[name].dtype, name
        np.testing.assert_array_equal(got.table[name].to_numpy(), want.table[name].to_numpy())
    assert got.meta == want.meta


def files_in(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


# ---------------------------------------------------------------------------- metadata


def test_meta_dict_round_trip_and_numpy_normalised():
    meta = make_meta(box_size=np.float64(205.0), seed=np.int64(5),
                     cosmology={"Om0": np.float32(0.25), "ns": 0.96})
    data = meta.to_dict()
    assert type(data["box_size"]) is float and type(data["seed"]) is int
    assert json.loads(json.dumps(data)) == data
    assert CatalogMeta.from_dict(data) == meta
    assert data["galhalo_version"] == __version__


def test_meta_from_dict_rejects_unknown_keys():
    data = make_meta().to_dict() | {"boxsize": 100, "colour": 1}
    with pytest.raises(CatalogError, match="unknown metadata keys 'boxsize', 'colour'"):
        CatalogMeta.from_dict(data)


@pytest.mark.parametrize(("key", "value", "match"), [
    ("box_size", "100", "'box_size': expected a number"),
    ("box_size", -5.0, "'box_size': must be finite and > 0"),
    ("box_size", float("inf"), "'box_size': must be finite and > 0"),
    ("box_size", True, "'box_size': expected a number"),
    ("redshift", -0.1, "'redshift': must be finite and >= 0"),
    ("redshift", float("nan"), "'redshift': must be finite and >= 0"),
    ("seed", 1.5, "'seed': expected an integer"),
    ("source", 3, "'source': expected a string"),
    ("cosmology", [0.3], "'cosmology': expected a mapping"),
    ("cosmology", {"Om0": float("nan")}, r"'cosmology'\]?\['Om0'\] is nan"),
    ("truth", {"f": object()}, "'truth'.*type object"),
])
def test_meta_rejects_mistyped_values(key, value, match):
    data = make_meta().to_dict() | {key: value}
    with pytest.raises(CatalogError, match=match):
        CatalogMeta.from_dict(data)


def test_meta_mutated_after_construction_is_caught_on_validate(catalog):
    catalog.meta.box_size = -1.0
    with pytest.raises(CatalogError, match="box_size"):
        catalog.validate()


# ---------------------------------------------------------------------------- validation


def test_valid_catalog_passes_and_keeps_unknown_columns(catalog, table):
    table["label"] = ["a"] * ROWS
    table["weight"] = np.nan  # not in the schema: not checked
    assert catalog.validate(required=("M_h", "smass")) is catalog
    assert catalog.table["label"].iloc[0] == "a"


def _set(name, rows, value):
    def change(table):
        table.loc[rows, name] = value
        return table
    return change


def _replace(name, values_of):
    def change(table):
        table[name] = values_of(table)
        return table
    return change


@pytest.mark.parametrize(("change", "match"), [
    (lambda t: t.iloc[:0], "no rows"),
    (_set("smass", [5, 9, 30], np.nan),
     r"column 'smass' \(log10\(Msun/h\)\): 3 of 200 rows are NaN or inf \(first at row 5\)"),
    (_set("vz", [17], -np.inf), r"column 'vz' \(km/s\): 1 of 200 rows are NaN or inf"),
    (_set("M_h", [4, 8], 1e12),
     r"column 'M_h' \(log10\(Msun/h\)\): 2 of 200 rows are outside the physical range "
     r"\[6, 17\] \(min 10\.\d+, max 1e\+12; first at row 4\); expected log10\(Msun/h\)"),
    (_set("Delta3_h", [2], 0.0), r"column 'Delta3_h': 1 of 200 rows are outside the physical "
                                 r"range \(0, 10000\].*not the contrast"),
    (_set("sSFR", [0], 1e-10), r"column 'sSFR' \(log10\(1/yr\)\): 1 of 200.*\[-25, -5\]"),
    (_set("x", [3], 150.0), r"column 'x' \(Mpc/h\): 1 of 200 rows are outside the box "
                            r"\[0, 100\) Mpc/h \(min .*, max 150; first at row 3\).*kpc/h"),
    (_set("y", [6], BOX), r"column 'y' \(Mpc/h\): 1 of 200 rows are outside the box"),
    (_set("z", [1, 2], -0.5), r"column 'z' \(Mpc/h\): 2 of 200 rows are outside the box"),
    (_replace("M_h", lambda t: t["M_h"] > 12), r"column 'M_h' .*dtype bool .*not numeric"),
    (_replace("color", lambda t: t["color"].astype(str)),
     r"column 'color' \(mag\): dtype \w+ is not numeric; the values are numbers stored as text"),
    (_replace("radius", lambda t: ["0.5"] * 10 + ["big"] + ["0.4"] * 189),
     r"column 'radius' .*not numeric; 1 of 200 rows are not numbers \(first at row 10: 'big'\)"),
    (_replace("halo_id", lambda t: t["halo_id"].astype(float)),
     "column 'halo_id': dtype float64: halo ids must be integers"),
    (_set("halo_id", [12, 40], 11), r"column 'halo_id': 2 of 200 rows repeat an earlier id "
                                    r"\(first at row \d+: 11\)"),
    (_set("halo_id", [0], -3), r"column 'halo_id': 1 of 200 rows are outside .*\[0, inf\]"),
    (lambda t: t.rename(columns={"weight": 0}), "column names must be strings, got 0"),
    (lambda t: t.rename(columns={"weight": "smass"}), "more than once: 'smass'"),
])
def test_validate_rejects(table, change, match):
    with pytest.raises(CatalogError, match=match):
        validate_table(change(table), make_meta())


def test_validate_names_all_missing_required_columns(table):
    with pytest.raises(CatalogError, match="missing required columns 'smass', 'color', 'foo'"):
        validate_table(table.drop(columns=["smass", "color"]), make_meta(),
                       required=["M_h", "smass", "color", "foo"])


def test_unknown_column_names_are_catalog_errors():
    """Pins the error type: an unknown or repeated column name was a KeyError/ValueError."""
    from galhalo.columns import column, parse_column_list

    assert column("M_h").unit == "log10(Msun/h)"
    assert parse_column_list(" M_h, smass ") == ("M_h", "smass")
    with pytest.raises(CatalogError, match="unknown column 'halo_mass'; galhalo columns are"):
        parse_column_list("M_h,halo_mass")
    with pytest.raises(CatalogError, match="names M_h more than once"):
        parse_column_list(["M_h", "M_h"])
    with pytest.raises(CatalogError, match="empty column list"):
        parse_column_list(" , ")


def test_validate_reports_every_problem_at_once_on_one_line(table):
    """Pins the one-line message: the problems were listed on separate lines before."""
    table.loc[1, "smass"] = np.nan
    table.loc[2, "x"] = 1e5
    with pytest.raises(CatalogError, match=r"2 problems: column 'smass'.*; column 'x'") as info:
        validate_table(table, make_meta())
    assert "\n" not in str(info.value)


def test_positions_without_a_box_only_need_to_be_non_negative(table):
    table.loc[0, "x"] = 5e4  # kpc/h-like, but no box known
    validate_table(table, make_meta(box_size=None))
    table.loc[1, "x"] = -1.0
    with pytest.raises(CatalogError, match=r"column 'x' .*\[0, inf\]"):
        validate_table(table, make_meta(box_size=None))


# ---------------------------------------------------------------------------- Catalog


def test_catalog_column_groups_follow_schema_order(table):
    shuffled = Catalog(table[["smass", "z_h", "M_h", "x", "color"]], make_meta())
    assert len(shuffled) == ROWS
    assert shuffled.halo_columns == ("M_h", "z_h")
    assert shuffled.galaxy_columns == ("smass", "color")
    full = Catalog(table, make_meta())
    assert full.halo_columns == HALO and full.galaxy_columns == GALAXY


def test_values_is_a_float64_copy(catalog, table):
    values = catalog.values(["smass", "M_h", "halo_id"])
    assert values.shape == (ROWS, 3) and values.dtype == np.float64
    np.testing.assert_array_equal(values[:, 1], table["M_h"].to_numpy())
    values[:] = 0.0
    assert (catalog.table["M_h"] > 0).all()
    assert catalog.values("color").shape == (ROWS, 1)


def test_values_names_every_missing_column(catalog):
    with pytest.raises(CatalogError, match="missing columns 'mass', 'colour'"):
        catalog.values(["smass", "mass", "colour"])


def test_select_resets_index_and_copies_meta(catalog, table):
    mask = table["M_h"].to_numpy() > 12.0
    chosen = catalog.select(mask)
    assert len(chosen) == mask.sum() > 0
    assert list(chosen.table.index) == list(range(len(chosen)))
    np.testing.assert_array_equal(chosen.values(["M_h"])[:, 0], table["M_h"].to_numpy()[mask])
    assert chosen.meta == catalog.meta and chosen.meta is not catalog.meta
    with pytest.raises(CatalogError, match=r"boolean with shape \(200,\)"):
        catalog.select(mask[:10])
    with pytest.raises(CatalogError, match="got dtype int64"):
        catalog.select(np.flatnonzero(mask))


def test_describe_summarises_known_columns(catalog, table):
    summary = catalog.describe()
    assert list(summary.index) == [*HALO, *GALAXY, "x", "y", "z", "vx", "vy", "vz"]
    assert list(summary.columns) == ["unit", "min", "p1", "p16", "p50", "p84", "p99", "max",
                                     "mean", "sd"]
    assert summary.loc["smass", "unit"] == "log10(Msun/h)"
    smass = table["smass"].to_numpy()
    assert summary.loc["smass", "p50"] == pytest.approx(np.median(smass))
    assert summary.loc["smass", "max"] == smass.max()
    assert summary.loc["smass", "sd"] == pytest.approx(np.std(smass, ddof=1))


# ---------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_keeps_every_value_and_the_metadata(tmp_path, catalog, suffix):
    path = write_catalog(catalog, tmp_path / f"cat{suffix}")
    assert path == (tmp_path / f"cat{suffix}").resolve()
    assert_same_catalog(read_catalog(path), catalog)
    assert files_in(tmp_path) == [f"cat{suffix}"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_header_alone_gives_the_metadata_of_the_full_read(tmp_path, catalog, suffix):
    path = write_catalog(catalog, tmp_path / f"cat{suffix}")
    header = read_header(path)
    assert meta_from_header(header, path) == read_catalog(path).meta == catalog.meta
    assert [name for name, _ in header["columns"]] == list(catalog.table.columns)
    plain = tmp_path / f"plain{suffix}"
    if suffix == ".h5":
        with h5py.File(plain, "w") as h5:
            h5.create_dataset("catalog/M_h", data=catalog.table["M_h"].to_numpy())
    elif suffix == ".csv":
        catalog.table.to_csv(plain, index=False)
    else:
        catalog.table.to_parquet(plain, index=False)
    assert read_header(plain) is None
    table, header = read_file(plain)
    assert header is None and len(table) == ROWS


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_scan_and_batches_read_any_row_range_exactly(tmp_path, catalog, suffix):
    """The out-of-core path (populate) gives the rows of the full read, batch by batch.

    Pins: a float32 column of a CSV catalog was read back as float64 in batches."""
    path = write_catalog(catalog, tmp_path / f"cat{suffix}")
    chunk = 70
    layout = scan_file(path, chunk)
    assert layout.rows == ROWS and list(layout.schema) == list(catalog.table.columns)
    assert meta_from_header(layout.header, path) == catalog.meta
    columns = ["M_h", "halo_id", "weight"]
    csv = {}
    if layout.format == "csv":
        assert layout.csv_offsets[0] > 0 and len(layout.csv_offsets) == -(-ROWS // chunk) + 1
        csv = {"csv_names": layout.csv_names, "types": layout.schema,
               "csv_bytes": layout.csv_offsets[1:3]}
    batches = list(iter_batches(path, layout.format, chunk, 2 * chunk, columns, 32, **csv))
    assert [len(batch) for batch in batches] == [32, 32, 6]
    got = pd.concat(batches, ignore_index=True)
    want = catalog.table[columns].iloc[chunk:2 * chunk].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)


def test_scan_names_the_unreadable_file(tmp_path):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(CatalogError, match=r"broken\.parquet: not a readable parquet file"):
        scan_file(broken, 10)
    with pytest.raises(CatalogError, match=r"none\.csv: no such file"):
        scan_file(tmp_path / "none.csv", 10)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_keeps_text_columns_and_missing_box(tmp_path, table, suffix):
    table["label"] = [f"g{i}" for i in range(ROWS)]
    catalog = Catalog(table, make_meta(box_size=None, truth=None, seed=None))
    back = read_catalog(write_catalog(catalog, tmp_path / f"cat{suffix}"))
    assert list(back.table["label"]) == list(table["label"])
    assert back.meta == catalog.meta and back.meta.box_size is None


def test_format_argument_overrides_the_suffix(tmp_path, catalog):
    path = write_catalog(catalog, tmp_path / "cat.txt", format="csv")
    assert path.read_text().startswith(CSV_PREFIX)
    assert_same_catalog(read_catalog(path, format="CSV"), catalog)
    assert_same_catalog(read_catalog(write_catalog(catalog, tmp_path / "c.bin", "h5"), "hdf5"),
                        catalog)


def test_unknown_suffix_lists_the_supported_ones(tmp_path, catalog):
    with pytest.raises(CatalogError, match=r"unknown catalog suffix '\.fits'.*\.parquet.*\.h5"):
        write_catalog(catalog, tmp_path / "cat.fits")
    with pytest.raises(CatalogError, match="unknown catalog format 'feather'"):
        read_catalog(tmp_path / "cat.parquet", format="feather")
    assert files_in(tmp_path) == []


def test_same_catalog_gives_same_bytes(tmp_path, catalog):
    first = [write_catalog(catalog, tmp_path / f"a{suffix}") for suffix in SUFFIXES]
    time.sleep(1.1)  # file formats that store times (seconds) would now differ
    second = [write_catalog(catalog, tmp_path / f"b{suffix}") for suffix in SUFFIXES]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.suffix


def test_parquet_layout(tmp_path, catalog):
    path = write_catalog(catalog, tmp_path / "cat.pq")
    schema = pq.read_schema(path)
    assert schema.names == list(catalog.table.columns)  # no index column
    header = json.loads(schema.metadata[PARQUET_KEY])
    assert header["meta"] == catalog.meta.to_dict()
    assert header["units"]["x"] == "Mpc/h" and header["units"]["M_h"] == "log10(Msun/h)"
    assert "weight" not in header["units"]


def test_csv_layout_and_headerless_csv(tmp_path, catalog, table):
    path = write_catalog(catalog, tmp_path / "cat.csv")
    first, second = path.read_text().splitlines()[:2]
    assert json.loads(first.removeprefix(CSV_PREFIX))["meta"]["box_size"] == BOX
    assert next(csv.reader([second])) == list(table.columns)
    plain = tmp_path / "plain.csv"
    table.to_csv(plain, index=False)
    back = read_catalog(plain)
    assert back.meta.box_size is None and back.meta.source == str(plain)
    np.testing.assert_array_equal(back.values(["M_h"])[:, 0], table["M_h"].to_numpy())


def test_hdf5_layout(tmp_path, catalog):
    path = write_catalog(catalog, tmp_path / "cat.hdf5")
    with h5py.File(path, "r") as h5:
        group = h5[HDF5_GROUP]
        assert list(group) == list(catalog.table.columns)
        np.testing.assert_array_equal(group["smass"][()], catalog.table["smass"].to_numpy())
        assert json.loads(group.attrs[HDF5_ATTRIBUTE])["meta"]["seed"] == 1234


# ---------------------------------------------------------------------------- bad files


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_missing_empty_and_corrupt_files_name_the_file(tmp_path, suffix):
    missing = tmp_path / f"missing{suffix}"
    with pytest.raises(CatalogError, match=f"{re.escape(str(missing))}: no such file"):
        read_catalog(missing)
    empty = tmp_path / f"empty{suffix}"
    empty.write_bytes(b"")
    with pytest.raises(CatalogError, match=f"{re.escape(str(empty))}: file is empty"):
        read_catalog(empty)
    corrupt = tmp_path / f"corrupt{suffix}"
    corrupt.write_bytes(b"PAR1\x89HDF\xff\xfe\x00garbage" * 10)
    with pytest.raises(CatalogError, match=f"{re.escape(str(corrupt))}: not a readable"):
        read_catalog(corrupt)
    folder = tmp_path / f"folder{suffix}"
    folder.mkdir()
    with pytest.raises(CatalogError, match=f"{re.escape(str(folder))}: is a directory"):
        read_catalog(folder)


def test_invalid_values_in_a_file_name_file_and_column(tmp_path, table):
    table.loc[3, "sSFR"] = np.nan
    path = tmp_path / "bad.parquet"
    table.to_parquet(path, index=False)
    where = re.escape(str(path))
    with pytest.raises(CatalogError, match=rf"{where}: column 'sSFR' .*1 of 200 rows are NaN"):
        read_catalog(path)
    with pytest.raises(CatalogError, match=rf"(?s){where}: .*missing required columns 'truth'"):
        read_catalog(path, required=["truth"])


def _rewrite_csv_header(path: Path, edit) -> None:
    first, rest = path.read_text().split("\n", 1)
    path.write_text(edit(first) + "\n" + rest)


@pytest.mark.parametrize(("edit", "match"), [
    (lambda line: line[:-5], "corrupt galhalo metadata .not valid JSON"),
    (lambda line: CSV_PREFIX + "[1, 2]", "expected a JSON object with a 'meta' object"),
    (lambda line: line.replace('"Mpc/h"', '"kpc/h"', 1),
     r"column 'x' \(Mpc/h\): the file says unit 'kpc/h'"),
    (lambda line: line.replace('"box_size"', '"boxsize"'), "unknown metadata keys 'boxsize'"),
    (lambda line: line.replace('["weight", "float32"]', '["w", "float32"]'),
     "metadata lists columns .*'w'.* but the file holds"),
])
def test_corrupt_metadata_is_refused(tmp_path, catalog, edit, match):
    path = write_catalog(catalog, tmp_path / "cat.csv")
    _rewrite_csv_header(path, edit)
    with pytest.raises(CatalogError, match=rf"{re.escape(str(path))}: .*{match}"):
        read_catalog(path)


def test_hdf5_without_catalog_group_is_refused(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("M_h", data=np.ones(3))
    with pytest.raises(CatalogError, match=f"{re.escape(str(path))}: no HDF5 group 'catalog'"):
        read_catalog(path)


# ---------------------------------------------------------------------------- atomic writes


def _partial_parquet(monkeypatch):
    def fail(table, where, **kwargs):
        Path(where).write_bytes(b"PAR1 half a file")
        raise RuntimeError("disk full")
    monkeypatch.setattr(pq, "write_table", fail)


def _partial_csv(monkeypatch):
    def fail(table, handle, **kwargs):
        handle.write(b"halo_id,M_h\n1,12.0\n")
        raise RuntimeError("disk full")
    monkeypatch.setattr(pacsv, "write_csv", fail)


def _partial_hdf5(monkeypatch):
    def fail(self, name, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(h5py.Group, "create_dataset", fail)


@pytest.mark.parametrize(("suffix", "break_writer"), [
    (".parquet", _partial_parquet), (".csv", _partial_csv), (".h5", _partial_hdf5),
])
@pytest.mark.parametrize("existing", [False, True])
def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch, catalog, suffix,
                                            break_writer, existing):
    target = tmp_path / f"cat{suffix}"
    if existing:
        target.write_bytes(b"previous content")
    break_writer(monkeypatch)
    with pytest.raises(RuntimeError, match="disk full"):
        write_catalog(catalog, target)
    assert files_in(tmp_path) == ([target.name] if existing else [])
    if existing:
        assert target.read_bytes() == b"previous content"


def test_invalid_catalog_is_never_written(tmp_path, table):
    table.loc[0, "M_h"] = 1e13
    with pytest.raises(CatalogError, match="column 'M_h'"):
        write_catalog(Catalog(table, make_meta()), tmp_path / "cat.parquet")
    assert files_in(tmp_path) == []


def test_write_to_missing_directory_fails_before_writing(tmp_path, catalog):
    with pytest.raises(OutputPathError, match="does not exist"):
        write_catalog(catalog, tmp_path / "nope" / "cat.parquet")


def test_atomic_path_uses_a_hidden_sibling_with_the_suffix(tmp_path):
    target = tmp_path / "fig.png"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".fig.")
        assert tmp.suffix == ".png" and tmp.exists() and not target.exists()
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert files_in(tmp_path) == ["fig.png"]


def test_atomic_path_removes_the_temporary_on_error(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert files_in(tmp_path) == ["out.json"]


def test_atomic_directory_creates_and_replaces(tmp_path):
    target = tmp_path / "model"
    with atomic_directory(target) as tmp:
        assert tmp.is_dir() and tmp.parent == tmp_path and not target.exists()
        (tmp / "config.json").write_text("1")
    assert (target / "config.json").read_text() == "1"
    with atomic_directory(target) as tmp:
        (tmp / "weights.bin").write_bytes(b"w")
    assert files_in(target) == ["weights.bin"]
    assert files_in(tmp_path) == ["model"]


def test_atomic_directory_failure_keeps_the_old_directory(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "config.json").write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_directory(target) as tmp:
        (tmp / "config.json").write_text("new")
        raise RuntimeError("boom")
    assert (target / "config.json").read_text() == "old"
    assert files_in(tmp_path) == ["model"]


def test_atomic_directory_refuses_an_existing_file(tmp_path):
    target = tmp_path / "model"
    target.write_text("not a dir")
    with pytest.raises(OutputPathError, match="a file of that name exists"), \
            atomic_directory(target):
        pass
    assert target.read_text() == "not a dir"


# ---------------------------------------------------------------------------- check_writable


def test_check_writable_accepts_and_resolves(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert check_writable("cat.parquet") == tmp_path.resolve() / "cat.parquet"
    (tmp_path / "model").mkdir()
    assert check_writable("model", directory=True) == tmp_path.resolve() / "model"


def test_check_writable_refuses_missing_directory(tmp_path):
    with pytest.raises(OutputPathError, match=r"nowhere/cat\.csv: directory .*nowhere does not"):
        check_writable(tmp_path / "nowhere" / "cat.csv")


def test_check_writable_refuses_existing_directory_and_file_parent(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(OutputPathError, match="out: it is an existing directory"):
        check_writable(tmp_path / "out")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match="file is not a directory"):
        check_writable(tmp_path / "file" / "cat.csv")
    with pytest.raises(OutputPathError, match="a file of that name exists"):
        check_writable(tmp_path / "file", directory=True)


def test_check_writable_refuses_read_only_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: permission bits do not stop writes")
        with pytest.raises(OutputPathError, match="locked is not writable"):
            check_writable(locked / "cat.parquet")
    finally:
        locked.chmod(0o755)


# ---------------------------------------------------------------------------- JSON


def test_write_json_is_sorted_plain_and_atomic(tmp_path):
    path = write_json(tmp_path / "m.json", {"b": np.float32(0.5), "a": np.arange(3),
                                            "c": {"z": np.bool_(True), "p": Path("x/y")}})
    text = path.read_text()
    assert text == ('{\n  "a": [\n    0,\n    1,\n    2\n  ],\n  "b": 0.5,\n'
                    '  "c": {\n    "p": "x/y",\n    "z": true\n  }\n}\n')
    assert files_in(tmp_path) == ["m.json"]


def test_to_jsonable_refuses_what_json_cannot_hold():
    assert to_jsonable((np.int64(2), [np.float64(1.5)])) == [2, [1.5]]
    with pytest.raises(ValueError, match=r"value\['ks'\]\[1\] is nan"):
        to_jsonable({"ks": [0.1, np.nan]})
    with pytest.raises(TypeError, match="key 1 of type int"):
        to_jsonable({1: "a"})
    with pytest.raises(TypeError, match=r"value\['f'\] has type set"):
        to_jsonable({"f": {1, 2}})


# ---------------------------------------------------------------------------- property


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 25), data=st.data())
def test_random_finite_tables_round_trip_through_csv_exactly(rows, data):
    columns = {
        "a": data.draw(hnp.arrays(np.float64, rows, elements=finite)),
        "b": data.draw(hnp.arrays(np.float64, rows, elements=finite)),
        "color": data.draw(hnp.arrays(np.float64, rows, elements=st.floats(-3.0, 5.0))),
    }
    catalog = Catalog(pd.DataFrame(columns), CatalogMeta(source="hypothesis"))
    with tempfile.TemporaryDirectory() as directory:
        back = read_catalog(write_catalog(catalog, Path(directory) / "t.csv"))
    for name, values in columns.items():
        assert back.table[name].dtype == np.float64
        # bit patterns, so that -0.0 and 0.0 are told apart
        np.testing.assert_array_equal(back.table[name].to_numpy().view(np.int64),
                                      values.view(np.int64))
    assert back.meta == catalog.meta
