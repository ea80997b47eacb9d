"""The input halo files of a populate run: found from a pattern, scanned without
reading their data (rows, columns, metadata), checked to share one schema.

Reading goes through the catalog file-format layer (:func:`galhalo.catalog.scan_file`).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..catalog import FORMATS, meta_from_header, scan_file
from ..errors import PopulateError

__all__ = ["SUFFIXES", "HaloFile", "find_inputs", "scan_inputs"]

#: Input suffixes and their formats.
SUFFIXES: dict[str, str] = {suffix: name for name, suffixes in FORMATS.items()
                            for suffix in suffixes}


@dataclass(frozen=True)
class HaloFile:
    """One input file as planned: format, rows, columns and table metadata.

    ``schema`` maps column -> arrow type (strings normalised to ``pa.string()``);
    ``csv`` holds, for CSV files, the column names and the byte offsets where the
    chunks start (and the end of the data).
    """

    path: Path
    name: str
    format: str
    rows: int
    schema: dict[str, pa.DataType]
    meta: dict[str, Any]
    csv: dict[str, Any] | None = None


def find_inputs(halos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The input files: a glob (``**`` recursive), a file, a directory (its catalog
    files) or a list of these; sorted, duplicates removed, resolved.

    Raises:
        PopulateError: nothing matches, or a matched file has an unknown suffix.
    """
    patterns = [halos] if isinstance(halos, str | os.PathLike) else list(halos)
    if not patterns:
        raise PopulateError("no halo files given")
    found: set[Path] = set()
    for pattern in patterns:
        text = os.fspath(pattern)
        path = Path(text)
        if path.is_dir():
            matches = [p for p in path.iterdir() if p.suffix.lower() in SUFFIXES]
        elif path.is_file():
            matches = [path]
        else:
            matches = [Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file()]
        if not matches:
            raise PopulateError(f"no halo files match {text!r}"
                                + (" (an empty directory)" if path.is_dir() else ""))
        unknown = sorted(str(p) for p in matches if p.suffix.lower() not in SUFFIXES)
        if unknown:
            raise PopulateError(f"{unknown[0]}: unknown halo file suffix (supported: "
                                f"{', '.join(SUFFIXES)}); narrow the pattern {text!r}")
        found.update(p.resolve() for p in matches)
    return sorted(found)


def _input_names(paths: list[Path]) -> list[str]:
    """Names relative to the files' common directory (``a/b.parquet``)."""
    root = Path(os.path.commonpath([p.parent for p in paths]))
    return [p.relative_to(root).as_posix() for p in paths]


def scan_inputs(paths: list[Path], chunk_rows: int) -> list[HaloFile]:
    """Read every file's row count, columns and metadata (not its data).

    Raises:
        CatalogError: a file is empty or unreadable (naming it).
        PopulateError: the files' columns or types differ (naming the first that does).
    """
    files = []
    for path, name in zip(paths, _input_names(paths), strict=True):
        layout = scan_file(path, chunk_rows)
        csv = (None if layout.csv_offsets is None else
               {"names": list(layout.csv_names or ()), "offsets": list(layout.csv_offsets)})
        meta = meta_from_header(layout.header, path).to_dict()
        files.append(HaloFile(path, name, layout.format, layout.rows, layout.schema, meta, csv))
    first = files[0]
    for other in files[1:]:
        if other.schema != first.schema:
            raise PopulateError(f"the halo files have different columns: {other.path} "
                                f"{_schema_difference(first.schema, other.schema)} "
                                f"{first.path}")
    return files


def _schema_difference(first: dict[str, pa.DataType], other: dict[str, pa.DataType]) -> str:
    parts = []
    missing = [name for name in first if name not in other]
    extra = [name for name in other if name not in first]
    if missing:
        parts.append(f"lacks {missing}")
    if extra:
        parts.append(f"has extra {extra}")
    retyped = [f"{name} is {other[name]}, not {first[name]}" for name in first
               if name in other and other[name] != first[name]]
    if retyped:
        parts.append("types differ (" + "; ".join(retyped) + ")")
    return ", ".join(parts) + " compared with"
