"""Ingest real simulations into the galhalo catalog (same columns and units everywhere).

- :func:`ingest_subfind`: IllustrisTNG / CAMELS Subfind group catalogs (HDF5) → centrals
  with derived halo properties (:mod:`galhalo.ingest.subfind`);
- :func:`ingest_table`: CSV / Parquet tables with a column mapping, the published TNG300
  layout recognised automatically (:mod:`galhalo.ingest.tables`);
- :func:`stream_rockstar` / :func:`ingest_rockstar`: Rockstar / Consistent-Trees
  ``hlist`` files → hosts and sub-halos, streamed to Parquet or in memory
  (:mod:`galhalo.ingest.rockstar`);
- :func:`ingest`: any of them, chosen from what the path is.

Modules: :mod:`.common` (shared helpers), :mod:`.subfind_files`, :mod:`.subfind_fields`,
:mod:`.halo_properties` and :mod:`.subfind` (Subfind), :mod:`.merger_trees` (SubLink
z_1/2), :mod:`.formation` (z_1/2 side tables), :mod:`.tables` (plain tables),
:mod:`.rockstar_files` and :mod:`.rockstar` (hlist files) and :mod:`.detect` (what a path
is, and :func:`ingest`). Nothing here imports the models.

Every function returns a validated :class:`galhalo.catalog.Catalog` and writes nothing;
:func:`galhalo.catalog.write_catalog` writes it atomically (:func:`stream_rockstar`
alone writes, chunk by chunk, its Parquet file atomically). Bad input raises
:class:`galhalo.catalog.CatalogError` naming the file and the field or column.
"""

from __future__ import annotations

from .detect import detect_input, ingest
from .merger_trees import SubLinkTrees
from .rockstar import RockstarIngest, ingest_rockstar, stream_rockstar
from .subfind import DEFAULT_SSFR_FLOOR, MASS_DEFINITIONS, ingest_subfind
from .tables import ingest_table

__all__ = [
    "DEFAULT_SSFR_FLOOR",
    "MASS_DEFINITIONS",
    "RockstarIngest",
    "SubLinkTrees",
    "detect_input",
    "ingest",
    "ingest_rockstar",
    "ingest_subfind",
    "ingest_table",
    "stream_rockstar",
]
