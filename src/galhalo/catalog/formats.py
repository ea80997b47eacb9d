"""The one catalog file-format layer: Parquet, CSV and HDF5, read and written.

Every module that reads or writes a table file goes through here: :mod:`galhalo.catalog`
(:func:`read_catalog`, :func:`write_catalog`), ingestion of plain tables and the
populate inputs (:mod:`galhalo.catalog.batches` reads row ranges in batches).

- :func:`resolve_format`: the format of a path (suffix) or of a name given;
- :func:`read_file`: a whole file as ``(DataFrame, header or None)``, no validation;
- :func:`read_header`: the galhalo header alone, without reading the data;
- :func:`read_catalog` / :func:`write_catalog`: validated catalogs, written atomically;
- :data:`READ_ERRORS`: what the file libraries raise on unreadable files.

Numeric columns round-trip exactly (values and dtypes) in all three formats. Text
columns round-trip in Parquet and HDF5 (HDF5 refuses missing text cells); in CSV,
cells such as ``""`` or ``"NA"`` come back as missing.

Every problem raises :class:`CatalogError` naming the file; a missing file is a
``CatalogError`` too (not ``FileNotFoundError``), so one ``except`` covers bad input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..errors import CatalogError
from ..files import atomic_path, check_writable
from .header import (
    CSV_PREFIX,
    HDF5_ATTRIBUTE,
    HDF5_GROUP,
    PARQUET_KEY,
    Header,
    catalog_from_file,
    catalog_header,
    parse_header,
)
from .table import Catalog
from .validation import column_label

__all__ = [
    "FORMATS",
    "READ_ERRORS",
    "FileFormat",
    "check_output_path",
    "check_readable",
    "read_catalog",
    "read_file",
    "read_header",
    "resolve_format",
    "write_catalog",
]

#: What the file libraries raise on unreadable files (pyarrow's errors are
#: ValueError/OSError too; KeyError and TypeError come from malformed content).
READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError, ValueError, KeyError, TypeError, UnicodeDecodeError, pa.ArrowException)

# pandas >= 3.1 parses floats exactly by default and deprecates the option.
_CSV_READ_OPTIONS: dict[str, Any] = (
    {} if tuple(int(p) for p in pd.__version__.split(".")[:2]) >= (3, 1)
    else {"float_precision": "round_trip"}
)


# --------------------------------------------------------------------------- Parquet


def _write_parquet(catalog: Catalog, path: Path) -> None:
    arrow = pa.Table.from_pandas(catalog.table, preserve_index=False)
    metadata = {**(arrow.schema.metadata or {}), PARQUET_KEY: catalog_header(catalog).encode()}
    pq.write_table(arrow.replace_schema_metadata(metadata), path)


def _read_parquet(path: Path) -> tuple[pd.DataFrame, Header]:
    arrow = pq.read_table(path)
    return arrow.to_pandas(), parse_header((arrow.schema.metadata or {}).get(PARQUET_KEY))


def _parquet_header(path: Path) -> Header:
    return parse_header((pq.read_schema(path).metadata or {}).get(PARQUET_KEY))


# --------------------------------------------------------------------------- CSV


def _write_csv(catalog: Catalog, path: Path) -> None:
    """Header line, then the table written by pyarrow: floats in their shortest exact
    decimal form (float32 columns are cast back on reading), text quoted, missing
    cells empty. pyarrow is ~10x faster here than ``DataFrame.to_csv``."""
    arrow = pa.Table.from_pandas(catalog.table, preserve_index=False)
    with open(path, "wb") as handle:
        handle.write(f"{CSV_PREFIX}{catalog_header(catalog)}\n".encode())
        pacsv.write_csv(arrow, handle)


def _csv_float_columns(header: Header) -> dict[str, str]:
    """Columns recorded as floats, to be parsed as float64 (so "-0" stays -0.0)."""
    spec = header.get("columns", []) if header else []
    return {item[0]: "float64" for item in spec
            if isinstance(item, list) and len(item) == 2 and str(item[1]).startswith("float")}


def _read_csv(path: Path) -> tuple[pd.DataFrame, Header]:
    with open(path, encoding="utf-8", newline="") as handle:
        first = handle.readline()
        header = parse_header(first[len(CSV_PREFIX):]) if first.startswith(CSV_PREFIX) else None
        if header is None:
            handle.seek(0)
        dtypes = _csv_float_columns(header)
        return pd.read_csv(handle, dtype=dtypes, **_CSV_READ_OPTIONS), header


def _csv_header(path: Path) -> Header:
    with open(path, encoding="utf-8", errors="replace") as handle:
        first = handle.readline()
    return parse_header(first[len(CSV_PREFIX):]) if first.startswith(CSV_PREFIX) else None


# --------------------------------------------------------------------------- HDF5


def _hdf5_array(name: str, series: pd.Series) -> np.ndarray:
    """A column as an array h5py can store (numbers, booleans or UTF-8 strings)."""
    if "/" in name:
        raise CatalogError(f"column {name!r}: HDF5 dataset names cannot contain '/'")
    values = series.to_numpy()
    if values.dtype.kind in "biuf":
        return values
    if values.dtype.kind in "OUT" and all(isinstance(v, str) for v in values):
        return np.array(values, dtype=h5py.string_dtype("utf-8"))
    raise CatalogError(f"{column_label(name)}: dtype {series.dtype} cannot be stored in HDF5 "
                       "(numbers, booleans and complete text columns only)")


def _write_hdf5(catalog: Catalog, path: Path) -> None:
    arrays = {name: _hdf5_array(name, catalog.table[name]) for name in catalog.table.columns}
    with h5py.File(path, "w") as h5:
        group = h5.create_group(HDF5_GROUP, track_order=True)
        group.attrs[HDF5_ATTRIBUTE] = catalog_header(catalog)
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
    return pd.DataFrame(data), parse_header(header)


def _hdf5_header(path: Path) -> Header:
    with h5py.File(path, "r") as h5:
        group = h5.get(HDF5_GROUP)
        header = group.attrs.get(HDF5_ATTRIBUTE) if isinstance(group, h5py.Group) else None
    return parse_header(header)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class FileFormat:
    """One file format: its name, suffixes, and how to read, write and peek at it.

    ``read(path)`` returns ``(table, parsed header or None)``; ``write(catalog, path)``
    writes a catalog; ``header(path)`` reads the header alone (no data).
    """

    name: str
    suffixes: tuple[str, ...]
    read: Callable[[Path], tuple[pd.DataFrame, Header]]
    write: Callable[[Catalog, Path], None]
    header: Callable[[Path], Header]


_FORMATS = (
    FileFormat("parquet", (".parquet", ".pq"), _read_parquet, _write_parquet, _parquet_header),
    FileFormat("csv", (".csv",), _read_csv, _write_csv, _csv_header),
    FileFormat("hdf5", (".h5", ".hdf5"), _read_hdf5, _write_hdf5, _hdf5_header),
)
#: Supported formats and their file suffixes.
FORMATS: dict[str, tuple[str, ...]] = {fmt.name: fmt.suffixes for fmt in _FORMATS}


def resolve_format(path: str | Path, format: str | None = None) -> FileFormat:
    """The format named by ``format`` (name or suffix, e.g. ``"h5"``) or by the suffix.

    Raises:
        CatalogError: naming the path and the supported formats and suffixes.
    """
    path = Path(path)
    wanted = path.suffix.lower() if format is None else "." + format.lower().lstrip(".")
    for fmt in _FORMATS:
        if wanted in (*fmt.suffixes, f".{fmt.name}"):
            return fmt
    supported = "; ".join(f"{fmt.name} ({', '.join(fmt.suffixes)})" for fmt in _FORMATS)
    given = f"format {format!r}" if format is not None else f"suffix {path.suffix!r}"
    raise CatalogError(f"{path}: unknown catalog {given}; supported: {supported}")


def check_readable(path: Path) -> None:
    """Refuse a missing path, a directory or an empty file (message without the path)."""
    if not path.exists():
        raise CatalogError("no such file")
    if path.is_dir():
        raise CatalogError("is a directory, not a catalog file")
    if path.stat().st_size == 0:
        raise CatalogError("file is empty (0 bytes)")


def _reading(source: Path, fmt: FileFormat, what: str, read: Callable[[], Any]) -> Any:
    """``read()``, its errors as one :class:`CatalogError` prefixed with ``source``."""
    try:
        check_readable(source)
        return read()
    except CatalogError as err:
        raise CatalogError(f"{source}: {err}") from None
    except READ_ERRORS as err:
        raise CatalogError(f"{source}: not a readable {fmt.name} {what} "
                           f"({type(err).__name__}: {err})") from err


def read_file(path: str | Path, format: str | None = None) -> tuple[pd.DataFrame, Header]:
    """A whole table file, not validated: ``(table, parsed header or None)``.

    A file without a galhalo header (a plain table from elsewhere) gives ``None``.

    Raises:
        CatalogError: naming the file: unknown format, missing, empty or unreadable
            file, corrupt header.
    """
    source = Path(path)
    fmt = resolve_format(source, format)
    return _reading(source, fmt, "table", lambda: fmt.read(source))


def read_header(path: str | Path, format: str | None = None) -> Header:
    """The galhalo header of a file without reading its data; ``None`` if it has none.

    Raises:
        CatalogError: as :func:`read_file`.
    """
    source = Path(path)
    fmt = resolve_format(source, format)
    return _reading(source, fmt, "table", lambda: fmt.header(source))


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
            (see :func:`galhalo.catalog.validate_table`).
    """
    source = Path(path)
    fmt = resolve_format(source, format)

    def read() -> Catalog:
        table, header = fmt.read(source)
        return catalog_from_file(table, header, source).validate(required)

    return _reading(source, fmt, "catalog", read)


def check_output_path(path: str | Path, format: str | None = None) -> Path:
    """Check, before any work, that a catalog can be written at ``path``.

    Raises :class:`CatalogError` for an unknown format and
    :class:`galhalo.errors.OutputPathError` for a path that cannot be written.
    Returns the resolved path.
    """
    resolve_format(Path(path), format)
    return check_writable(path)


def write_catalog(catalog: Catalog, path: str | Path, format: str | None = None) -> Path:
    """Validate ``catalog`` and write it atomically; returns the resolved path.

    The format comes from ``format`` or the suffix (see :data:`FORMATS`). Nothing is
    written if the catalog is invalid (:class:`CatalogError`) or the path is not
    writable (:class:`galhalo.errors.OutputPathError`); a failure while writing leaves
    any previous file untouched. The same catalog always gives the same bytes.
    """
    fmt = resolve_format(Path(path), format)
    catalog.validate()
    target = check_output_path(path, format)
    with atomic_path(target) as tmp:
        fmt.write(catalog, tmp)
    return target
