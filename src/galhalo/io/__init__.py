"""Moved to :mod:`galhalo.ingest`; this package re-exports it for old imports.

``galhalo.io.subfind``, ``galhalo.io.tables`` and ``galhalo.io.merger_trees`` stay
importable as re-export shims too.
"""

from ..ingest import (
    DEFAULT_SSFR_FLOOR,
    MASS_DEFINITIONS,
    SubLinkTrees,
    detect_input,
    ingest,
    ingest_subfind,
    ingest_table,
)

__all__ = [
    "DEFAULT_SSFR_FLOOR",
    "MASS_DEFINITIONS",
    "SubLinkTrees",
    "detect_input",
    "ingest",
    "ingest_subfind",
    "ingest_table",
]
