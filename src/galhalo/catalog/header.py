"""The galhalo *header*: the JSON document every catalog file carries.

One JSON document holds the table-level metadata, the units of the known columns and
every column's dtype, in order::

    {"meta": {...CatalogMeta.to_dict()...},
     "units": {"M_h": "log10(Msun/h)", ...},          # known columns present
     "columns": [["M_h", "float64"], ...]}           # every column, in order

It is stored under the Parquet schema metadata key :data:`PARQUET_KEY`, on the first
CSV line (:data:`CSV_PREFIX` then the JSON), or in the attribute
:data:`HDF5_ATTRIBUTE` of the HDF5 group :data:`HDF5_GROUP`. Files without a header
(plain tables from elsewhere) get ``CatalogMeta(source=<path>)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from ..errors import CatalogError
from ..files import dumps_json
from .meta import CatalogMeta
from .schema import COLUMNS
from .table import Catalog
from .validation import column_label, quoted, raise_problems

__all__ = [
    "CSV_PREFIX",
    "HDF5_ATTRIBUTE",
    "HDF5_GROUP",
    "PARQUET_KEY",
    "Header",
    "catalog_from_file",
    "catalog_header",
    "meta_from_header",
    "parse_header",
]

#: Parquet schema key-value metadata key holding the header JSON.
PARQUET_KEY = b"galhalo"
#: Prefix of the first line of a galhalo CSV file.
CSV_PREFIX = "# galhalo: "
#: HDF5 group holding one dataset per column; its attribute ``galhalo`` holds the header.
HDF5_GROUP = "catalog"
HDF5_ATTRIBUTE = "galhalo"

#: A parsed header document, or ``None`` for a file without one.
Header = dict[str, Any] | None


def catalog_header(catalog: Catalog) -> str:
    """The one-line JSON header of ``catalog`` (metadata, units, column dtypes).

    The same catalog always gives the same text (sorted keys).
    """
    table = catalog.table
    return dumps_json({
        "meta": catalog.meta.to_dict(),
        "units": {name: COLUMNS[name].unit for name in table.columns if name in COLUMNS},
        "columns": [[name, str(table[name].dtype)] for name in table.columns],
    }, indent=None)


def parse_header(text: str | bytes | None) -> Header:
    """The header document from its JSON text (``None`` when the file has none).

    Raises:
        CatalogError: the text is not JSON, not an object with a ``meta`` object, or
            has entries other than ``meta``, ``units`` and ``columns``.
    """
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
        raise CatalogError(f"corrupt galhalo metadata: unknown entries {quoted(unknown)}")
    return header


def meta_from_header(header: Header, source: str | Path) -> CatalogMeta:
    """The metadata a header records; ``CatalogMeta(source=<source>)`` without one."""
    if header is None:
        return CatalogMeta(source=str(source))
    return CatalogMeta.from_dict(header["meta"])


def _check_units(units: Any) -> None:
    if not isinstance(units, dict):
        raise CatalogError("corrupt galhalo metadata: 'units' is not an object")
    wrong = [f"{column_label(name)}: the file says unit {unit!r}"
             for name, unit in units.items() if name in COLUMNS and COLUMNS[name].unit != unit]
    raise_problems(wrong)


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
                raise CatalogError(f"{column_label(name)}: cannot restore dtype {dtype}: "
                                   f"{err}") from None
    return table


def catalog_from_file(table: pd.DataFrame, header: Header, source: str | Path) -> Catalog:
    """A (not yet validated) catalog from a file's table and its parsed header.

    With a header, the recorded units are checked against the schema and the columns
    put back in the recorded order and numeric dtypes.
    """
    if header is None:
        return Catalog(table, CatalogMeta(source=str(source)))
    _check_units(header.get("units", {}))
    if "columns" in header:
        table = _restore_columns(table, header["columns"])
    return Catalog(table, CatalogMeta.from_dict(header["meta"]))
