"""CSV / Parquet tables → a galhalo catalog, with a column mapping.

A plain table (one row per central galaxy / host halo) becomes a :class:`Catalog` by
renaming its columns to the galhalo names (:mod:`galhalo.catalog.schema`); every other column
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

Files are read through the one catalog file-format layer (:mod:`galhalo.catalog.formats`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..catalog import (
    FORMATS,
    Catalog,
    CatalogError,
    CatalogMeta,
    catalog_from_file,
    read_file,
    read_header,
    resolve_format,
)
from ..catalog.schema import POSITION
from .common import Progress, positions_in_box

__all__ = [
    "TABLE_SUFFIXES",
    "TNG300_RENAMES",
    "has_galhalo_metadata",
    "ingest_table",
    "read_table",
]

#: File suffixes read by :func:`read_table` and their format.
TABLE_SUFFIXES: dict[str, str] = {suffix: name for name in ("csv", "parquet")
                                  for suffix in FORMATS[name]}
#: Columns whose presence identifies the published TNG300 layout.
TNG300_SIGNATURE: tuple[str, ...] = ("X_h", "Y_h", "Z_h", "M_h")
#: Renames applied to the published TNG300 layout (source name -> galhalo name).
TNG300_RENAMES: dict[str, str] = {
    "ID": "halo_id", "X_h": "x", "Y_h": "y", "Z_h": "z", "stellar_mass": "smass",
}


# --------------------------------------------------------------------------- reading


def _read(source: Path) -> tuple[pd.DataFrame, CatalogMeta, bool]:
    """(table, metadata, is a galhalo catalog) of a file, through the catalog formats.

    A file with a galhalo header (and any HDF5 file, which only galhalo writes here) is
    a catalog: its metadata is kept and the table validated; any other file is a plain
    table with ``CatalogMeta(source=<path>)``.
    """
    table, header = read_file(source)
    if header is None and resolve_format(source).name != "hdf5":
        return table, CatalogMeta(source=str(source)), False
    catalog = catalog_from_file(table, header, source).validate(source=source)
    return catalog.table, catalog.meta, True


def has_galhalo_metadata(path: str | Path) -> bool:
    """Whether ``path`` (CSV, Parquet or HDF5) carries a galhalo header (data not read)."""
    return read_header(path) is not None


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV or Parquet file (or a galhalo HDF5 catalog) as a DataFrame, no renaming.

    galhalo catalogs are validated; other files are read as plain tables. Raises
    :class:`CatalogError` naming the file for a missing, empty, unreadable file or an
    unknown suffix.
    """
    return _read(Path(path))[0]


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


def _box_size(table: pd.DataFrame, meta_box: float | None, box_size: float | None,
              where: Path) -> float | None:
    """The box side (Mpc/h) to use, from the argument and/or the file's metadata."""
    if box_size is not None and not (np.isfinite(box_size) and box_size > 0):
        raise CatalogError(f"box_size (--box) must be finite and > 0 Mpc/h, got {box_size}")
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
    table, meta, galhalo = _read(source)
    fmt = "galhalo" if galhalo else ""
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
