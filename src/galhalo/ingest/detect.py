"""What a path holds (a Subfind group catalog, a Rockstar hlist or a table), and
:func:`ingest` of any of them."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py

from ..catalog import FORMATS, HDF5_GROUP, Catalog, CatalogError
from .rockstar import ingest_rockstar
from .rockstar_files import looks_like_hlist
from .subfind import ingest_subfind
from .tables import TABLE_SUFFIXES, ingest_table

__all__ = ["INPUT_KINDS", "check_reader_options", "detect_input", "ingest"]

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


def detect_input(path_or_dir: str | os.PathLike[str] | Iterable[Any],
                 format: str | None = None) -> str:
    """What :func:`ingest` will read: ``"subfind"``, ``"rockstar"`` or ``"table"``.

    A directory, a list of files or a Subfind HDF5 file is ``"subfind"``; a ``.csv``,
    ``.parquet``/``.pq`` or galhalo ``.h5`` catalog is ``"table"``; any other file whose
    first line names hlist columns (``#scale(0) id(1) ... upid(6) ... Mvir(10)``) is
    ``"rockstar"``. ``format`` (one of :data:`INPUT_KINDS`) skips the guess. Raises
    :class:`CatalogError` naming the path otherwise.
    """
    if format is not None:
        if format not in INPUT_KINDS:
            raise CatalogError(f"format {format!r} is not one of {', '.join(INPUT_KINDS)}")
        if isinstance(path_or_dir, str | os.PathLike) and not Path(path_or_dir).exists():
            raise CatalogError(f"{path_or_dir}: no such file or directory")
        return format
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
    if looks_like_hlist(path):
        return "rockstar"
    known = ", ".join([*TABLE_SUFFIXES, *_HDF5_SUFFIXES])
    raise CatalogError(f"{path}: cannot tell what this is (suffix {path.suffix!r}); ingest "
                       f"reads a directory of Subfind group catalogs, a Rockstar hlist file "
                       f"(first line '#scale(0) id(1) ...') or a file ending in {known}")


_READERS = {"subfind": ingest_subfind, "table": ingest_table, "rockstar": ingest_rockstar}
#: The kinds of input :func:`ingest` reads (``format`` of :func:`detect_input`).
INPUT_KINDS: tuple[str, ...] = tuple(_READERS)


def check_reader_options(kind: str, options: dict[str, Any], where: Any) -> None:
    """Refuse options the reader of ``kind`` does not take (all named, with its options).

    Raises:
        CatalogError: naming ``where`` (the input), the options and the reader's options.
    """
    accepted = inspect.signature(_READERS[kind]).parameters
    unknown = sorted(name for name in options if name not in accepted)
    if unknown:
        allowed = ", ".join(name for name, p in accepted.items() if p.kind == p.KEYWORD_ONLY)
        raise CatalogError(f"options {', '.join(unknown)} do not apply to a {kind} input "
                           f"({where}); its options are: {allowed}")


def ingest(path_or_dir: str | os.PathLike[str] | Iterable[Any], format: str | None = None,
           **options: Any) -> Catalog:
    """Read a simulation output or a table into a validated catalog.

    Args:
        path_or_dir: a directory or HDF5 file(s) of a Subfind group catalog (→
            :func:`ingest_subfind`), a Rockstar / Consistent-Trees hlist file (→
            :func:`ingest_rockstar`, in memory; ``stream_rockstar`` streams it to a
            file) or a CSV / Parquet table (→ :func:`ingest_table`).
        format: ``"subfind"``, ``"rockstar"`` or ``"table"``; guessed when omitted.
        **options: keyword options of the chosen reader.

    Raises:
        CatalogError: the path does not exist or is of no known kind, or the reader
            refuses the input.
            Also an option the chosen reader does not take (all such named).
    """
    kind = detect_input(path_or_dir, format)
    check_reader_options(kind, options, path_or_dir)
    return _READERS[kind](path_or_dir, **options)
