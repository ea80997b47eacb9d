"""Moved to :mod:`galhalo.catalog.schema`; this module re-exports it for old imports."""

from .catalog.schema import (
    ALL_COLUMNS,
    COLUMNS,
    GALAXY,
    GALAXY_COLUMNS,
    HALO,
    HALO_COLUMNS,
    HALO_ID,
    POSITION,
    POSITION_COLUMNS,
    STELLAR_MASS_CUT,
    VELOCITY,
    VELOCITY_COLUMNS,
    Column,
    Kind,
    column,
    parse_column_list,
)

__all__ = [
    "ALL_COLUMNS",
    "COLUMNS",
    "GALAXY",
    "GALAXY_COLUMNS",
    "HALO",
    "HALO_COLUMNS",
    "HALO_ID",
    "POSITION",
    "POSITION_COLUMNS",
    "STELLAR_MASS_CUT",
    "VELOCITY",
    "VELOCITY_COLUMNS",
    "Column",
    "Kind",
    "column",
    "parse_column_list",
]
