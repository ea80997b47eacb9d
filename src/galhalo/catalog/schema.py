"""The named columns of a galhalo catalog: meaning, units and physical bounds.

Every table galhalo reads or writes uses these names (REFERENCES.md, TNG300 centrals).
A column's bounds are what is *physically possible* (or plausible to many orders of
magnitude), not the range seen in TNG300: a value outside them means wrong units or a
broken file, and validation refuses it with a hint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import CatalogError

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

Kind = Literal["id", "halo", "galaxy", "position", "velocity"]


@dataclass(frozen=True)
class Column:
    """One named catalog column.

    Attributes:
        name: column name in every table.
        kind: ``"halo"`` / ``"galaxy"`` property, ``"position"``, ``"velocity"`` or ``"id"``.
        unit: unit string, e.g. ``"log10(Msun/h)"``.
        description: what the column means.
        lower, upper: physically possible range (``None`` = unbounded on that side).
        lower_inclusive: whether ``lower`` itself is allowed (``False`` for strictly
            positive quantities such as ``Delta3_h``).
        units_hint: what a value outside the bounds most likely means.
        typical: range seen in TNG300-1 centrals (for documentation and plots).
    """

    name: str
    kind: Kind
    unit: str
    description: str
    lower: float | None = None
    upper: float | None = None
    lower_inclusive: bool = True
    units_hint: str = ""
    typical: tuple[float, float] | None = None

    @property
    def label(self) -> str:
        """Axis label with unit, for figures."""
        return f"{self.name} [{self.unit}]" if self.unit != "-" else self.name


_LOG_MASS_HINT = "expected log10(Msun/h); linear masses or 1e10 Msun/h units fall outside"

HALO_ID = Column("halo_id", "id", "-", "unique integer id of the host halo", lower=0)

HALO_COLUMNS: tuple[Column, ...] = (
    Column("M_h", "halo", "log10(Msun/h)", "halo mass, log10 of the virial mass",
           6.0, 17.0, units_hint=_LOG_MASS_HINT, typical=(10.5, 14.8)),
    Column("C_h", "halo", "-", "concentration proxy Vmax / V_vir",
           0.0, 100.0, lower_inclusive=False, typical=(0.16, 6.5)),
    Column("S_h", "halo", "-", "halo spin parameter lambda (Bullock)",
           0.0, 100.0, typical=(0.001, 1.3)),
    Column("z_h", "halo", "-",
           "formation redshift z_1/2: when half of today's mass was assembled",
           0.0, 30.0, units_hint="expected a redshift (>= 0), not a time or a scale factor",
           typical=(0.0, 6.0)),
    Column("Delta3_h", "halo", "-",
           "matter density within 3 Mpc/h over the mean matter density (a ratio)",
           0.0, 1e4, lower_inclusive=False,
           units_hint="expected rho/rho_mean > 0, not the contrast rho/rho_mean - 1",
           typical=(0.06, 49.0)),
)

GALAXY_COLUMNS: tuple[Column, ...] = (
    Column("smass", "galaxy", "log10(Msun/h)", "stellar mass, log10",
           4.0, 14.0, units_hint=_LOG_MASS_HINT, typical=(8.75, 12.6)),
    Column("color", "galaxy", "mag", "g - i colour",
           -3.0, 5.0, units_hint="expected a g - i colour in magnitudes", typical=(-0.30, 1.23)),
    Column("sSFR", "galaxy", "log10(1/yr)", "specific star-formation rate, log10",
           -25.0, -5.0,
           units_hint="expected log10 of SFR/M* in 1/yr (e.g. -10), not linear or per Gyr",
           typical=(-16.3, -8.3)),
    Column("radius", "galaxy", "log10(kpc/h)", "stellar half-mass radius, log10",
           -3.0, 4.0, units_hint="expected log10 of the radius in kpc/h", typical=(0.05, 2.2)),
)

POSITION_COLUMNS: tuple[Column, ...] = tuple(
    Column(axis, "position", "Mpc/h", f"comoving {axis} position in the periodic box",
           0.0, None, units_hint="positions must lie in [0, box size) in Mpc/h (kpc/h?)")
    for axis in ("x", "y", "z")
)

VELOCITY_COLUMNS: tuple[Column, ...] = tuple(
    Column(f"v{axis}", "velocity", "km/s", f"peculiar velocity along {axis}",
           -3e4, 3e4, units_hint="expected a peculiar velocity in km/s")
    for axis in ("x", "y", "z")
)

ALL_COLUMNS: tuple[Column, ...] = (
    (HALO_ID, *HALO_COLUMNS, *GALAXY_COLUMNS, *POSITION_COLUMNS, *VELOCITY_COLUMNS)
)
COLUMNS: dict[str, Column] = {column.name: column for column in ALL_COLUMNS}

HALO = tuple(column.name for column in HALO_COLUMNS)
GALAXY = tuple(column.name for column in GALAXY_COLUMNS)
POSITION = tuple(column.name for column in POSITION_COLUMNS)
VELOCITY = tuple(column.name for column in VELOCITY_COLUMNS)

#: Stellar-mass cut of the TNG300 central sample, log10(Msun/h).
STELLAR_MASS_CUT = 8.75


def column(name: str) -> Column:
    """The :class:`Column` called ``name``.

    Raises:
        CatalogError: ``name`` is not a galhalo column (the message lists the known ones).
    """
    try:
        return COLUMNS[name]
    except KeyError:
        known = ", ".join(COLUMNS)
        raise CatalogError(f"unknown column {name!r}; galhalo columns are: {known}") from None


def parse_column_list(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Split ``"M_h,C_h"`` (or pass a list through), checking every name is known.

    Raises:
        CatalogError: the list is empty, names a column twice, or names an unknown column.
    """
    names = [part.strip() for part in text.split(",")] if isinstance(text, str) else list(text)
    names = [name for name in names if name]
    if not names:
        raise CatalogError("empty column list: name at least one galhalo column")
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise CatalogError(f"column list names {', '.join(duplicated)} more than once")
    for name in names:
        column(name)
    return tuple(names)
