"""The catalog: one table of halos and/or galaxies plus its metadata, validated and
read/written atomically as Parquet, CSV or HDF5.

A catalog row is one galaxy with its host halo: a central, or (in a catalog with
satellites, :mod:`.hosts`) a satellite in its sub-halo. Known columns (:mod:`.schema`, also
``galhalo.columns``) have fixed names, units and physical bounds; other columns are
allowed and kept as they are. Table-level metadata (:class:`CatalogMeta`: box size,
redshift, cosmology, seed, source, known truth) travels inside every file as one JSON
document, the *header* (:mod:`.header`). Files without a header (plain tables from
elsewhere) are readable: their metadata is ``CatalogMeta(source=<path>)``.

One job per module:

- :mod:`.schema`: the named columns, their units and physical bounds;
- :mod:`.meta`: :class:`CatalogMeta`;
- :mod:`.validation`: :func:`validate_table` (one one-line error listing every problem);
- :mod:`.hosts`: the host structure of a catalog with satellites;
- :mod:`.messages`: the pieces of those messages (labels, row counts);
- :mod:`.table`: :class:`Catalog`;
- :mod:`.header`: the JSON header every file carries;
- :mod:`.formats`: the one file-format layer (detect, read, write, headers alone);
- :mod:`.batches`: a file's layout without its data, and row batches (out of core).

Every validation or reading problem raises :class:`CatalogError` (a ``GalhaloError``)
naming the column or the file and how many rows are affected. Row numbers in messages
are 0-based positions.
"""

from __future__ import annotations

from ..errors import CatalogError
from .batches import FileLayout, iter_batches, scan_file
from .formats import (
    FORMATS,
    READ_ERRORS,
    FileFormat,
    check_output_path,
    check_readable,
    read_catalog,
    read_file,
    read_header,
    resolve_format,
    write_catalog,
)
from .header import (
    CSV_PREFIX,
    HDF5_ATTRIBUTE,
    HDF5_GROUP,
    PARQUET_KEY,
    Header,
    catalog_from_file,
    catalog_header,
    meta_from_header,
    parse_header,
)
from .meta import CatalogMeta
from .schema import (
    ALL_COLUMNS,
    CENTRAL,
    COLUMNS,
    GALAXY,
    HALO,
    HOST,
    POSITION,
    STELLAR_MASS_CUT,
    SUBHALO,
    VELOCITY,
    Column,
    column,
    parse_column_list,
)
from .table import Catalog
from .validation import REALIZATION, validate_table

__all__ = [
    "ALL_COLUMNS",
    "CENTRAL",
    "COLUMNS",
    "CSV_PREFIX",
    "FORMATS",
    "GALAXY",
    "HALO",
    "HDF5_ATTRIBUTE",
    "HDF5_GROUP",
    "HOST",
    "PARQUET_KEY",
    "POSITION",
    "READ_ERRORS",
    "REALIZATION",
    "STELLAR_MASS_CUT",
    "SUBHALO",
    "VELOCITY",
    "Catalog",
    "CatalogError",
    "CatalogMeta",
    "Column",
    "FileFormat",
    "FileLayout",
    "Header",
    "catalog_from_file",
    "catalog_header",
    "check_output_path",
    "check_readable",
    "column",
    "iter_batches",
    "meta_from_header",
    "parse_column_list",
    "parse_header",
    "read_catalog",
    "read_file",
    "read_header",
    "resolve_format",
    "scan_file",
    "validate_table",
    "write_catalog",
]
