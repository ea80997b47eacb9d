"""Moved to :mod:`galhalo.ingest.tables` (side tables: :mod:`galhalo.ingest.formation`);
re-exported for old imports."""

from ..ingest.common import positions_in_box
from ..ingest.formation import (
    FORMATION_ID_COLUMNS,
    FORMATION_VALUE_COLUMNS,
    formation_redshifts,
)
from ..ingest.tables import (
    TABLE_SUFFIXES,
    TNG300_RENAMES,
    TNG300_SIGNATURE,
    has_galhalo_metadata,
    ingest_table,
    read_table,
)

__all__ = [
    "FORMATION_ID_COLUMNS",
    "FORMATION_VALUE_COLUMNS",
    "TABLE_SUFFIXES",
    "TNG300_RENAMES",
    "TNG300_SIGNATURE",
    "formation_redshifts",
    "has_galhalo_metadata",
    "ingest_table",
    "positions_in_box",
    "read_table",
]
