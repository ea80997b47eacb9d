"""CSV / Parquet tables → a galhalo catalog, with a column mapping.

A plain table (one row per central galaxy / host halo) becomes a :class:`Catalog` by
renaming its columns to the galhalo names (:mod:`galhalo.columns`); every other column
is kept as it is. Two layouts are recognised without a mapping:

- a **galhalo catalog** (a file written by :func:`galhalo.catalog.write_catalog`, with
  its metadata): read and validated as it is;
- the **published TNG300 layout** (``ID, X_h, Y_h, Z_h, M_h, C_h, S_h, z_h, Delta3_h,
  x_g, y_g, z_g, smass, color, radius, sSFR``, or ``stellar_mass`` for ``smass``):
  ``ID`` → ``halo_id``, ``X_h, Y_h, Z_h`` (halo positions, Mpc/h) → ``x, y, z``,
  ``stellar_mass`` → ``smass``; the galaxy positions ``x_g, y_g, z_g`` are kept.

Positions need the periodic box side (``box_size``, Mpc/h) unless the file carries it.
The values must lie in [0, box]: a position outside means the box size (or the unit of
the positions, kpc/h instead of Mpc/h) is wrong, and the table is refused. A position
exactly equal to the box side is wrapped to 0.

This module also reads the side tables of formation redshifts used by
:func:`galhalo.io.ingest_subfind` (:func:`formation_redshifts`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..catalog import (
    CSV_PREFIX,
    HDF5_GROUP,
    PARQUET_KEY,
    Catalog,
    CatalogError,
    CatalogMeta,
    read_catalog,
)
from ..columns import POSITION

__all__ = [
    "FORMATION_ID_COLUMNS",
    "FORMATION_VALUE_COLUMNS",
    "TABLE_SUFFIXES",
    "TNG300_RENAMES",
    "formation_redshifts",
    "ingest_table",
    "positions_in_box",
    "read_table",
]

Progress = Callable[[str], None]

#: File suffixes read by :func:`read_table` and their format.
TABLE_SUFFIXES: dict[str, str] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
#: Columns whose presence identifies the published TNG300 layout.
TNG300_SIGNATURE: tuple[str, ...] = ("X_h", "Y_h", "Z_h", "M_h")
#: Renames applied to the published TNG300 layout (source name -> galhalo name).
TNG300_RENAMES: dict[str, str] = {
    "ID": "halo_id", "X_h": "x", "Y_h": "y", "Z_h": "z", "stellar_mass": "smass",
}
#: Accepted names of the subhalo-id column of a formation-redshift side table.
FORMATION_ID_COLUMNS: tuple[str, ...] = ("subhalo_id", "SubhaloID", "SubfindID", "ID",
                                         "halo_id")
#: Accepted names of the formation-redshift column of a side table.
FORMATION_VALUE_COLUMNS: tuple[str, ...] = ("z_h", "z_form", "z_half", "zform")
#: Raised by pandas / pyarrow on unreadable files.
_READ_ERRORS = (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError, pa.ArrowException)


# --------------------------------------------------------------------------- reading


def _format(path: Path) -> str:
    """``"csv"`` or ``"parquet"`` from the suffix; :class:`CatalogError` otherwise."""
    try:
        return TABLE_SUFFIXES[path.suffix.lower()]
    except KeyError:
        known = ", ".join(TABLE_SUFFIXES)
        raise CatalogError(f"{path}: unknown table suffix {path.suffix!r} "
                           f"(tables: {known})") from None


def _check_file(path: Path) -> None:
    if not path.exists():
        raise CatalogError(f"{path}: no such file")
    if path.is_dir():
        raise CatalogError(f"{path}: is a directory, not a table")
    if path.stat().st_size == 0:
        raise CatalogError(f"{path}: file is empty (0 bytes)")


def has_galhalo_metadata(path: Path) -> bool:
    """Whether ``path`` (CSV, Parquet or HDF5) was written by galhalo (carries a header)."""
    try:
        suffix = path.suffix.lower()
        if suffix in (".h5", ".hdf5"):
            with h5py.File(path, "r") as h5:
                return isinstance(h5.get(HDF5_GROUP), h5py.Group)
        if _format(path) == "parquet":
            return PARQUET_KEY in (pq.read_schema(path).metadata or {})
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.readline().startswith(CSV_PREFIX)
    except CatalogError:
        raise
    except _READ_ERRORS as err:
        raise CatalogError(f"{path}: not a readable table ({type(err).__name__}: {err})") from err


def _is_galhalo_file(path: Path) -> bool:
    """Whether ``path`` is read as a galhalo catalog (HDF5 always is); checks the file."""
    if path.suffix.lower() in (".h5", ".hdf5"):
        _check_file(path)
        return True
    _format(path)
    _check_file(path)
    return has_galhalo_metadata(path)


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV or Parquet file (or a galhalo HDF5 catalog) as a DataFrame, no renaming.

    galhalo catalogs are read with :func:`galhalo.catalog.read_catalog` (validated);
    other files as plain tables. Raises :class:`CatalogError` naming the file for a
    missing, empty, unreadable file or an unknown suffix.
    """
    source = Path(path)
    if _is_galhalo_file(source):
        return read_catalog(source).table
    fmt = _format(source)
    try:
        if fmt == "parquet":
            return pq.read_table(source).to_pandas()
        return pd.read_csv(source)
    except _READ_ERRORS as err:
        raise CatalogError(f"{source}: not a readable {fmt} table "
                           f"({type(err).__name__}: {err})") from err


# --------------------------------------------------------------------------- renaming


def _renames(columns: list[str], mapping: Mapping[str, str], where: Path
             ) -> tuple[dict[str, str], str]:
    """All renames (source -> target) for a table and the layout name it was read as.

    The user's ``mapping`` comes first; the TNG300 layout renames fill in for columns
    the mapping leaves alone. Raises :class:`CatalogError` for a mapped column the
    file lacks, or two columns ending up with one name.
    """
    missing = [source for source in mapping if source not in columns]
    if missing:
        raise CatalogError(f"{where}: mapping names columns {missing} that the file lacks "
                           f"(the file has: {', '.join(map(str, columns))})")
    renames = dict(mapping)
    layout = "tng300" if all(name in columns for name in TNG300_SIGNATURE) else "table"
    # 'stellar_mass' is the published alternative name of smass in every layout.
    automatic = TNG300_RENAMES if layout == "tng300" else {"stellar_mass": "smass"}
    for source, target in automatic.items():
        taken = target in columns or target in renames.values()
        if source in columns and source not in renames and not taken:
            renames[source] = target
    final = [renames.get(name, name) for name in columns]
    repeated = sorted({name for name in final if final.count(name) > 1})
    if repeated:
        sources = {name: [c for c in columns if renames.get(c, c) == name] for name in repeated}
        raise CatalogError(f"{where}: after renaming, several columns are called "
                           f"{', '.join(f'{n!r} (from {s})' for n, s in sources.items())}; "
                           "drop one from the mapping")
    return {s: t for s, t in renames.items() if s != t}, layout


# --------------------------------------------------------------------------- positions


def positions_in_box(values: np.ndarray, box: float, where: str, hint: str = "") -> np.ndarray:
    """Positions checked against a periodic box and wrapped into [0, box).

    Args:
        values: positions, any shape, in the unit of ``box`` (Mpc/h in galhalo).
        box: periodic box side.
        where: what the values are, for messages (file and field/column).
        hint: appended to the out-of-box message (which option or header sets ``box``).

    Returns:
        float64 copy, values equal to ``box`` (rounding at the upper face) set to 0.

    Raises:
        CatalogError: a value is NaN/inf or outside [0, box].
    """
    try:
        positions = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise CatalogError(f"{where}: positions are not numeric ({err})") from None
    flat = positions.reshape(len(positions), -1) if positions.ndim else positions.reshape(1, 1)
    bad = ~np.isfinite(flat).all(axis=1)
    if bad.any():
        raise CatalogError(f"{where}: {int(bad.sum())} of {len(flat)} positions are NaN or inf "
                           f"(first at row {int(np.flatnonzero(bad)[0])})")
    outside = ((flat < 0) | (flat > box)).any(axis=1)
    if outside.any():
        hint_text = f"; {hint}" if hint else ""
        raise CatalogError(
            f"{where}: {int(outside.sum())} of {len(flat)} positions lie outside the box "
            f"[0, {box:g}] (min {flat.min():.6g}, max {flat.max():.6g}; first at row "
            f"{int(np.flatnonzero(outside)[0])}): the box size disagrees with the "
            f"positions{hint_text}")
    return np.where(positions >= box, 0.0, positions)


def _box_size(table: pd.DataFrame, meta_box: float | None, box_size: float | None,
              where: Path) -> float | None:
    """The box side (Mpc/h) to use, from the argument and/or the file's metadata."""
    if box_size is not None and not (np.isfinite(box_size) and box_size > 0):
        raise ValueError(f"box_size (--box) must be finite and > 0 Mpc/h, got {box_size}")
    if meta_box is not None and box_size is not None and not np.isclose(meta_box, box_size,
                                                                        rtol=1e-9, atol=0):
        raise CatalogError(f"{where}: box_size (--box) = {box_size:g} Mpc/h disagrees with "
                           f"the box size in the file's metadata, {meta_box:g} Mpc/h")
    box = box_size if box_size is not None else meta_box
    present = [name for name in POSITION if name in table.columns]
    if present and box is None:
        raise CatalogError(f"{where}: the table has positions ({', '.join(present)}) but no "
                           "box size: pass box_size (--box, the periodic box side in Mpc/h)")
    return box


# --------------------------------------------------------------------------- ingest


def ingest_table(
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    box_size: float | None = None,
    redshift: float | None = None,
    cosmology: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> Catalog:
    """A CSV or Parquet table (or a galhalo catalog file) as a validated catalog.

    Args:
        path: ``.csv``, ``.parquet``/``.pq`` (or ``.h5``/``.hdf5`` written by galhalo).
        mapping: renames, source column -> galhalo column, e.g.
            ``{"stellar_mass": "smass", "logMh": "M_h"}``; applied before the
            automatic TNG300 renames (``ID, X_h, Y_h, Z_h, stellar_mass``).
        box_size: periodic box side in Mpc/h; required when the table has positions
            and no galhalo metadata; must agree with the metadata when both exist.
        redshift: snapshot redshift (default: the file's metadata, else 0).
        cosmology: cosmological parameters to record (default: the file's metadata).
        progress: callback receiving one short message per stage.

    Returns:
        Catalog with the renamed columns (others kept, in file order); metadata
        ``source`` = the path, ``extra`` = ``{"format": "tng300" | "table" |
        "galhalo", "renamed": {source: target}, "source_files": [path]}``.

    Raises:
        CatalogError: naming the file (and column) for a missing/unreadable file, a
            mapped column the file lacks, duplicate names after renaming, positions
            without a box size, positions outside [0, box], or any value the catalog
            schema refuses (NaN, wrong units, repeated ``halo_id``).
    """
    say = progress or (lambda message: None)
    source = Path(path)
    if _is_galhalo_file(source):
        catalog = read_catalog(source)
        table, meta = catalog.table, catalog.meta
        fmt = "galhalo"
    else:
        table, meta = read_table(source), CatalogMeta(source=str(source))
        fmt = ""
    say(f"read {len(table):,} rows, {len(table.columns)} columns from {source.name}")
    renames, layout = _renames([str(c) for c in table.columns], mapping or {}, source)
    table = table.rename(columns=renames)
    if renames:
        say("renamed " + ", ".join(f"{s} -> {t}" for s, t in renames.items()))
    box = _box_size(table, meta.box_size, box_size, source)
    for name in POSITION:
        if name in table.columns:
            origin = next((s for s, t in renames.items() if t == name), name)
            table[name] = positions_in_box(
                table[name].to_numpy(), box, f"{source}: column {origin!r}",
                "pass the box side in Mpc/h as box_size (--box); positions in kpc/h?")
    meta.box_size = box
    if redshift is not None:
        meta.redshift = redshift
    if cosmology is not None:
        meta.cosmology = dict(cosmology)
    meta.source = str(source)
    meta.extra = {**meta.extra, "format": fmt or layout, "renamed": renames,
                  "source_files": [str(source)]}
    catalog = Catalog(table.reset_index(drop=True), meta)
    catalog.validate(source=source)
    say(f"{len(catalog):,} rows valid")
    return catalog


# --------------------------------------------------------------------------- side tables


def _pick(columns: list[str], candidates: tuple[str, ...], what: str, where: Path) -> str:
    found = next((name for name in candidates if name in columns), None)
    if found is None:
        raise CatalogError(f"{where}: no {what} column (expected one of "
                           f"{', '.join(candidates)}; the file has: {', '.join(columns)})")
    return found


def formation_redshifts(path: str | Path, subhalo_ids: np.ndarray) -> np.ndarray:
    """Formation redshifts of the given subhalos from a side table (CSV/Parquet).

    Args:
        path: table with one row per subhalo: an id column (first found of
            :data:`FORMATION_ID_COLUMNS`: the global Subfind index of the subhalo at
            the catalog's snapshot) and a redshift column (first of
            :data:`FORMATION_VALUE_COLUMNS`). Other columns are ignored.
        subhalo_ids: shape (n,) integer ids to look up.

    Returns:
        shape (n,) float64 formation redshifts, in the order of ``subhalo_ids``.

    Raises:
        CatalogError: naming the file and column, for a missing column, repeated ids,
            NaN/inf/negative redshifts, or ids of ``subhalo_ids`` the table lacks.
    """
    source = Path(path)
    table = read_table(source)
    columns = [str(c) for c in table.columns]
    id_column = _pick(columns, FORMATION_ID_COLUMNS, "subhalo-id", source)
    value_column = _pick(columns, FORMATION_VALUE_COLUMNS, "formation-redshift", source)
    ids = table[id_column]
    if not pd.api.types.is_integer_dtype(ids.dtype):
        raise CatalogError(f"{source}: column {id_column!r}: subhalo ids must be integers, "
                           f"got dtype {ids.dtype}")
    repeated = ids.duplicated().to_numpy()
    if repeated.any():
        raise CatalogError(f"{source}: column {id_column!r}: {int(repeated.sum())} ids appear "
                           f"more than once (first {ids[repeated].iloc[0]})")
    try:
        values = table[value_column].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as err:
        raise CatalogError(f"{source}: column {value_column!r} is not numeric: {err}") from None
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise CatalogError(f"{source}: column {value_column!r}: {int(bad.sum())} of "
                           f"{len(values)} formation redshifts are NaN, inf or negative")
    where = pd.Index(ids.to_numpy()).get_indexer(np.asarray(subhalo_ids))
    absent = where < 0
    if absent.any():
        first = int(np.asarray(subhalo_ids)[absent][0])
        raise CatalogError(f"{source}: column {id_column!r}: {int(absent.sum())} of "
                           f"{len(where)} selected centrals have no formation redshift "
                           f"(first subhalo id {first}); the side table must cover every "
                           "selected central (same snapshot and cuts)")
    return values[where]
