"""Rockstar / Consistent-Trees ``hlist`` ASCII files: the header, and the data in chunks.

An ``hlist_<a>.list`` file (consistent-trees' ``halo_trees_to_catalog``: one snapshot)
is text:

- header lines starting with ``#``. The first names the columns, ``#scale(0) id(1)
  desc_scale(2) desc_id(3) num_prog(4) pid(5) upid(6) ... Mvir(10) Rvir(11) ...``; the
  ``(N)`` suffixes and the case of the names differ between versions (``Mvir`` /
  ``mvir``, ``vmax`` / ``Vmax``), so names are matched case-insensitively with one
  trailing ``(N)`` removed (``b_to_a(500c)(48)`` is ``b_to_a(500c)``). Later lines
  give ``#a = 1.000000``, ``#Omega_M = 0.3; Omega_L = 0.7; h0 = 0.7`` and ``#Full box
  size = 250.000000 Mpc/h`` (Rockstar's own spelling ``#Om = ...; h = ...`` and ``#Box
  size: ...`` is accepted too) and the units;
- then one halo per line, fields separated by blanks.

:func:`read_hlist_header` reads the header (and peeks at the first data line);
:func:`read_chunks` reads ``chunk_rows`` lines at a time, the named columns only, as
float64 / int64 arrays, and names the *line number* (1-based, in the file) of any line
that is truncated, has too many fields or holds text where a number belongs.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import CatalogError

__all__ = [
    "COLUMNS",
    "ID_COLUMNS",
    "HlistChunk",
    "HlistHeader",
    "column_names",
    "looks_like_hlist",
    "read_chunks",
    "read_hlist_header",
]

#: The columns galhalo reads (lower case, ``(N)`` removed) and what they are.
COLUMNS: dict[str, str] = {
    "scale": "scale factor of the snapshot",
    "id": "halo id",
    "upid": "id of the uppermost host halo (-1: a host)",
    "mvir": "virial mass, Msun/h",
    "rvir": "virial radius, comoving kpc/h",
    "vmax": "maximum circular velocity, physical km/s",
    "x": "position, comoving Mpc/h", "y": "position, comoving Mpc/h",
    "z": "position, comoving Mpc/h",
    "vx": "peculiar velocity, physical km/s", "vy": "peculiar velocity, physical km/s",
    "vz": "peculiar velocity, physical km/s",
    "jx": "angular momentum, (Msun/h)(Mpc/h)(km/s) physical",
    "jy": "angular momentum", "jz": "angular momentum",
    "spin_bullock": "Bullock spin parameter",
    "halfmass_scale": "scale factor when half of today's Mvir was reached",
    "mpeak": "peak Mvir along the main branch, Msun/h",
    "vpeak": "Vmax at the time of Mpeak, physical km/s",
    "acc_scale": "scale factor of the last accretion (infall)",
}
#: Columns holding integer ids.
ID_COLUMNS: tuple[str, ...] = ("id", "upid")

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_SUFFIX = re.compile(r"\(\d+\)$")
#: Header values: attribute -> patterns (first match wins), case-insensitive.
_HEADER_VALUES: dict[str, tuple[str, ...]] = {
    "scale_factor": (rf"^#\s*a\s*=\s*({_NUMBER})",),
    "omega_matter": (rf"\bOmega_M\s*=\s*({_NUMBER})", rf"\bOm\s*=\s*({_NUMBER})"),
    "omega_lambda": (rf"\bOmega_L\s*=\s*({_NUMBER})", rf"\bOl\s*=\s*({_NUMBER})"),
    "hubble": (rf"\bh0\s*=\s*({_NUMBER})", rf"\bh\s*=\s*({_NUMBER})"),
    "box_size": (rf"box size\s*[=:]\s*({_NUMBER})",),
}
#: Bytes of the first line read at most (a column line is a few kB).
_FIRST_LINE_BYTES = 1 << 16


@dataclass(frozen=True)
class HlistHeader:
    """What the header of an hlist file says.

    Attributes:
        path: the file.
        names: column names as in the file, ``(N)`` removed, in file order.
        columns: lower-case name -> 0-based field index, for the :data:`COLUMNS` present.
        header_lines: number of ``#`` lines before the data.
        first_fields: number of fields of the first data line.
        scale_factor: ``#a = ...`` or, without it, the ``scale`` of the first data line.
        omega_matter, omega_lambda, hubble: ``Omega_M``, ``Omega_L``, ``h0`` (None: absent).
        box_size: ``Full box size`` in Mpc/h (None: absent).
    """

    path: Path
    names: tuple[str, ...]
    columns: dict[str, int]
    header_lines: int
    first_fields: int
    scale_factor: float | None
    omega_matter: float | None
    omega_lambda: float | None
    hubble: float | None
    box_size: float | None

    def name_of(self, column: str) -> str:
        """How the file spells the column ``column`` (a lower-case :data:`COLUMNS` key)."""
        return self.names[self.columns[column]]

    def line(self, row: int) -> int:
        """1-based line number in the file of data row ``row`` (0-based)."""
        return self.header_lines + row + 1


def column_names(line: str) -> tuple[str, ...]:
    """The column names of an hlist column line, ``(N)`` suffixes removed, case kept.

    ``"#scale(0) id(1) b_to_a(500c)(48) Mvir"`` -> ``("scale", "id", "b_to_a(500c)",
    "Mvir")``.
    """
    tokens = line.strip().lstrip("#").split()
    return tuple(_SUFFIX.sub("", token) for token in tokens)


def _first_line(path: Path) -> str:
    with open(path, "rb") as handle:
        return handle.readline(_FIRST_LINE_BYTES).decode("latin-1")


def looks_like_hlist(path: str | Path) -> bool:
    """Whether the first line of ``path`` names hlist columns (``id``, ``upid``, ``mvir``)."""
    try:
        line = _first_line(Path(path))
    except OSError:
        return False
    if not line.startswith("#"):
        return False
    names = {name.lower() for name in column_names(line)}
    return {"id", "upid", "mvir"} <= names


def _columns(names: tuple[str, ...], path: Path) -> dict[str, int]:
    lower = [name.lower() for name in names]
    columns = {}
    for name in COLUMNS:
        where = [index for index, value in enumerate(lower) if value == name]
        if len(where) > 1:
            raise CatalogError(f"{path}: the header names column {name!r} more than once "
                               f"(fields {', '.join(str(i) for i in where)}; case ignored)")
        if where:
            columns[name] = where[0]
    return columns


def _header_value(lines: list[str], key: str, path: Path) -> float | None:
    for pattern in _HEADER_VALUES[key]:
        for line in lines:
            found = re.search(pattern, line, flags=re.IGNORECASE)
            if found:
                value = float(found.group(1))
                if not np.isfinite(value) or value <= 0:
                    raise CatalogError(f"{path}: header line {line.strip()!r}: the value must "
                                       "be finite and > 0")
                return value
    return None


def read_hlist_header(path: str | Path) -> HlistHeader:
    """The header of an hlist file and the shape of its first data line.

    Raises:
        CatalogError: naming the file, for a missing or empty file, a first line that
            does not name columns, no data line, or a first data line whose number of
            fields differs from the number of names (a header from another version).
    """
    source = Path(path)
    if not source.is_file():
        raise CatalogError(f"{source}: no such file")
    if source.stat().st_size == 0:
        raise CatalogError(f"{source}: file is empty (0 bytes)")
    lines: list[str] = []
    first_data = ""
    with open(source, encoding="latin-1") as handle:
        for line in handle:
            if not line.startswith("#"):
                first_data = line
                break
            lines.append(line)
    if not lines or not column_names(lines[0]):
        raise CatalogError(f"{source}: not an hlist file: the first line must name the "
                           "columns, '#scale(0) id(1) ... upid(6) ... Mvir(10) ...'")
    names = column_names(lines[0])
    fields = first_data.split()
    if not fields:
        raise CatalogError(f"{source}: no halos: the file has {len(lines)} header lines "
                           "and no data line after them")
    if len(fields) != len(names):
        raise CatalogError(f"{source}: line {len(lines) + 1} has {len(fields)} fields but "
                           f"the header names {len(names)} columns (a header from another "
                           "Rockstar / consistent-trees version?)")
    columns = _columns(names, source)
    values = {key: _header_value(lines[1:], key, source) for key in _HEADER_VALUES}
    if values["scale_factor"] is None and "scale" in columns:
        try:
            values["scale_factor"] = float(fields[columns["scale"]])
        except ValueError:
            raise CatalogError(f"{source}: line {len(lines) + 1}: column "
                               f"{names[columns['scale']]!r} is not a number") from None
    return HlistHeader(path=source, names=names, columns=columns, header_lines=len(lines),
                       first_fields=len(fields), **values)


@dataclass(frozen=True)
class HlistChunk:
    """Consecutive data lines of an hlist file.

    Attributes:
        start: 0-based index of the first data row (``header.line(start)`` is its line).
        values: lower-case column name -> shape (rows,) array: int64 for
            :data:`ID_COLUMNS`, float64 otherwise.
    """

    start: int
    values: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(next(iter(self.values.values())))


_FIELDS_MESSAGE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _not_numbers(series: pd.Series, header: HlistHeader, start: int, name: str) -> None:
    """Raise for the first cell of a text column that is not a number."""
    parsed = pd.to_numeric(series, errors="coerce")
    bad = (parsed.isna() & series.notna()).to_numpy()
    row = int(np.flatnonzero(bad)[0]) if bad.any() else 0
    raise CatalogError(f"{header.path}: line {header.line(start + row)}: column "
                       f"{header.name_of(name)!r} holds "
                       f"{str(series.iloc[row])[:40]!r}, not a number (garbled line?)")


def _convert(frame: pd.DataFrame, header: HlistHeader, start: int, names: Sequence[str],
             check_fields: bool, nan_ok: Collection[str]) -> dict[str, np.ndarray]:
    """The requested columns of one chunk as arrays, every line checked."""
    values: dict[str, np.ndarray] = {}
    if check_fields:
        last = frame[header.first_fields - 1]
        short = last.isna().to_numpy()
        if short.any():
            row = int(np.flatnonzero(short)[0])
            raise CatalogError(f"{header.path}: line {header.line(start + row)} has fewer "
                               f"than the {header.first_fields} fields the header names "
                               "(truncated or empty line)")
    for name in names:
        series = frame[header.columns[name]]
        if not pd.api.types.is_numeric_dtype(series.dtype):
            _not_numbers(series, header, start, name)
        if name in ID_COLUMNS and pd.api.types.is_integer_dtype(series.dtype):
            values[name] = series.to_numpy(dtype=np.int64)
            continue
        array = series.to_numpy(dtype=np.float64, na_value=np.nan)
        if name in ID_COLUMNS:
            whole = np.isfinite(array) & (array == np.round(array)) & (np.abs(array) < 2**53)
            if not whole.all():
                row = int(np.flatnonzero(~whole)[0])
                raise CatalogError(f"{header.path}: line {header.line(start + row)}: column "
                                   f"{header.name_of(name)!r} = {float(array[row])!r} "
                                   "is not an integer id")
            array = array.astype(np.int64)
        elif name not in nan_ok and not np.isfinite(array).all():
            row = int(np.flatnonzero(~np.isfinite(array))[0])
            raise CatalogError(f"{header.path}: line {header.line(start + row)}: column "
                               f"{header.name_of(name)!r} is NaN or inf")
        values[name] = array
    return values


def read_chunks(header: HlistHeader, names: Sequence[str], chunk_rows: int, *,
                check_fields: bool = True, nan_ok: Collection[str] = ()
                ) -> Iterator[HlistChunk]:
    """The data of an hlist file, ``chunk_rows`` lines at a time.

    Args:
        header: from :func:`read_hlist_header`.
        names: lower-case :data:`COLUMNS` to return (each must be in ``header.columns``).
        chunk_rows: lines per chunk (> 0); memory is bounded by one chunk.
        check_fields: parse every field of every line, refusing lines with too many or
            too few fields (slower); otherwise parse only ``names``.
        nan_ok: columns whose NaN/inf pass through (the caller checks the rows that
            use them); NaN/inf in the other requested columns is an error.

    Raises:
        CatalogError: naming the file and the line: too many or too few fields, text
            where a number belongs (a ``#`` line after the data started, too), a
            non-integer id, NaN/inf in a requested column not in ``nan_ok``.
    """
    if check_fields:
        usecols = None
    else:
        usecols = sorted({header.columns[name] for name in names})
    reader = pd.read_csv(
        header.path, sep=r"\s+", header=None, names=range(header.first_fields),
        usecols=usecols, skiprows=header.header_lines, chunksize=chunk_rows,
        skip_blank_lines=False, quoting=csv.QUOTE_NONE, engine="c", encoding="latin-1")
    start = 0
    with reader:
        while True:
            try:
                frame = next(reader)
            except StopIteration:
                return
            except pd.errors.ParserError as err:
                found = _FIELDS_MESSAGE.search(str(err))
                if found is None:
                    raise CatalogError(f"{header.path}: unreadable data near row {start} "
                                       f"({str(err).strip()})") from None
                expected, line, saw = found.groups()
                raise CatalogError(f"{header.path}: line {line} has {saw} fields but the "
                                   f"header names {expected} columns (garbled line?)") from None
            yield HlistChunk(start, _convert(frame, header, start, names, check_fields,
                                             nan_ok))
            start += len(frame)
