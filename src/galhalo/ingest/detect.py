"""What a path holds (a Subfind group catalog or a table), and :func:`ingest` of either."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py

from ..catalog import FORMATS, HDF5_GROUP, Catalog, CatalogError
from .subfind import ingest_subfind
from .tables import TABLE_SUFFIXES, ingest_table

__all__ = ["detect_input", "ingest"]

_HDF5_SUFFIXES = FORMATS["hdf5"]


def _hdf5_kind(path: Path) -> str:
    """``"subfind"`` for a group catalog, ``"table"`` for a galhalo HDF5 catalog."""
    try:
        with h5py.File(path, "r") as h5:
            if "Header" in h5:
                return "subfind"
            if HDF5_GROUP in h5:
                return "table"
            groups = ", ".join(h5) or "none"
    except OSError as err:
        raise CatalogError(f"{path}: not a readable HDF5 file ({err})") from None
    raise CatalogError(f"{path}: HDF5 file that is neither a Subfind group catalog (no "
                       f"'Header' group) nor a galhalo catalog (groups: {groups})")


def detect_input(path_or_dir: str | os.PathLike[str] | Iterable[Any]) -> str:
    """What :func:`ingest` will read: ``"subfind"`` or ``"table"``.

    A directory, a list of files or a Subfind HDF5 file is ``"subfind"``; a ``.csv``,
    ``.parquet``/``.pq`` or galhalo ``.h5`` catalog is ``"table"``. Raises
    :class:`CatalogError` naming the path otherwise.
    """
    if not isinstance(path_or_dir, str | os.PathLike):
        return "subfind"
    path = Path(path_or_dir)
    if not path.exists():
        raise CatalogError(f"{path}: no such file or directory")
    if path.is_dir():
        return "subfind"
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return "table"
    if suffix in _HDF5_SUFFIXES:
        return _hdf5_kind(path)
    known = ", ".join([*TABLE_SUFFIXES, *_HDF5_SUFFIXES])
    raise CatalogError(f"{path}: cannot tell what this is (suffix {path.suffix!r}); ingest "
                       f"reads a directory of Subfind group catalogs or a file ending in {known}")


_READERS = {"subfind": ingest_subfind, "table": ingest_table}


def ingest(path_or_dir: str | os.PathLike[str] | Iterable[Any], **options: Any) -> Catalog:
    """Read a simulation output or a table into a validated catalog.

    Args:
        path_or_dir: a directory or HDF5 file(s) of a Subfind group catalog (→
            :func:`ingest_subfind`), or a CSV / Parquet table (→ :func:`ingest_table`).
        **options: keyword options of the chosen reader.

    Raises:
        CatalogError: the path does not exist or is of no known kind, or the reader
            refuses the input.
            Also an option the chosen reader does not take (all such named).
    """
    kind = detect_input(path_or_dir)
    reader = _READERS[kind]
    accepted = inspect.signature(reader).parameters
    unknown = sorted(name for name in options if name not in accepted)
    if unknown:
        allowed = ", ".join(name for name, p in accepted.items() if p.kind == p.KEYWORD_ONLY)
        raise CatalogError(f"options {', '.join(unknown)} do not apply to a {kind} input "
                           f"({path_or_dir}); its options are: {allowed}")
    return reader(path_or_dir, **options)
