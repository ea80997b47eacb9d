"""The catalog: one table of halos and/or galaxies plus its metadata, validated and
read/written atomically as Parquet, CSV or HDF5.

A catalog row is one central galaxy / host halo. Known columns (``galhalo.columns``)
have fixed names, units and physical bounds; other columns are allowed and kept as
they are. Table-level metadata (:class:`CatalogMeta`: box size, redshift, cosmology,
seed, source, known truth) travels inside every file as one JSON document, the
*header*::

    {"meta": {...CatalogMeta.to_dict()...},
     "units": {"M_h": "log10(Msun/h)", ...},          # known columns present
     "columns": [["M_h", "float64"], ...]}           # every column, in order

stored under the Parquet schema metadata key ``b"galhalo"``, on the first CSV line
(``# galhalo: <header>``), or in the attribute ``galhalo`` of the HDF5 group
``catalog`` (one dataset per column). Files without a header (plain tables from
elsewhere) are readable: their metadata is ``CatalogMeta(source=<path>)``.

Numeric columns round-trip exactly (values and dtypes) in all three formats. Text
columns round-trip in Parquet and HDF5 (HDF5 refuses missing text cells); in CSV,
cells such as ``""`` or ``"NA"`` come back as missing.

Every validation or reading problem raises :class:`CatalogError` (a ``ValueError``)
naming the column or the file and how many rows are affected. A missing file is a
``CatalogError`` too (not ``FileNotFoundError``), so one ``except`` clause covers
every bad input. Row numbers in messages are 0-based positions.
"""

from __future__ import annotations

import copy
import json
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pandas.api import types as ptypes

from . import __version__
from .columns import ALL_COLUMNS, COLUMNS, GALAXY, HALO, Column
from .errors import CatalogError
from .files import atomic_path, check_writable, dumps_json, to_jsonable

__all__ = [
    "FORMATS",
    "Catalog",
    "CatalogError",
    "CatalogMeta",
    "check_output_path",
    "read_catalog",
    "validate_table",
    "write_catalog",
]

#: Parquet schema key-value metadata key holding the header JSON.
PARQUET_KEY = b"galhalo"
#: Prefix of the first line of a galhalo CSV file.
CSV_PREFIX = "# galhalo: "
#: HDF5 group holding one dataset per column; its attribute ``galhalo`` holds the header.
HDF5_GROUP = "catalog"
HDF5_ATTRIBUTE = "galhalo"



# --------------------------------------------------------------------------- metadata


def _real(name: str, value: Any, *, optional: bool) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise CatalogError(f"metadata {name!r}: expected a number, got {value!r}")
    return float(value)


def _integer(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise CatalogError(f"metadata {name!r}: expected an integer or null, got {value!r}")
    return int(value)


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise CatalogError(f"metadata {name!r}: expected a string, got {value!r}")
    return value


def _json_dict(name: str, value: Any, *, optional: bool) -> dict[str, Any] | None:
    if value is None and optional:
        return None
    if not isinstance(value, Mapping):
        raise CatalogError(f"metadata {name!r}: expected a mapping, got {value!r}")
    try:
        return to_jsonable(value, where=f"metadata {name!r}")
    except (TypeError, ValueError) as err:
        raise CatalogError(str(err)) from None


@dataclass
class CatalogMeta:
    """Table-level metadata of a catalog.

    Attributes:
        box_size: side of the periodic box in Mpc/h; ``None`` if the table is not a
            periodic box. Finite and > 0 when set.
        redshift: redshift of the snapshot (finite, >= 0).
        cosmology: cosmological parameters (``name``, ``Om0``, ``Ob0``, ``H0``,
            ``sigma8``, ``ns``, ...); any JSON-able mapping.
        seed: random seed that produced the catalog, if any.
        source: where the catalog came from (simulation name, file path, command).
        truth: parameters of the known-truth galaxy model of a synthetic catalog
            (JSON-able nested mapping), ``None`` for real data.
        extra: anything else, JSON-able.
        galhalo_version: package version that wrote the catalog.

    Values are checked and normalised on construction (numpy scalars become Python
    numbers, mappings are copied); :meth:`validate` re-checks after mutation.
    """

    box_size: float | None = None
    redshift: float = 0.0
    cosmology: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    source: str = ""
    truth: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    galhalo_version: str = __version__

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> CatalogMeta:
        """Check and normalise every field; raise :class:`CatalogError`. Returns self."""
        box_size = _real("box_size", self.box_size, optional=True)
        if box_size is not None and not (math.isfinite(box_size) and box_size > 0):
            raise CatalogError(f"metadata 'box_size': must be finite and > 0 (Mpc/h), "
                               f"got {box_size}")
        redshift = _real("redshift", self.redshift, optional=False)
        if not (math.isfinite(redshift) and redshift >= 0):
            raise CatalogError(f"metadata 'redshift': must be finite and >= 0, got {redshift}")
        self.box_size = box_size
        self.redshift = redshift
        self.cosmology = _json_dict("cosmology", self.cosmology, optional=False)
        self.seed = _integer("seed", self.seed)
        self.source = _text("source", self.source)
        self.truth = _json_dict("truth", self.truth, optional=True)
        self.extra = _json_dict("extra", self.extra, optional=False)
        self.galhalo_version = _text("galhalo_version", self.galhalo_version)
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy: ``{field name: value}`` for every field."""
        return to_jsonable({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CatalogMeta:
        """Inverse of :meth:`to_dict`; missing keys take their defaults.

        Raises:
            CatalogError: ``data`` is not a mapping, has unknown keys (all listed), or a
                value has the wrong type or range.
        """
        if not isinstance(data, Mapping):
            raise CatalogError(f"metadata must be a mapping, got {type(data).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            raise CatalogError(f"unknown metadata keys {', '.join(map(repr, unknown))}; "
                               f"known keys: {', '.join(known)}")
        return cls(**data)


# --------------------------------------------------------------------------- validation


def _label(name: str) -> str:
    """``column 'smass' (log10(Msun/h))``; no unit for dimensionless/unknown columns."""
    col = COLUMNS.get(name)
    if col is None or col.unit == "-":
        return f"column {name!r}"
    return f"column {name!r} ({col.unit})"


def _names(names: str | Iterable[str]) -> list[str]:
    return [names] if isinstance(names, str) else list(names)


def _quoted(names: Iterable[Any]) -> str:
    return ", ".join(repr(name) for name in names)


def _count(mask: np.ndarray) -> str:
    """``'12 of 1000 rows'`` for a boolean row mask of shape (rows,)."""
    return f"{int(mask.sum())} of {mask.size} rows"


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _show(value: Any) -> str:
    """``repr`` of a cell value, numpy scalars shown as plain Python values."""
    return repr(value.item() if isinstance(value, np.generic) else value)


@dataclass(frozen=True)
class _Range:
    """Allowed interval of a column, with open/closed ends."""

    lower: float | None
    upper: float | None
    lower_inclusive: bool = True
    upper_inclusive: bool = True

    def outside(self, values: np.ndarray) -> np.ndarray:
        bad = np.zeros(values.shape, dtype=bool)
        if self.lower is not None:
            bad |= values < self.lower if self.lower_inclusive else values <= self.lower
        if self.upper is not None:
            bad |= values > self.upper if self.upper_inclusive else values >= self.upper
        return bad

    def __str__(self) -> str:
        left = "[" if self.lower_inclusive else "("
        right = "]" if self.upper_inclusive else ")"
        lower = "-inf" if self.lower is None else f"{self.lower:g}"
        upper = "inf" if self.upper is None else f"{self.upper:g}"
        return f"{left}{lower}, {upper}{right}"


def _allowed(col: Column, box_size: float | None) -> tuple[_Range, str]:
    """The interval a column's values must lie in, and how to describe it."""
    if col.kind == "position" and box_size is not None:
        return _Range(0.0, box_size, upper_inclusive=False), f"the box [0, {box_size:g}) Mpc/h"
    interval = _Range(col.lower, col.upper, col.lower_inclusive)
    return interval, f"the physical range {interval}"


def _text_problem(series: pd.Series) -> str:
    """Why a text/object column is not numeric: which rows are not numbers."""
    try:
        parsed = pd.to_numeric(series, errors="coerce")
    except (TypeError, ValueError):
        return ""
    bad = (parsed.isna() & series.notna()).to_numpy()
    if bad.any():
        return (f"; {_count(bad)} are not numbers (first at row {_first(bad)}: "
                f"{_show(series.iloc[_first(bad)])})")
    return "; the values are numbers stored as text (convert with pandas.to_numeric)"


def _dtype_problem(col: Column, series: pd.Series) -> str | None:
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return f"dtype {dtype} (true/false) is not numeric"
    numeric = ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype)
    if col.kind == "id" and not ptypes.is_integer_dtype(dtype):
        detail = _text_problem(series) if not numeric else ""
        return f"dtype {dtype}: halo ids must be integers{detail}"
    if numeric:
        return None
    textual = ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype)
    return f"dtype {dtype} is not numeric" + (_text_problem(series) if textual else "")


def _value_problems(col: Column, values: np.ndarray, box_size: float | None) -> list[str]:
    """NaN/inf and out-of-bounds problems of one numeric column (float64, shape (rows,))."""
    label = _label(col.name)
    finite = np.isfinite(values)
    if not finite.all():
        return [f"{label}: {_count(~finite)} are NaN or inf (first at row {_first(~finite)})"]
    interval, where = _allowed(col, box_size)
    bad = interval.outside(values)
    if not bad.any():
        return []
    hint = f"; {col.units_hint}" if col.units_hint else ""
    return [f"{label}: {_count(bad)} are outside {where} (min {values.min():.6g}, "
            f"max {values.max():.6g}; first at row {_first(bad)}){hint}"]


#: Column numbering the realisations of a mock; ids repeat once per realisation.
REALIZATION = "realization"


def _duplicate_problem(series: pd.Series, realization: pd.Series | None) -> list[str]:
    keys = series if realization is None else pd.DataFrame({"id": series, "r": realization})
    repeated = keys.duplicated().to_numpy()
    if not repeated.any():
        return []
    first = _first(repeated)
    within = "" if realization is None else " within the same realization"
    return [f"{_label(series.name)}: {_count(repeated)} repeat an earlier id{within} "
            f"(first at row {first}: {_show(series.iloc[first])})"]


def _column_problems(col: Column, series: pd.Series, box_size: float | None,
                     realization: pd.Series | None = None) -> list[str]:
    dtype_problem = _dtype_problem(col, series)
    if dtype_problem is not None:
        return [f"{_label(col.name)}: {dtype_problem}"]
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    problems = _value_problems(col, values, box_size)
    if col.kind == "id":
        problems += _duplicate_problem(series, realization)
    return problems


def _structure_problem(table: pd.DataFrame) -> str | None:
    not_text = [name for name in table.columns if not isinstance(name, str)]
    if not_text:
        return f"column names must be strings, got {_quoted(not_text)}"
    repeated = sorted(set(table.columns[table.columns.duplicated()]))
    if repeated:
        return f"column names appear more than once: {_quoted(repeated)}"
    if len(table) == 0:
        return f"catalog has no rows (columns: {', '.join(table.columns) or 'none'})"
    return None


def _raise_problems(problems: list[str]) -> None:
    if len(problems) == 1:
        raise CatalogError(problems[0])
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise CatalogError(f"{len(problems)} problems:\n{listed}")


def validate_table(
    table: pd.DataFrame, meta: CatalogMeta, required: str | Iterable[str] = ()
) -> None:
    """Check a table against the galhalo schema; raise :class:`CatalogError` if invalid.

    Args:
        table: one row per object; known columns must be numeric (``halo_id`` integer).
        meta: its metadata; ``meta.box_size`` (Mpc/h) bounds ``x, y, z`` to [0, box).
        required: column names that must be present (all missing ones are named).

    Refused: no rows; non-string or repeated column names; missing required columns;
    a known column that is not numeric (booleans and text refused); NaN/inf in a
    known column; values outside a known column's physical bounds; positions outside
    [0, box_size); repeated ``halo_id`` (within one ``realization`` of a mock).
    Columns outside the schema are not checked. Every problem found is reported in one
    error.
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"a catalog table must be a pandas DataFrame, got {type(table).__name__}")
    if not isinstance(meta, CatalogMeta):
        raise TypeError(f"catalog metadata must be a CatalogMeta, got {type(meta).__name__}")
    meta.validate()
    structure = _structure_problem(table)
    if structure is not None:
        raise CatalogError(structure)
    problems: list[str] = []
    missing = [name for name in _names(required) if name not in table.columns]
    if missing:
        problems.append(f"missing required columns {_quoted(missing)} "
                        f"(the table has: {', '.join(table.columns)})")
    realization = table[REALIZATION] if REALIZATION in table.columns else None
    for col in ALL_COLUMNS:
        if col.name in table.columns:
            problems += _column_problems(col, table[col.name], meta.box_size, realization)
    _raise_problems(problems)


# --------------------------------------------------------------------------- catalog


def _summary(values: np.ndarray) -> list[float]:
    """min, p1, p16, p50, p84, p99, max, mean, sd (ddof=1; NaN for one row)."""
    percentiles = np.percentile(values, [0, 1, 16, 50, 84, 99, 100])
    sd = float(np.std(values, ddof=1)) if values.size > 1 else math.nan
    return [*(float(p) for p in percentiles), float(np.mean(values)), sd]


_SUMMARY_COLUMNS = ["min", "p1", "p16", "p50", "p84", "p99", "max", "mean", "sd"]


@dataclass(eq=False)
class Catalog:
    """A table of halos/galaxies (one row each) with its :class:`CatalogMeta`.

    Construction does not validate (call :meth:`validate`); :func:`read_catalog` and
    :func:`write_catalog` always do.

    Attributes:
        table: pandas DataFrame, columns named as in :mod:`galhalo.columns`.
        meta: table-level metadata (box size in Mpc/h, redshift, cosmology, ...).
    """

    table: pd.DataFrame
    meta: CatalogMeta = field(default_factory=CatalogMeta)

    def __post_init__(self) -> None:
        if not isinstance(self.table, pd.DataFrame):
            raise TypeError(f"Catalog.table must be a DataFrame, got {type(self.table).__name__}")
        if not isinstance(self.meta, CatalogMeta):
            raise TypeError(f"Catalog.meta must be a CatalogMeta, got {type(self.meta).__name__}")

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        return (f"Catalog({len(self)} rows, columns={list(self.table.columns)}, "
                f"box_size={self.meta.box_size}, source={self.meta.source!r})")

    @property
    def halo_columns(self) -> tuple[str, ...]:
        """Halo-property columns present (``columns.HALO`` order)."""
        return tuple(name for name in HALO if name in self.table.columns)

    @property
    def galaxy_columns(self) -> tuple[str, ...]:
        """Galaxy-property columns present (``columns.GALAXY`` order)."""
        return tuple(name for name in GALAXY if name in self.table.columns)

    def validate(self, required: str | Iterable[str] = (), source: object = None) -> Catalog:
        """Check table and metadata (see :func:`validate_table`); returns self.

        ``source`` (e.g. the file the table came from) prefixes any error message.
        """
        try:
            validate_table(self.table, self.meta, required)
        except CatalogError as err:
            if source is None:
                raise
            raise CatalogError(f"{source}: {err}") from None
        return self

    def values(self, names: str | Iterable[str]) -> np.ndarray:
        """The named columns as a new float64 array of shape (rows, len(names)).

        Units are those of the columns (``galhalo.columns``); integer ids beyond 2**53
        lose precision. Raises :class:`CatalogError` naming every missing column.
        """
        wanted = _names(names)
        if not wanted:
            raise CatalogError("values() needs at least one column name")
        missing = [name for name in wanted if name not in self.table.columns]
        if missing:
            raise CatalogError(f"missing columns {_quoted(missing)} "
                               f"(the catalog has: {', '.join(map(str, self.table.columns))})")
        try:
            return self.table[wanted].to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
        except (TypeError, ValueError) as err:
            raise CatalogError(f"columns {_quoted(wanted)} are not all numeric: {err}") from None

    def select(self, mask: np.ndarray | pd.Series) -> Catalog:
        """Rows where ``mask`` (bool, shape (rows,)) is true, index reset; a copy of meta."""
        keep = np.asarray(mask)
        if keep.dtype != np.bool_ or keep.shape != (len(self),):
            raise CatalogError(f"selection mask must be boolean with shape ({len(self)},), "
                               f"got dtype {keep.dtype} and shape {keep.shape}")
        return Catalog(self.table.iloc[keep].reset_index(drop=True), copy.deepcopy(self.meta))

    def describe(self) -> pd.DataFrame:
        """Summary of every known column present (schema order, ``halo_id`` excluded).

        Returns a DataFrame indexed by column name with columns ``unit, min, p1, p16,
        p50, p84, p99, max, mean, sd`` (percentiles in the column's unit; sd with ddof=1).
        """
        if len(self) == 0:
            raise CatalogError("cannot describe a catalog with no rows")
        names = [c.name for c in ALL_COLUMNS if c.kind != "id" and c.name in self.table.columns]
        stats = self.values(names) if names else np.empty((len(self), 0))
        rows = [[COLUMNS[name].unit, *_summary(stats[:, i])] for i, name in enumerate(names)]
        return pd.DataFrame(rows, index=pd.Index(names, name="column"),
                            columns=["unit", *_SUMMARY_COLUMNS])


# --------------------------------------------------------------------------- header


def _header(catalog: Catalog) -> str:
    """The one-line JSON header of ``catalog`` (metadata, units, column dtypes)."""
    table = catalog.table
    return dumps_json({
        "meta": catalog.meta.to_dict(),
        "units": {name: COLUMNS[name].unit for name in table.columns if name in COLUMNS},
        "columns": [[name, str(table[name].dtype)] for name in table.columns],
    }, indent=None)


def _parse_header(text: str | bytes | None) -> dict[str, Any] | None:
    """The header document from its JSON text (``None`` when the file has none)."""
    if text is None:
        return None
    try:
        header = json.loads(text)
    except json.JSONDecodeError as err:
        raise CatalogError(f"corrupt galhalo metadata (not valid JSON: {err})") from None
    if not isinstance(header, dict) or not isinstance(header.get("meta"), dict):
        raise CatalogError("corrupt galhalo metadata: expected a JSON object with a 'meta' "
                           "object")
    unknown = sorted(set(header) - {"meta", "units", "columns"})
    if unknown:
        raise CatalogError(f"corrupt galhalo metadata: unknown entries {_quoted(unknown)}")
    return header


def _check_units(units: Any) -> None:
    if not isinstance(units, dict):
        raise CatalogError("corrupt galhalo metadata: 'units' is not an object")
    wrong = [f"{_label(name)}: the file says unit {unit!r}"
             for name, unit in units.items() if name in COLUMNS and COLUMNS[name].unit != unit]
    _raise_problems(wrong)


def _restore_columns(table: pd.DataFrame, spec: Any) -> pd.DataFrame:
    """Put columns back in the recorded order and numeric dtypes (e.g. float32 in CSV)."""
    if not (isinstance(spec, list) and all(isinstance(s, list) and len(s) == 2 for s in spec)):
        raise CatalogError("corrupt galhalo metadata: 'columns' is not a list of "
                           "[name, dtype] pairs")
    names = [name for name, _ in spec]
    if sorted(names) != sorted(map(str, table.columns)):
        raise CatalogError(f"metadata lists columns {names} but the file holds "
                           f"{list(table.columns)}")
    table = table[names]
    for name, dtype_name in spec:
        try:
            dtype = ptypes.pandas_dtype(dtype_name)
        except TypeError:
            continue
        numeric = ptypes.is_numeric_dtype(dtype) or ptypes.is_bool_dtype(dtype)
        if numeric and table[name].dtype != dtype:
            try:
                table[name] = table[name].astype(dtype)
            except (TypeError, ValueError) as err:
                raise CatalogError(f"{_label(name)}: cannot restore dtype {dtype}: {err}") from None
    return table


def _from_file(table: pd.DataFrame, header: dict[str, Any] | None, source: Path) -> Catalog:
    if header is None:
        return Catalog(table, CatalogMeta(source=str(source)))
    _check_units(header.get("units", {}))
    if "columns" in header:
        table = _restore_columns(table, header["columns"])
    return Catalog(table, CatalogMeta.from_dict(header["meta"]))


# --------------------------------------------------------------------------- formats
# A reader returns (table, parsed header or None); a writer writes to a path.
Header = dict[str, Any] | None


def _write_parquet(catalog: Catalog, path: Path) -> None:
    arrow = pa.Table.from_pandas(catalog.table, preserve_index=False)
    metadata = {**(arrow.schema.metadata or {}), PARQUET_KEY: _header(catalog).encode()}
    pq.write_table(arrow.replace_schema_metadata(metadata), path)


def _read_parquet(path: Path) -> tuple[pd.DataFrame, Header]:
    arrow = pq.read_table(path)
    return arrow.to_pandas(), _parse_header((arrow.schema.metadata or {}).get(PARQUET_KEY))


# pandas >= 3.1 parses floats exactly by default and deprecates the option.
_CSV_READ_OPTIONS: dict[str, Any] = (
    {} if tuple(int(p) for p in pd.__version__.split(".")[:2]) >= (3, 1)
    else {"float_precision": "round_trip"}
)


def _write_csv(catalog: Catalog, path: Path) -> None:
    """Header line, then the table written by pyarrow: floats in their shortest exact
    decimal form (float32 columns are cast back on reading), text quoted, missing
    cells empty. pyarrow is ~10x faster here than ``DataFrame.to_csv``."""
    arrow = pa.Table.from_pandas(catalog.table, preserve_index=False)
    with open(path, "wb") as handle:
        handle.write(f"{CSV_PREFIX}{_header(catalog)}\n".encode())
        pacsv.write_csv(arrow, handle)


def _csv_float_columns(header: Header) -> dict[str, str]:
    """Columns recorded as floats, to be parsed as float64 (so "-0" stays -0.0)."""
    spec = header.get("columns", []) if header else []
    return {item[0]: "float64" for item in spec
            if isinstance(item, list) and len(item) == 2 and str(item[1]).startswith("float")}


def _read_csv(path: Path) -> tuple[pd.DataFrame, Header]:
    with open(path, encoding="utf-8", newline="") as handle:
        first = handle.readline()
        header = _parse_header(first[len(CSV_PREFIX):]) if first.startswith(CSV_PREFIX) else None
        if header is None:
            handle.seek(0)
        dtypes = _csv_float_columns(header)
        return pd.read_csv(handle, dtype=dtypes, **_CSV_READ_OPTIONS), header


def _hdf5_array(name: str, series: pd.Series) -> np.ndarray:
    """A column as an array h5py can store (numbers, booleans or UTF-8 strings)."""
    if "/" in name:
        raise CatalogError(f"column {name!r}: HDF5 dataset names cannot contain '/'")
    values = series.to_numpy()
    if values.dtype.kind in "biuf":
        return values
    if values.dtype.kind in "OUT" and all(isinstance(v, str) for v in values):
        return np.array(values, dtype=h5py.string_dtype("utf-8"))
    raise CatalogError(f"{_label(name)}: dtype {series.dtype} cannot be stored in HDF5 "
                       "(numbers, booleans and complete text columns only)")


def _write_hdf5(catalog: Catalog, path: Path) -> None:
    arrays = {name: _hdf5_array(name, catalog.table[name]) for name in catalog.table.columns}
    with h5py.File(path, "w") as h5:
        group = h5.create_group(HDF5_GROUP, track_order=True)
        group.attrs[HDF5_ATTRIBUTE] = _header(catalog)
        for name, values in arrays.items():
            group.create_dataset(name, data=values, track_times=False)


def _read_hdf5_dataset(name: str, item: Any) -> np.ndarray:
    if not isinstance(item, h5py.Dataset) or item.ndim != 1:
        raise CatalogError(f"{HDF5_GROUP}/{name} is not a one-dimensional dataset")
    if h5py.check_string_dtype(item.dtype) is not None:
        return item.asstr()[()]
    return item[()]


def _read_hdf5(path: Path) -> tuple[pd.DataFrame, Header]:
    with h5py.File(path, "r") as h5:
        group = h5.get(HDF5_GROUP)
        if not isinstance(group, h5py.Group):
            raise CatalogError(f"no HDF5 group {HDF5_GROUP!r} (groups: {', '.join(h5)})")
        data = {name: _read_hdf5_dataset(name, item) for name, item in group.items()}
        header = group.attrs.get(HDF5_ATTRIBUTE)
    lengths = {name: len(values) for name, values in data.items()}
    if len(set(lengths.values())) > 1:
        raise CatalogError(f"datasets have different lengths: {lengths}")
    return pd.DataFrame(data), _parse_header(header)


@dataclass(frozen=True)
class _Format:
    name: str
    suffixes: tuple[str, ...]
    read: Callable[[Path], tuple[pd.DataFrame, Header]]
    write: Callable[[Catalog, Path], None]


_FORMATS = (
    _Format("parquet", (".parquet", ".pq"), _read_parquet, _write_parquet),
    _Format("csv", (".csv",), _read_csv, _write_csv),
    _Format("hdf5", (".h5", ".hdf5"), _read_hdf5, _write_hdf5),
)
#: Supported formats and their file suffixes.
FORMATS: dict[str, tuple[str, ...]] = {fmt.name: fmt.suffixes for fmt in _FORMATS}


def _resolve_format(path: Path, format: str | None) -> _Format:
    """The format named by ``format`` (name or suffix, e.g. ``"h5"``) or by the suffix."""
    wanted = path.suffix.lower() if format is None else "." + format.lower().lstrip(".")
    for fmt in _FORMATS:
        if wanted in (*fmt.suffixes, f".{fmt.name}"):
            return fmt
    supported = "; ".join(f"{fmt.name} ({', '.join(fmt.suffixes)})" for fmt in _FORMATS)
    given = f"format {format!r}" if format is not None else f"suffix {path.suffix!r}"
    raise CatalogError(f"{path}: unknown catalog {given}; supported: {supported}")


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise CatalogError("no such file")
    if path.is_dir():
        raise CatalogError("is a directory, not a catalog file")
    if path.stat().st_size == 0:
        raise CatalogError("file is empty (0 bytes)")


# What libraries raise on unreadable files (pyarrow's errors are ValueError/OSError too).
_READ_ERRORS = (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError, pa.ArrowException)


def read_catalog(
    path: str | Path, format: str | None = None, required: str | Iterable[str] = ()
) -> Catalog:
    """Read and validate a catalog file.

    Args:
        path: a ``.parquet``/``.pq``, ``.csv`` or ``.h5``/``.hdf5`` file.
        format: ``"parquet"``, ``"csv"`` or ``"hdf5"`` to override the suffix.
        required: columns that must be present.

    Raises:
        CatalogError: naming the file, for an unknown format, a missing, empty,
            corrupt or unreadable file, corrupt metadata, or an invalid table
            (see :func:`validate_table`).
    """
    source = Path(path)
    fmt = _resolve_format(source, format)
    try:
        _check_readable(source)
        table, header = fmt.read(source)
        return _from_file(table, header, source).validate(required)
    except CatalogError as err:
        raise CatalogError(f"{source}: {err}") from None
    except _READ_ERRORS as err:
        raise CatalogError(f"{source}: not a readable {fmt.name} catalog "
                           f"({type(err).__name__}: {err})") from err


def check_output_path(path: str | Path, format: str | None = None) -> Path:
    """Check, before any work, that a catalog can be written at ``path``.

    Raises :class:`CatalogError` for an unknown format and
    :class:`galhalo.files.OutputPathError` for a path that cannot be written.
    Returns the resolved path.
    """
    _resolve_format(Path(path), format)
    return check_writable(path)


def write_catalog(catalog: Catalog, path: str | Path, format: str | None = None) -> Path:
    """Validate ``catalog`` and write it atomically; returns the resolved path.

    The format comes from ``format`` or the suffix (see :data:`FORMATS`). Nothing is
    written if the catalog is invalid (:class:`CatalogError`) or the path is not
    writable (:class:`galhalo.files.OutputPathError`); a failure while writing leaves
    any previous file untouched. The same catalog always gives the same bytes.
    """
    fmt = _resolve_format(Path(path), format)
    catalog.validate()
    target = check_output_path(path, format)
    with atomic_path(target) as tmp:
        fmt.write(catalog, tmp)
    return target
