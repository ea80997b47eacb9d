"""Satellites of a Subfind group catalog: the selection and the sub-halo columns.

Sample (the same as ``galhalo simulate``): every subhalo with log10 M* >= the cut whose
host group's central also passes the cut and whose group has a spherical-overdensity
halo (M_Δ > 0). A satellite of a host whose central is below the cut, or whose group
has M_Δ = 0, is dropped and counted; so is a satellite with no bound dark matter
(``SubhaloMassType[:, 1]`` = 0, in TNG mostly clumps of non-cosmological origin,
``SubhaloFlag`` = 0), whose M_sub would be log10(0), and one farther than
:data:`~galhalo.catalog.hosts.MAX_HOST_DISTANCE` R_Δ from ``GroupPos`` (a FoF group can
bridge to objects far outside its central halo; the catalog validation refuses such
rows, so they are counted and left out rather than failing the whole snapshot).

Reading takes two passes over the chunks: the first reads ``SubhaloGrNr`` and the
stellar mass of every subhalo (one chunk at a time) and marks the groups whose central
passes; the second reads the other fields of the selected rows only. Memory holds the
per-group arrays, one chunk's field and the selected rows.

Columns (every formula in ``docs/ingest.md``, "Satellites"):

- ``host_id`` = ``halo_id`` of the group's central (``GroupFirstSub``); ``is_central``;
  ``N_sat`` = satellite rows of the host, on every row of the host;
- ``M_sub`` = log10(``SubhaloMassType[:, 1]`` × 1e10) (bound dark matter, Msun/h) and
  ``Vmax_sub`` = ``SubhaloVmax`` (km/s), for every row (a central's own sub-halo too);
- ``r_host``, ``v_r``, ``v_t`` (satellites only, NaN on centrals): the periodic comoving
  distance from ``GroupPos`` over the comoving R_Δ of the chosen mass definition, and
  the radial / tangential parts of the peculiar velocity difference ``SubhaloVel`` −
  ``GroupVel`` / a, no Hubble flow (:func:`galhalo.catalog.hosts.orbit_in_host`, the one
  convention of every source).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..catalog.hosts import MAX_HOST_DISTANCE, orbit_in_host
from ..errors import CatalogError
from .common import Progress, open_hdf5
from .halo_properties import (
    DM_TYPE,
    KPC_PER_MPC,
    MASS_UNIT,
)
from .subfind_fields import (
    _check_links,
    _check_values,
    _Classified,
    _classify,
    _Counts,
    _Groups,
    _Options,
    _read,
    _subhalo_fields,
)
from .subfind_files import SubfindHeader, _Chunk

__all__ = ["SatelliteCounts", "host_columns", "satellite_columns"]


@dataclass
class SatelliteCounts:
    """What happened to the satellites above the stellar-mass cut.

    Attributes:
        selected: satellite rows of the catalog.
        central_below_cut: dropped: their host's central is below the cut.
        host_unresolved: dropped: their group has M_Δ = 0 or R_Δ = 0.
        no_dark_matter: dropped: ``SubhaloMassType[:, 1]`` = 0.
        far: dropped: more than :data:`~galhalo.catalog.hosts.MAX_HOST_DISTANCE` R_Δ
            from ``GroupPos`` (FoF bridges far outside the host's SO radius).
        centrals_no_dark_matter: selected centrals with no bound dark matter (M_sub NaN).
    """

    selected: int = 0
    central_below_cut: int = 0
    host_unresolved: int = 0
    no_dark_matter: int = 0
    far: int = 0
    centrals_no_dark_matter: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts under the names of ``meta.extra["counts"]``."""
        return {"satellites": self.selected,
                "satellites_central_below_cut": self.central_below_cut,
                "satellites_host_unresolved": self.host_unresolved,
                "satellites_no_dark_matter": self.no_dark_matter,
                "satellites_far": self.far,
                "centrals_no_dark_matter": self.centrals_no_dark_matter}


@dataclass
class _Candidates:
    """Rows of one chunk above the cut: local rows, groups, M*, and which are centrals."""

    chunk: _Chunk
    rows: np.ndarray
    group_number: np.ndarray
    stellar: np.ndarray
    central: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


def _check_hosts(chunk: _Chunk, groups: _Groups, rows: _Classified) -> None:
    """Refuse subhalos whose group has no central (``GroupFirstSub`` = −1)."""
    orphan = groups.first_sub[rows.group_number] < 0
    if orphan.any():
        first = int(np.flatnonzero(orphan)[0])
        raise CatalogError(
            f"{chunk.path}: field Subhalo/SubhaloGrNr: {int(orphan.sum())} subhalos belong to "
            f"groups without a central (Group/GroupFirstSub = -1; first: subhalo "
            f"{chunk.subhalo_offset + first} in group {int(rows.group_number[first])})")


def _first_pass(chunks: list[_Chunk], groups: _Groups, options: _Options, say: Progress
                ) -> tuple[list[_Candidates], np.ndarray, _Counts]:
    """Candidates above the cut per chunk, which groups' centrals pass, central counts."""
    central_passes = np.zeros(len(groups.first_sub), bool)
    candidates, counts = [], _Counts()
    for number, chunk in enumerate(chunks, 1):
        if chunk.header.n_subhalos == 0:
            continue
        with open_hdf5(chunk.path) as h5:
            rows = _classify(h5, chunk, groups, options)
        _check_hosts(chunk, groups, rows)
        counts.add(rows.counts())
        central_passes[rows.group_number[rows.central & rows.above]] = True
        keep = np.flatnonzero(rows.above)
        candidates.append(_Candidates(chunk, keep, rows.group_number[keep], rows.stellar[keep],
                                      rows.central[keep]))
        say(f"subhalos: chunk {number}/{len(chunks)} ({chunk.header.n_subhalos:,} subhalos, "
            f"{int(rows.central.sum()):,} centrals, {len(keep):,} above the cut)")
    _check_links(chunks, groups, counts)
    return candidates, central_passes, counts


def _read_galaxies(chunks: list[_Chunk], groups: _Groups, options: _Options, say: Progress
                   ) -> tuple[dict[str, np.ndarray], _Counts, SatelliteCounts]:
    """Raw fields of every selected central and satellite (global order) and the counts.

    Keys as :func:`.subfind_fields._read_centrals` plus ``is_central`` (bool) and
    ``dm_mass`` (bound dark matter, 1e10 Msun/h).
    """
    candidates, central_passes, counts = _first_pass(chunks, groups, options, say)
    satellites = SatelliteCounts()
    parts: list[dict[str, np.ndarray]] = []
    for part in candidates:
        group, central = part.group_number, part.central
        resolved = groups.resolved[group]
        orphaned = ~central & ~central_passes[group]
        satellites.central_below_cut += int(orphaned.sum())
        satellites.host_unresolved += int((~central & ~orphaned & ~resolved).sum())
        keep = resolved & (central | central_passes[group])
        if not keep.any():
            continue
        path, n_rows = part.chunk.path, part.chunk.header.n_subhalos
        with open_hdf5(path) as h5:
            dm = _check_values(
                _read(h5, path, "Subhalo/SubhaloMassType", n_rows, width=DM_TYPE + 1,
                      columns=DM_TYPE)[part.rows].astype(np.float64),
                path, "Subhalo/SubhaloMassType", non_negative=True)
            no_dm = ~central & (dm <= 0)
            satellites.no_dark_matter += int((keep & no_dm).sum())
            satellites.centrals_no_dark_matter += int((keep & central & (dm <= 0)).sum())
            keep &= ~no_dm
            if not keep.any():
                continue
            rows = part.rows[keep]
            raw = _subhalo_fields(h5, part.chunk, rows)
        raw.update(dm_mass=dm[keep], stellar_mass=part.stellar[keep],
                   subhalo_id=part.chunk.subhalo_offset + rows, group_id=group[keep],
                   is_central=central[keep])
        parts.append(raw)
    if not parts:
        return {}, counts, satellites
    raw = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    far = _far_from_host(raw, groups, chunks[0].header)
    satellites.far = int(far.sum())
    raw = {key: values[~far] for key, values in raw.items()}
    satellites.selected = int((~raw["is_central"]).sum())
    say(f"satellites: {satellites.selected:,} selected; dropped {satellites.central_below_cut:,} "
        f"whose central is below the cut, {satellites.host_unresolved:,} in groups with M_Δ = "
        f"0, {satellites.no_dark_matter:,} without dark matter, {satellites.far:,} farther "
        f"than {MAX_HOST_DISTANCE:g} R_Δ")
    return raw, counts, satellites


def _far_from_host(raw: dict[str, np.ndarray], groups: _Groups, header: SubfindHeader
                   ) -> np.ndarray:
    """Satellites more than MAX_HOST_DISTANCE R_Δ from GroupPos (periodic), shape (n,)."""
    group = raw["group_id"]
    box = header.box_size / KPC_PER_MPC
    offset = raw["position"] - groups.position[group]
    offset -= box * np.round(offset / box)
    distance = np.sqrt((offset**2).sum(axis=1))
    return ~raw["is_central"] & (distance > MAX_HOST_DISTANCE * groups.halo_radius[group]
                                 / KPC_PER_MPC)


def central_row_of(halo_id: np.ndarray, host_id: np.ndarray) -> np.ndarray:
    """Row of each row's central, shape (n,), for rows in increasing ``halo_id`` order."""
    rows = np.searchsorted(halo_id, host_id)
    rows = np.minimum(rows, len(halo_id) - 1)
    if not (halo_id[rows] == host_id).all():  # the selection keeps every host's central
        raise AssertionError("a selected satellite has no central row")
    return rows


def host_columns(raw: dict[str, np.ndarray], groups: _Groups) -> dict[str, np.ndarray]:
    """``host_id``, ``is_central``, ``N_sat`` of every row (rows in global subhalo order)."""
    host_id = groups.first_sub[raw["group_id"]].astype(np.int64)
    central = raw["is_central"].astype(bool)
    central_row = central_row_of(raw["subhalo_id"], host_id)
    n_sat = np.bincount(central_row[~central], minlength=len(host_id))
    return {"host_id": host_id, "is_central": central, "N_sat": n_sat[central_row]}


def satellite_columns(raw: dict[str, np.ndarray], groups: _Groups, header: SubfindHeader
                      ) -> dict[str, np.ndarray]:
    """``M_sub``, ``Vmax_sub``, ``r_host``, ``v_r``, ``v_t`` of every row (see module doc).

    Centrals get their own ``M_sub`` (NaN without dark matter) and ``Vmax_sub``, and NaN
    for ``r_host``, ``v_r``, ``v_t`` (they define the host's centre).
    """
    assert groups.velocity is not None
    group = raw["group_id"]
    r_host, v_r, v_t = orbit_in_host(
        raw["position"], raw["velocity"], groups.position[group], groups.velocity[group],
        groups.halo_radius[group] / KPC_PER_MPC, header.box_size / KPC_PER_MPC)
    central = raw["is_central"].astype(bool)
    with np.errstate(divide="ignore"):
        m_sub = np.where(raw["dm_mass"] > 0, np.log10(raw["dm_mass"] * MASS_UNIT), np.nan)
    orbit = {name: np.where(central, np.nan, values)
             for name, values in (("r_host", r_host), ("v_r", v_r), ("v_t", v_t))}
    return {"M_sub": m_sub, "Vmax_sub": raw["vmax"], **orbit}


def broadcast_host_values(table: pd.DataFrame, names: list[str]) -> None:
    """Give every row its central's value of each column in ``names`` (in place)."""
    rows = central_row_of(table["halo_id"].to_numpy(), table["host_id"].to_numpy())
    for name in names:
        table[name] = table[name].to_numpy()[rows]
