"""The named columns of a galhalo catalog: meaning, units and physical bounds.

Every table galhalo reads or writes uses these names (REFERENCES.md, TNG300 centrals).
A column's bounds are what is *physically possible* (or plausible to many orders of
magnitude), not the range seen in TNG300: a value outside them means wrong units or a
broken file, and validation refuses it with a hint.

A row is one galaxy. A centrals-only catalog needs none of the satellite columns. A
catalog with satellites adds ``host_id`` (the host's ``halo_id``; a central's own),
``is_central``, and the sub-halo columns (:data:`SUBHALO`), which describe the galaxy's
own sub-halo and may be NaN on central rows (``Column.satellite_only``). The halo
columns (``M_h`` ...) are always the *host's*: every galaxy knows its host. The central
columns (:data:`CENTRAL`, ``sSFR_central`` ...) are *derived*: the galaxy properties of
the row's host's central, computed from the table
(:func:`galhalo.catalog.hosts.with_central_columns`), never required in a file, and
checked like the galaxy columns when present (conditioning a satellite on its central is
what lets a model learn galactic conformity).
docs/satellites.md defines each column and its TNG / Rockstar source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import CatalogError

__all__ = [
    "ALL_COLUMNS",
    "CENTRAL",
    "CENTRAL_COLUMNS",
    "COLUMNS",
    "GALAXY",
    "GALAXY_COLUMNS",
    "HALO",
    "HALO_COLUMNS",
    "HALO_ID",
    "HOST",
    "HOST_ID",
    "IS_CENTRAL",
    "N_SAT",
    "POSITION",
    "POSITION_COLUMNS",
    "STELLAR_MASS_CUT",
    "SUBHALO",
    "SUBHALO_COLUMNS",
    "VELOCITY",
    "VELOCITY_COLUMNS",
    "Column",
    "Kind",
    "column",
    "parse_column_list",
]

Kind = Literal["id", "flag", "count", "halo", "subhalo", "galaxy", "central", "position",
               "velocity"]


@dataclass(frozen=True)
class Column:
    """One named catalog column.

    Attributes:
        name: column name in every table.
        kind: ``"halo"`` / ``"subhalo"`` / ``"galaxy"`` property, ``"central"`` (a
            galaxy property of the host's central, derived), ``"position"``,
            ``"velocity"``, ``"id"`` (integer), ``"flag"`` (boolean, or integer 0/1) or
            ``"count"`` (integer >= 0).
        unit: unit string, e.g. ``"log10(Msun/h)"``.
        description: what the column means.
        lower, upper: physically possible range (``None`` = unbounded on that side).
        lower_inclusive: whether ``lower`` itself is allowed (``False`` for strictly
            positive quantities such as ``Delta3_h``).
        units_hint: what a value outside the bounds most likely means.
        typical: range seen in TNG300-1 centrals (for documentation and plots).
        satellite_only: defined for satellites only: NaN is allowed on central rows
            (``is_central`` true) and nowhere else.
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
    satellite_only: bool = False

    @property
    def label(self) -> str:
        """Axis label with unit, for figures."""
        return f"{self.name} [{self.unit}]" if self.unit != "-" else self.name


_LOG_MASS_HINT = "expected log10(Msun/h); linear masses or 1e10 Msun/h units fall outside"

HALO_ID = Column("halo_id", "id", "-",
                 "unique integer id of the galaxy's own halo (a central's: its host halo; "
                 "a satellite's: its sub-halo)", lower=0)
HOST_ID = Column("host_id", "id", "-",
                 "halo_id of the galaxy's host halo (a central: its own halo_id)", lower=0)
IS_CENTRAL = Column("is_central", "flag", "-",
                    "true for the host's central galaxy, false for a satellite")
N_SAT = Column("N_sat", "count", "-",
               "number of satellites in the host halo above the catalog's cut (galaxies "
               "above the stellar-mass cut; in a halo catalog, sub-halos above the mass cut)",
               lower=0, units_hint="a count of galaxies cannot be negative")

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

#: The galaxy properties of the row's host's central (a central's own): same unit and
#: bounds as the galaxy column, derived from the table, never required in a file.
CENTRAL_COLUMNS: tuple[Column, ...] = tuple(
    Column(f"{galaxy.name}_central", "central", galaxy.unit,
           "{} of the host's central galaxy{}{} (a central's own)".format(
               *galaxy.description.partition(", ")),
           galaxy.lower, galaxy.upper, galaxy.lower_inclusive, galaxy.units_hint,
           galaxy.typical)
    for galaxy in GALAXY_COLUMNS
)

_LOG_SUBHALO_HINT = "expected log10(Msun/h) of the sub-halo's dark-matter mass"

SUBHALO_COLUMNS: tuple[Column, ...] = (
    Column("M_sub", "subhalo", "log10(Msun/h)",
           "bound dark-matter mass of the galaxy's sub-halo now, log10",
           4.0, 17.0, units_hint=_LOG_SUBHALO_HINT, satellite_only=True),
    Column("Vmax_sub", "subhalo", "km/s", "maximum circular velocity of the sub-halo now",
           0.0, 1e4, lower_inclusive=False, units_hint="expected km/s",
           satellite_only=True),
    Column("M_peak", "subhalo", "log10(Msun/h)",
           "peak mass: the largest bound mass along the sub-halo's main branch (at or "
           "before infall), log10", 4.0, 17.0, units_hint=_LOG_SUBHALO_HINT,
           satellite_only=True),
    Column("Vmax_peak", "subhalo", "km/s", "Vmax at the time of the peak mass (V_peak)",
           0.0, 1e4, lower_inclusive=False, units_hint="expected km/s",
           satellite_only=True),
    Column("z_infall", "subhalo", "-",
           "infall redshift: when the sub-halo last became a satellite of its host",
           0.0, 30.0, units_hint="expected a redshift (>= 0), not a time or a scale factor",
           satellite_only=True),
    Column("r_host", "subhalo", "R_vir",
           "distance to the host's centre in units of the host's virial radius",
           0.0, 100.0,
           units_hint="expected r / R_vir of the host, not a distance in Mpc/h or kpc/h",
           satellite_only=True),
    Column("v_r", "subhalo", "km/s",
           "radial velocity relative to the host (positive: moving outwards)",
           -3e4, 3e4, units_hint="expected km/s", satellite_only=True),
    Column("v_t", "subhalo", "km/s", "tangential speed relative to the host (>= 0)",
           0.0, 3e4, units_hint="expected a speed in km/s (>= 0)", satellite_only=True),
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
    HALO_ID, HOST_ID, IS_CENTRAL, *HALO_COLUMNS, N_SAT, *SUBHALO_COLUMNS, *GALAXY_COLUMNS,
    *CENTRAL_COLUMNS, *POSITION_COLUMNS, *VELOCITY_COLUMNS,
)
COLUMNS: dict[str, Column] = {column.name: column for column in ALL_COLUMNS}

HALO = tuple(column.name for column in HALO_COLUMNS)
SUBHALO = tuple(column.name for column in SUBHALO_COLUMNS)
#: The two columns that make a catalog one with satellites.
HOST = (HOST_ID.name, IS_CENTRAL.name)
GALAXY = tuple(column.name for column in GALAXY_COLUMNS)
#: The derived central columns, ``GALAXY`` order: ``smass_central`` ... ``radius_central``.
CENTRAL = tuple(column.name for column in CENTRAL_COLUMNS)
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
