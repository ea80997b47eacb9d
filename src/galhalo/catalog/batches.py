"""Out-of-core access to catalog files: their layout without the data, and row batches.

:func:`scan_file` reads a file's row count, column types and galhalo header (and, for
CSV, the byte offsets where chunks of rows start: one pass over the lines, no parsing).
:func:`iter_batches` then reads any row range ``[start, stop)`` of the file, selected
columns only, as DataFrames of exactly ``size`` rows (the last one shorter): memory is
bounded by the batch size whatever the file size. Used by ``galhalo populate``.

Formats are those of :mod:`galhalo.catalog.formats`; HDF5 files hold one 1-D dataset per
column in the group ``catalog`` or, for files from elsewhere, at the root.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..errors import CatalogError
from .formats import READ_ERRORS, check_readable, resolve_format
from .header import CSV_PREFIX, HDF5_ATTRIBUTE, HDF5_GROUP, PARQUET_KEY, Header, parse_header

__all__ = ["FileLayout", "iter_batches", "scan_file"]

#: Bytes of a CSV file read at once while counting its lines.
_CSV_BLOCK = 1 << 24


@dataclass(frozen=True)
class FileLayout:
    """What a catalog file holds, read without its data.

    Attributes:
        format: ``"parquet"``, ``"csv"`` or ``"hdf5"``.
        rows: number of rows.
        schema: column -> arrow type, in file order (large strings as ``pa.string()``).
        header: the parsed galhalo header, ``None`` for a plain table.
        csv_names: CSV only: the column names of the header line.
        csv_offsets: CSV only: byte offset of the first row of every chunk of
            ``chunk_rows`` rows, then the end of the data (``len = chunks + 1``).
    """

    format: str
    rows: int
    schema: dict[str, pa.DataType]
    header: Header
    csv_names: tuple[str, ...] | None = None
    csv_offsets: tuple[int, ...] | None = None


def _normalised(kind: pa.DataType) -> pa.DataType:
    return pa.string() if pa.types.is_large_string(kind) else kind


def _columns_group(h5: h5py.File) -> h5py.Group:
    """The group holding the column datasets: ``catalog`` when present, else the root."""
    group = h5.get(HDF5_GROUP)
    return group if isinstance(group, h5py.Group) else h5


def _scan_parquet(path: Path, chunk_rows: int) -> FileLayout:
    parquet = pq.ParquetFile(path)
    schema = parquet.schema_arrow
    columns = {f.name: _normalised(f.type) for f in schema
               if not f.name.startswith("__index_level_")}
    header = parse_header((schema.metadata or {}).get(PARQUET_KEY))
    return FileLayout("parquet", parquet.metadata.num_rows, columns, header)


def _scan_hdf5(path: Path, chunk_rows: int) -> FileLayout:
    with h5py.File(path, "r") as h5:
        group = _columns_group(h5)
        datasets = {name: item for name, item in group.items() if isinstance(item, h5py.Dataset)}
        if not datasets:
            raise CatalogError(f"no datasets in group {group.name!r}")
        bad = [name for name, item in datasets.items() if item.ndim != 1]
        if bad:
            raise CatalogError(f"datasets {bad} are not one-dimensional")
        lengths = {name: len(item) for name, item in datasets.items()}
        if len(set(lengths.values())) > 1:
            raise CatalogError(f"datasets have different lengths: {lengths}")
        columns = {name: pa.string() if h5py.check_string_dtype(item.dtype) is not None
                   else pa.from_numpy_dtype(item.dtype) for name, item in datasets.items()}
        header = group.attrs.get(HDF5_ATTRIBUTE) if group.name != "/" else None
        rows = next(iter(lengths.values()))
    return FileLayout("hdf5", rows, columns, parse_header(header))


def _scan_csv(path: Path, chunk_rows: int) -> FileLayout:
    """Rows, types and chunk byte offsets of a CSV file (one pass over its lines).

    Column types are inferred by pyarrow from the first rows, except the numeric types
    a galhalo header records (float32 columns stay float32, as in the full read).
    """
    with open(path, "rb") as handle:
        first = handle.readline()
        galhalo = first.startswith(CSV_PREFIX.encode())
        names_line = handle.readline() if galhalo else first
        data_start = handle.tell()
        offsets, rows, position, last = [data_start], 0, data_start, b"\n"
        while block := handle.read(_CSV_BLOCK):
            newlines = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
            counts = rows + 1 + np.arange(len(newlines))
            offsets += (position + newlines[counts % chunk_rows == 0] + 1).tolist()
            rows += len(newlines)
            position += len(block)
            last = block[-1:]
    if position > data_start and last != b"\n":
        rows += 1
    if offsets[-1] != position:
        offsets.append(position)
    names = next(csv.reader([names_line.decode("utf-8").rstrip("\r\n")]))
    reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(
        skip_rows=1 if galhalo else 0, block_size=1 << 20))
    columns = {f.name: _normalised(f.type) for f in reader.schema}
    reader.close()
    header = parse_header(first[len(CSV_PREFIX):].decode("utf-8")) if galhalo else None
    columns.update(_recorded_numeric_types(header, columns))
    return FileLayout("csv", rows, columns, header, tuple(names), tuple(offsets))


def _recorded_numeric_types(header: Header, columns: dict[str, pa.DataType]
                            ) -> dict[str, pa.DataType]:
    """Numeric column types a CSV header records (e.g. float32), replacing the inferred
    float64/int64, so batches hold the dtypes of the full read."""
    recorded = {}
    for item in (header or {}).get("columns", []):
        if not (isinstance(item, list) and len(item) == 2 and item[0] in columns):
            continue
        try:
            dtype = np.dtype(str(item[1]))
        except (TypeError, ValueError):
            continue
        if dtype.kind in "iuf":
            recorded[item[0]] = pa.from_numpy_dtype(dtype)
    return recorded


_SCANNERS = {"parquet": _scan_parquet, "csv": _scan_csv, "hdf5": _scan_hdf5}


def scan_file(path: str | Path, chunk_rows: int) -> FileLayout:
    """A file's rows, column types and header (and CSV chunk offsets), not its data.

    Args:
        path: a Parquet, CSV or HDF5 file (format from the suffix).
        chunk_rows: rows per chunk, for the CSV byte offsets (> 0).

    Raises:
        CatalogError: naming the file, for an unknown suffix, a missing, empty or
            unreadable file, or a corrupt header.
    """
    source = Path(path)
    fmt = resolve_format(source)
    try:
        check_readable(source)
        return _SCANNERS[fmt.name](source, chunk_rows)
    except CatalogError as err:
        raise CatalogError(f"{source}: {err}") from None
    except READ_ERRORS as err:
        raise CatalogError(f"{source}: not a readable {fmt.name} file "
                           f"({type(err).__name__}: {err})") from None


# --------------------------------------------------------------------------- batches


def _exact(pieces: Iterator[pa.RecordBatch | pa.Table], size: int) -> Iterator[pa.Table]:
    """Regroup record batches into tables of exactly ``size`` rows (the last shorter)."""
    held: list[pa.Table] = []
    count = 0
    for piece in pieces:
        table = pa.Table.from_batches([piece]) if isinstance(piece, pa.RecordBatch) else piece
        held.append(table)
        count += len(table)
        while count >= size:
            joined = pa.concat_tables(held)
            yield joined.slice(0, size)
            rest = joined.slice(size)
            held, count = ([rest] if len(rest) else []), len(rest)
    if count:
        yield pa.concat_tables(held)


def _parquet_pieces(path: Path, start: int, stop: int, columns: list[str], size: int
                    ) -> Iterator[pa.RecordBatch]:
    parquet = pq.ParquetFile(path)
    groups, first_row, row = [], None, 0
    for index in range(parquet.metadata.num_row_groups):
        rows = parquet.metadata.row_group(index).num_rows
        if row < stop and row + rows > start:
            groups.append(index)
            first_row = row if first_row is None else first_row
        row += rows
    row = first_row or 0
    for batch in parquet.iter_batches(batch_size=size, row_groups=groups, columns=columns,
                                      use_threads=False):
        low, high = max(start - row, 0), min(stop - row, len(batch))
        if high > low:
            yield batch.slice(low, high - low)
        row += len(batch)
        if row >= stop:
            break


def _csv_pieces(path: Path, byte_range: tuple[int, int], names: Sequence[str],
                types: dict[str, pa.DataType], columns: list[str]) -> Iterator[pa.RecordBatch]:
    low, high = byte_range
    with pa.memory_map(str(path)) as source:
        reader = pacsv.open_csv(
            pa.BufferReader(source.read_at(high - low, low)),
            read_options=pacsv.ReadOptions(column_names=list(names), block_size=1 << 22),
            convert_options=pacsv.ConvertOptions(column_types=types, include_columns=columns))
        yield from reader


def _hdf5_batches(path: Path, start: int, stop: int, columns: list[str], size: int
                  ) -> Iterator[pd.DataFrame]:
    with h5py.File(path, "r") as h5:
        group = _columns_group(h5)
        for low in range(start, stop, size):
            high = min(low + size, stop)
            data = {}
            for name in columns:
                item = group[name]
                strings = h5py.check_string_dtype(item.dtype) is not None
                data[name] = item.asstr()[low:high] if strings else item[low:high]
            yield pd.DataFrame(data)


def iter_batches(
    path: str | Path, format: str, start: int, stop: int, columns: list[str], size: int, *,
    csv_names: Sequence[str] | None = None, csv_bytes: tuple[int, int] | None = None,
    types: dict[str, pa.DataType] | None = None,
) -> Iterator[pd.DataFrame]:
    """The rows ``[start, stop)`` of a file, ``columns`` only, as DataFrames of exactly
    ``size`` rows (the last one shorter).

    Args:
        path, format: the file and its format name (:attr:`FileLayout.format`).
        start, stop: 0-based row range.
        columns: columns to read, in this order.
        size: rows per batch (> 0).
        csv_names, csv_bytes, types: CSV only: the header's column names, the byte
            range holding exactly rows ``[start, stop)`` (two consecutive
            :attr:`FileLayout.csv_offsets`), and the column types of the scan.

    Errors of the file libraries (:data:`galhalo.catalog.formats.READ_ERRORS`) pass
    through; the caller names the part that failed.
    """
    source = Path(path)
    if format == "hdf5":
        yield from _hdf5_batches(source, start, stop, columns, size)
        return
    if format == "csv":
        if csv_names is None or csv_bytes is None or types is None:
            raise TypeError(f"{source}: reading CSV rows needs the layout of scan_file "
                            "(csv_names, csv_bytes, types)")
        pieces = _csv_pieces(source, csv_bytes, csv_names, types, columns)
    else:
        pieces = _parquet_pieces(source, start, stop, columns, size)
    for table in _exact(pieces, size):
        yield table.select(columns).to_pandas()
