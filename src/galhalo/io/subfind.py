"""Moved to :mod:`galhalo.ingest.subfind` (and its siblings); re-exported for old imports."""

from ..ingest.common import open_hdf5
from ..ingest.halo_properties import (
    DEFAULT_SSFR_FLOOR,
    KPC_PER_MPC,
    MASS_UNIT,
    PHOTOMETRIC_BANDS,
    STAR_TYPE,
    bullock_spin,
    specific_sfr,
    virial_velocity,
)
from ..ingest.subfind import ingest_subfind
from ..ingest.subfind_fields import MASS_DEFINITIONS
from ..ingest.subfind_files import SubfindHeader, find_subfind_files, read_subfind_header

__all__ = [
    "DEFAULT_SSFR_FLOOR",
    "KPC_PER_MPC",
    "MASS_DEFINITIONS",
    "MASS_UNIT",
    "PHOTOMETRIC_BANDS",
    "STAR_TYPE",
    "SubfindHeader",
    "bullock_spin",
    "find_subfind_files",
    "ingest_subfind",
    "open_hdf5",
    "read_subfind_header",
    "specific_sfr",
    "virial_velocity",
]
