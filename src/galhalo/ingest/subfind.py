"""IllustrisTNG / CAMELS Subfind group catalogs (HDF5) → a galhalo catalog of centrals
(and, with ``satellites=True``, their satellites).

This module assembles the catalog; the files and headers are read by
:mod:`.subfind_files`, the fields by :mod:`.subfind_fields`, the satellites by
:mod:`.subfind_satellites` (their tree columns by :mod:`.infall`), and the halo
properties computed by :mod:`.halo_properties`.

Input layouts (both written by Arepo's FoF/Subfind):

- **IllustrisTNG**: ``fof_subhalo_tab_NNN.K.hdf5``, K = 0 … NumFiles − 1 chunks of one
  snapshot NNN (usually in a directory ``groups_NNN``);
- **CAMELS** (and other single-file runs): one ``groups_NNN.hdf5`` (or
  ``fof_subhalo_tab_NNN.hdf5``).

Each file has a ``Header`` (attributes), a ``Group`` (FoF halos) and a ``Subhalo``
(Subfind subhalos) group; a chunk with no groups/subhalos may lack the datasets. Files
are read chunk by chunk, one field at a time, only the fields needed; the global
index of a subhalo is the number of subhalos in the chunks before its own plus its
index in its chunk (likewise for groups). A **central** is the subhalo whose global
index is its group's ``GroupFirstSub`` (−1: the group has no subhalo).

Units of the catalog fields (Arepo code units, h = ``HubbleParam``, a = ``Time``):
masses 1e10 Msun/h; lengths (positions, radii, BoxSize) comoving ckpc/h; ``SubhaloVel``
and ``SubhaloVmax`` km/s (peculiar, physical); ``GroupVel`` km/s/a (peculiar = GroupVel / a,
read for satellites only);
``SubhaloSpin`` (kpc/h)(km/s), the *physical* specific angular momentum (Subfind
multiplies comoving separations by a and adds the Hubble flow before the cross
product, ``subfind_properties.c``); ``SubhaloSFR`` Msun/yr;
``SubhaloStellarPhotometrics`` magnitudes in the bands U, B, V, K, g, r, i, z.

Derived columns (one row per selected central; every formula in ``docs/ingest.md``):

- ``halo_id`` = global Subfind index of the central subhalo; ``group_id`` = its FoF group;
- ``M_h`` = log10(M_Δ × 1e10) in log10(Msun/h), M_Δ = the chosen ``mass_definition``;
- ``V_Δ`` = sqrt(G M_Δ / (a R_Δ)) km/s, R_Δ the matching radius made physical (kpc/h);
  h cancels: G [kpc (km/s)² / Msun] × (Msun/h) / (kpc/h);
- ``C_h`` = ``SubhaloVmax`` / V_Δ;
- ``S_h`` = |``SubhaloSpin``| / (sqrt(2) V_Δ a R_Δ), the Bullock et al. (2001) spin with
  the central subhalo's specific angular momentum (physical) and the physical radius;
- ``Delta3_h`` = ``GroupMass`` of all FoF groups within 3 Mpc/h (comoving, periodic) of
  the central's position, over the mean group mass of such a sphere (so the mean over
  the box is 1);
- ``x, y, z`` = ``SubhaloPos`` / 1000 in Mpc/h; ``vx, vy, vz`` = ``SubhaloVel`` km/s;
- ``smass`` = log10(M* × 1e10) in log10(Msun/h), M* = column 4 (stars) of
  ``stellar_mass_field`` (default ``SubhaloMassType``);
- ``color`` = g − i from ``SubhaloStellarPhotometrics`` (columns 4 and 6);
- ``sSFR`` = log10(``SubhaloSFR`` / (M* × 1e10 / h)) in log10(1/yr) (M* in Msun),
  raised to ``sfr_floor`` when lower, in particular when SFR = 0;
- ``radius`` = log10(``SubhaloHalfmassRadType[:, 4]``) in log10(kpc/h), *comoving*;
- ``z_h`` = formation redshift from a side table or SubLink trees (else absent).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..catalog import Catalog, CatalogError, CatalogMeta
from ..catalog.schema import ALL_COLUMNS, STELLAR_MASS_CUT
from ..environment import DELTA3_RADIUS, MatterTracers
from .common import PathLike, Progress, open_hdf5
from .formation import formation_redshifts
from .halo_properties import (
    DEFAULT_SSFR_FLOOR,
    KPC_PER_MPC,
    MASS_UNIT,
    bullock_spin,
    specific_sfr,
    virial_velocity,
)
from .infall import satellite_histories
from .merger_trees import SubLinkTrees, formation_redshifts_sublink
from .subfind_fields import MASS_DEFINITIONS, _Groups, _Options, _read_centrals, _read_groups
from .subfind_files import (
    SubfindHeader,
    _chunks,
    find_subfind_files,
    read_subfind_header,
    snapshot_of,
)
from .subfind_satellites import (
    SatelliteCounts,
    _read_galaxies,
    broadcast_host_values,
    host_columns,
    satellite_columns,
)

__all__ = [
    "DEFAULT_SSFR_FLOOR",
    "MASS_DEFINITIONS",
    "SubfindHeader",
    "bullock_spin",
    "find_subfind_files",
    "ingest_subfind",
    "open_hdf5",
    "read_subfind_header",
    "specific_sfr",
    "virial_velocity",
]


def _derive(raw: dict[str, np.ndarray], groups: _Groups, header: SubfindHeader,
            options: _Options) -> tuple[pd.DataFrame, dict[str, int]]:
    """The catalog table (without z_h) from the raw fields; and the sSFR floor counts."""
    a = header.scale_factor
    group = raw["group_id"]
    halo_mass, halo_radius = groups.halo_mass[group], groups.halo_radius[group]
    velocity = virial_velocity(halo_mass, halo_radius, a)
    ssfr, zero_sfr, floored = specific_sfr(raw["sfr"], raw["stellar_mass"], header.hubble,
                                           options.sfr_floor)
    position, peculiar = raw["position"], raw["velocity"]
    table = pd.DataFrame({
        "halo_id": raw["subhalo_id"].astype(np.int64),
        "group_id": group.astype(np.int64),
        "M_h": np.log10(halo_mass * MASS_UNIT),
        "C_h": raw["vmax"] / velocity,
        "S_h": bullock_spin(raw["spin"], velocity, halo_radius, a),
        "Delta3_h": np.nan,
        "smass": np.log10(raw["stellar_mass"] * MASS_UNIT),
        "color": raw["g_i"][:, 0] - raw["g_i"][:, 1],
        "sSFR": ssfr,
        "radius": np.log10(raw["half_mass_radius"]),
        "x": position[:, 0], "y": position[:, 1], "z": position[:, 2],
        "vx": peculiar[:, 0], "vy": peculiar[:, 1], "vz": peculiar[:, 2],
    })
    return table, {"zero_sfr": zero_sfr, "ssfr_floored": floored}


def _environment(groups: _Groups, centres: np.ndarray, header: SubfindHeader) -> np.ndarray:
    """Delta3_h of each centre (shape (n, 3), Mpc/h) from all groups weighted by GroupMass."""
    box = header.box_size / KPC_PER_MPC
    if box <= 2 * DELTA3_RADIUS:
        raise CatalogError(f"{header.path}: Header attribute 'BoxSize' = {header.box_size:g} "
                           f"ckpc/h: Delta3_h needs a box larger than {2 * DELTA3_RADIUS:g} Mpc/h")
    if groups.mass.sum() <= 0:
        raise CatalogError(f"{header.path}: field Group/GroupMass is zero for every group")
    return MatterTracers(groups.position, box, groups.mass).overdensity(centres, DELTA3_RADIUS)


def _check_options(mass_definition: str, stellar_mass_min: float, stellar_mass_field: str,
                   sfr_floor: float, formation_table: Any, sublink: Any,
                   satellites: Any = False) -> _Options:
    if not isinstance(satellites, bool):
        raise CatalogError(f"satellites must be True or False, got {satellites!r}")
    if mass_definition not in MASS_DEFINITIONS:
        raise CatalogError(f"mass_definition {mass_definition!r} is not one of "
                         f"{', '.join(MASS_DEFINITIONS)}")
    for name, value in (("stellar_mass_min", stellar_mass_min), ("sfr_floor", sfr_floor)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise CatalogError(f"{name} must be a finite number, got {value!r}")
    if not -25.0 <= sfr_floor <= -5.0:
        raise CatalogError(f"sfr_floor {sfr_floor} must be a log10 sSFR in 1/yr within "
                         "[-25, -5] (the schema bounds of sSFR)")
    if not stellar_mass_field or "/" in stellar_mass_field:
        raise CatalogError(f"stellar_mass_field must be a Subhalo field name such as "
                         f"SubhaloMassType, got {stellar_mass_field!r}")
    if formation_table is not None and sublink is not None:
        raise CatalogError("give formation_table or sublink, not both")
    return _Options(mass_definition, float(stellar_mass_min), stellar_mass_field,
                    float(sfr_floor))


def _formation(ids: np.ndarray, files: list[Path], formation_table: PathLike | None,
               sublink: Any, say: Progress, n_subhalos: int
               ) -> tuple[np.ndarray | None, dict[str, Any]]:
    """z_h of the selected centrals and a description of its source (None: no z_h)."""
    if formation_table is not None:
        say(f"z_h from side table {formation_table}")
        return formation_redshifts(formation_table, ids), {"z_h_source": str(formation_table)}
    if sublink is not None:
        values, info = formation_redshifts_sublink(sublink, ids, snapshot_of(files[0]), say,
                                                   n_subhalos)
        return values, info
    say("no formation_table or sublink trees: the catalog has no z_h column")
    return None, {"z_h_source": None}


def _satellite_catalog(table: pd.DataFrame, raw: dict[str, np.ndarray], groups: _Groups,
                       header: SubfindHeader, files: list[Path],
                       formation_table: PathLike | None, sublink: Any, say: Progress
                       ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The table of centrals and satellites: host and sub-halo columns, host values
    (C_h, S_h, Delta3_h, z_h: the central's) on every row, tree columns with trees."""
    central = raw["is_central"]
    for name, values in {**host_columns(raw, groups),
                         **satellite_columns(raw, groups, header)}.items():
        table[name] = values
    say(f"Delta3_h: {int(central.sum()):,} centres among {len(groups.mass):,} groups")
    table.loc[central, "Delta3_h"] = _environment(groups, raw["position"][central], header)
    info: dict[str, Any]
    if sublink is not None:
        history, info = satellite_histories(
            sublink, raw["subhalo_id"], central, raw["dm_mass"], snapshot_of(files[0]),
            header.n_subhalos_total, say)
        for name, values in history.items():
            table[name] = values
    else:
        z_h, info = _formation(raw["subhalo_id"][central], files, formation_table, None, say,
                               header.n_subhalos_total)
        if z_h is not None:
            table.loc[central, "z_h"] = z_h
        say("no sublink trees: the catalog has no M_peak, Vmax_peak, z_infall columns")
    broadcast_host_values(table, [name for name in ("C_h", "S_h", "Delta3_h", "z_h")
                                  if name in table.columns])
    order = [column.name for column in ALL_COLUMNS if column.name in table.columns]
    order.insert(order.index("is_central") + 1, "group_id")
    return table[order], info


def ingest_subfind(
    paths_or_directory: PathLike | Iterable[PathLike],
    *,
    mass_definition: str = "Group_M_Crit200",
    stellar_mass_min: float = STELLAR_MASS_CUT,
    stellar_mass_field: str = "SubhaloMassType",
    sfr_floor: float = DEFAULT_SSFR_FLOOR,
    formation_table: PathLike | None = None,
    sublink: SubLinkTrees | None = None,
    satellites: bool = False,
    progress: Progress | None = None,
) -> Catalog:
    """Central galaxies (and satellites) of a Subfind group catalog as a catalog.

    Args:
        paths_or_directory: a directory with one snapshot's ``fof_subhalo_tab_NNN.K.hdf5``
            chunks or its ``groups_NNN.hdf5``; one file (a TNG chunk brings its sibling
            chunks); or a list of the files.
        mass_definition: ``Group_M_Crit200`` (default), ``Group_M_Mean200`` or
            ``Group_M_TopHat200``: M_h, and with its radius V_Δ, C_h and S_h.
        stellar_mass_min: cut, log10 M* in log10(Msun/h); centrals below are dropped.
        stellar_mass_field: Subhalo field giving M* (column 4 of a per-type field such
            as ``SubhaloMassType`` or the aperture ``SubhaloMassInRadType``; or a 1-D field).
        sfr_floor: log10 sSFR in 1/yr given to galaxies with a lower value, in particular
            those with ``SubhaloSFR`` = 0 (both counted in ``meta.extra``).
        formation_table: CSV/Parquet side table of z_h keyed by subhalo id (see
            :func:`galhalo.ingest.formation.formation_redshifts`).
        sublink: a :class:`galhalo.ingest.merger_trees.SubLinkTrees` to compute z_h from
            SubLink merger trees (with ``satellites`` also M_peak, Vmax_peak, z_infall).
        satellites: also one row per satellite above the cut whose central passes
            (:mod:`.subfind_satellites`): columns ``host_id, is_central, N_sat, M_sub,
            Vmax_sub, r_host, v_r, v_t`` (and the tree columns), the host's halo
            columns on every row.
        progress: callback receiving one short message per stage.

    Returns:
        Catalog (validated) of the selected centrals in global subhalo order: columns
        ``halo_id, group_id, M_h, C_h, S_h, [z_h,] Delta3_h, smass, color, sSFR,
        radius, x, y, z, vx, vy, vz`` (units in the module docstring); metadata: box
        size (Mpc/h), redshift, cosmology from the header, source files, and in
        ``extra`` the options and counts (centrals, cuts, floors). With ``satellites``:
        centrals and satellites, columns ``halo_id, host_id, is_central, group_id, M_h,
        C_h, S_h, [z_h,] Delta3_h, N_sat, M_sub, Vmax_sub, [M_peak, Vmax_peak,
        z_infall,] r_host, v_r, v_t, smass, ...`` (docs/ingest.md, "Satellites") and
        the satellite counts in ``extra["counts"]``.

    Raises:
        CatalogError: naming the file and field for a missing file, header attribute or
            field, chunk counts that disagree (NumFiles vs files, totals vs chunks,
            dataset lengths), NaN/inf or negative masses, positions outside BoxSize,
            inconsistent group/subhalo links, subhalos of a group without a central
            (satellites), trees that do not match the catalog, or an empty selection;
            an option out of range (naming the option).
    """
    say = progress or (lambda message: None)
    options = _check_options(mass_definition, stellar_mass_min, stellar_mass_field, sfr_floor,
                             formation_table, sublink, satellites)
    files = find_subfind_files(paths_or_directory)
    chunks = _chunks(files)
    header = chunks[0].header
    say(f"{len(files)} file(s): {header.n_groups_total:,} groups, "
        f"{header.n_subhalos_total:,} subhalos, z = {header.redshift:.4g}, "
        f"box {header.box_size / KPC_PER_MPC:g} Mpc/h")
    groups = _read_groups(chunks, options.mass_definition, say, velocities=satellites)
    satellite_counts = SatelliteCounts()
    if satellites:
        raw, counts, satellite_counts = _read_galaxies(chunks, groups, options, say)
    else:
        raw, counts = _read_centrals(chunks, groups, options, say)
    source = (str(paths_or_directory) if isinstance(paths_or_directory, str | os.PathLike)
              else str(files[0].parent))
    if not raw:
        raise CatalogError(
            f"{source}: no central passes the cuts: {counts.centrals} centrals, "
            f"{counts.below_stellar_mass_cut} below log10 M* >= {options.stellar_mass_min:g} "
            f"(Subhalo/{options.stellar_mass_field}), {counts.zero_halo_mass} with "
            f"Group/{options.mass_definition} or its radius = 0")
    table, floors = _derive(raw, groups, header, options)
    say(f"sSFR: {floors['ssfr_floored']:,} of {len(table):,} galaxies raised to the floor "
        f"{options.sfr_floor:g} ({floors['zero_sfr']:,} with SFR = 0)")
    if satellites:
        table, formation_info = _satellite_catalog(table, raw, groups, header, files,
                                                   formation_table, sublink, say)
    else:
        say(f"Delta3_h: {len(table):,} centres among {len(groups.mass):,} groups")
        table["Delta3_h"] = _environment(groups, raw["position"], header)
        z_h, formation_info = _formation(raw["subhalo_id"], files, formation_table, sublink,
                                         say, header.n_subhalos_total)
        if z_h is not None:
            table.insert(table.columns.get_loc("Delta3_h"), "z_h", z_h)
    extra = {
        "format": "subfind",
        "snapshot": snapshot_of(files[0]),
        "source_files": [str(p) for p in files],
        "scale_factor": header.scale_factor,
        "mass_definition": options.mass_definition,
        "radius_definition": MASS_DEFINITIONS[options.mass_definition],
        "stellar_mass_field": options.stellar_mass_field,
        "stellar_mass_min": options.stellar_mass_min,
        "sfr_floor": options.sfr_floor,
        "delta3_tracers": "all FoF groups (GroupPos), weighted by GroupMass",
        "satellites": satellites,
        **formation_info,
        "counts": {
            "groups": header.n_groups_total,
            "subhalos": header.n_subhalos_total,
            "groups_without_subhalos": int((groups.first_sub < 0).sum()),
            "centrals": counts.centrals,
            "below_stellar_mass_cut": counts.below_stellar_mass_cut,
            "zero_halo_mass": counts.zero_halo_mass,
            "selected": len(table),
            **floors,
            **(satellite_counts.as_dict() if satellites else {}),
        },
    }
    if satellites:
        extra["host_centre"] = "GroupPos; velocity GroupVel / a (peculiar km/s)"
        extra["relative_velocity"] = "SubhaloVel - GroupVel / a + H(z) a dx (physical)"
    meta = CatalogMeta(
        box_size=header.box_size / KPC_PER_MPC, redshift=header.redshift,
        cosmology={"name": "Subfind header", "Om0": header.omega_matter,
                   "Ode0": header.omega_lambda, "H0": 100.0 * header.hubble},
        source=source, extra=extra)
    catalog = Catalog(table, meta)
    catalog.validate(source=source)
    say(f"done: {len(catalog):,} galaxies ({len(catalog) - satellite_counts.selected:,} centrals, "
        f"{satellite_counts.selected:,} satellites)" if satellites
        else f"done: {len(catalog):,} centrals")
    return catalog
