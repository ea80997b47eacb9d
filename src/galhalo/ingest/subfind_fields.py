"""Reading Subfind fields chunk by chunk: checked datasets, the groups, the centrals.

Only the fields needed are read, one at a time, chunk by chunk: memory holds one
chunk's field plus the per-group arrays, never the whole catalog. A **central** is the
subhalo whose global index is its group's ``GroupFirstSub`` (−1: no subhalo).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import CatalogError
from .common import Progress, open_hdf5, positions_in_box
from .halo_properties import KPC_PER_MPC, MASS_UNIT, PHOTOMETRIC_BANDS, STAR_TYPE
from .subfind_files import SubfindHeader, _Chunk

__all__ = ["MASS_DEFINITIONS"]

#: Spherical-overdensity mass fields and their matching radius fields.
MASS_DEFINITIONS: dict[str, str] = {
    "Group_M_Crit200": "Group_R_Crit200",
    "Group_M_Mean200": "Group_R_Mean200",
    "Group_M_TopHat200": "Group_R_TopHat200",
}


def _dataset(h5: h5py.File, path: Path, field: str, rows: int,
             width: int | None = None) -> h5py.Dataset:
    """The dataset ``field`` (``"Group/GroupPos"``), checked: rows, and columns if given.

    ``width`` = required number of columns (2-D), 0 = one-dimensional, None = any.
    """
    item = h5.get(field)
    if not isinstance(item, h5py.Dataset):
        parent = h5.get(field.split("/")[0])
        there = ", ".join(sorted(parent)) if isinstance(parent, h5py.Group) else "none"
        raise CatalogError(f"{path}: missing field {field} (fields there: {there})")
    count = "Ngroups_ThisFile" if field.startswith("Group/") else "Nsubgroups_ThisFile"
    if item.ndim == 0 or item.shape[0] != rows:
        raise CatalogError(f"{path}: field {field} has shape {item.shape} but Header "
                           f"attribute {count!r} = {rows}")
    if width == 0 and item.ndim != 1:
        raise CatalogError(f"{path}: field {field} must be one-dimensional, shape {item.shape}")
    if width and (item.ndim != 2 or item.shape[1] < width):
        raise CatalogError(f"{path}: field {field} must have shape ({rows}, {width}), "
                           f"got {item.shape}")
    if item.dtype.kind not in "iuf":
        raise CatalogError(f"{path}: field {field} is not numeric (dtype {item.dtype})")
    return item


def _check_values(values: np.ndarray, path: Path, field: str, *, positive: bool = False,
                  non_negative: bool = False) -> np.ndarray:
    """Refuse NaN/inf (and values <= 0 or < 0 when asked) in a field; returns values."""
    rows = values.reshape(len(values), -1)
    bad = ~np.isfinite(rows).all(axis=1)
    what = "NaN or inf"
    if not bad.any() and positive:
        bad, what = (rows <= 0).any(axis=1), "zero or negative"
    if not bad.any() and non_negative:
        bad, what = (rows < 0).any(axis=1), "negative"
    if bad.any():
        raise CatalogError(f"{path}: field {field}: {int(bad.sum())} of {len(rows)} rows are "
                           f"{what} (first at row {int(np.flatnonzero(bad)[0])} of this file)")
    return values


def _read(h5: h5py.File, path: Path, field: str, rows: int, *, width: int | None = None,
          columns: int | list[int] | None = None) -> np.ndarray:
    """A field of one chunk (only ``columns`` of a 2-D field when given) as an array."""
    dataset = _dataset(h5, path, field, rows, width)
    return dataset[()] if columns is None else dataset[:, columns]


def _positions(values: np.ndarray, header: SubfindHeader, field: str) -> np.ndarray:
    """Positions (ckpc/h) → Mpc/h inside [0, box); refused when outside the box."""
    box = header.box_size / KPC_PER_MPC
    return positions_in_box(np.asarray(values, dtype=np.float64) / KPC_PER_MPC, box,
                            f"{header.path}: field {field} (Mpc/h)",
                            f"Header attribute 'BoxSize' = {header.box_size:g} ckpc/h")


# --------------------------------------------------------------------------- groups


@dataclass
class _Groups:
    """What the selection needs of every FoF group (global order, G groups).

    Attributes:
        first_sub: shape (G,) int64, global index of the first (central) subhalo, -1: none.
        position: shape (G, 3) float64 Mpc/h in [0, box): ``GroupPos``.
        mass: shape (G,) float64 ``GroupMass`` in 1e10 Msun/h (Delta3_h tracers).
        halo_mass: shape (G,) float64 M_Δ in 1e10 Msun/h.
        halo_radius: shape (G,) float64 R_Δ in comoving ckpc/h.
        velocity: shape (G, 3) float64 peculiar km/s (``GroupVel`` / a), read only for
            satellites (else None).
    """

    first_sub: np.ndarray
    position: np.ndarray
    mass: np.ndarray
    halo_mass: np.ndarray
    halo_radius: np.ndarray
    velocity: np.ndarray | None = None

    @property
    def resolved(self) -> np.ndarray:
        """shape (G,) bool: M_Δ > 0 and R_Δ > 0 (a spherical-overdensity halo exists)."""
        return (self.halo_mass > 0) & (self.halo_radius > 0)


def _read_groups(chunks: list[_Chunk], mass_field: str, say: Progress,
                 velocities: bool = False) -> _Groups:
    """Every group's first subhalo, position, mass and M_Δ, R_Δ, checked, chunk by chunk.

    ``velocities``: also ``GroupVel`` (km/s/a in the files), made peculiar km/s by
    dividing by a (IllustrisTNG data specifications: "multiply by 1/a").
    """
    total = chunks[0].header.n_groups_total
    n_subhalos = chunks[0].header.n_subhalos_total
    groups = _Groups(np.empty(total, np.int64), np.empty((total, 3)), np.empty(total),
                     np.empty(total), np.empty(total),
                     np.empty((total, 3)) if velocities else None)
    radius_field = MASS_DEFINITIONS[mass_field]
    for number, chunk in enumerate(chunks, 1):
        rows, path, where = chunk.header.n_groups, chunk.path, chunk.groups()
        if rows == 0:
            continue
        say(f"groups: chunk {number}/{len(chunks)} ({rows:,} groups)")
        with open_hdf5(path) as h5:
            first = _read(h5, path, "Group/GroupFirstSub", rows, width=0).astype(np.int64)
            bad = (first < -1) | (first >= n_subhalos)
            if bad.any():
                raise CatalogError(f"{path}: field Group/GroupFirstSub: {int(bad.sum())} values "
                                   f"outside [-1, Nsubgroups_Total = {n_subhalos})")
            groups.first_sub[where] = first
            groups.position[where] = _positions(
                _read(h5, path, "Group/GroupPos", rows, width=3)[:, :3], chunk.header,
                "Group/GroupPos")
            for target, field in ((groups.mass, "GroupMass"), (groups.halo_mass, mass_field),
                                  (groups.halo_radius, radius_field)):
                target[where] = _check_values(_read(h5, path, f"Group/{field}", rows, width=0),
                                              path, f"Group/{field}", non_negative=True)
            if groups.velocity is not None:
                velocity = _read(h5, path, "Group/GroupVel", rows, width=3)[:, :3]
                groups.velocity[where] = _check_values(
                    velocity.astype(np.float64), path, "Group/GroupVel") / chunk.header.scale_factor
    return groups


# --------------------------------------------------------------------------- subhalos


@dataclass(frozen=True)
class _Options:
    """The user's choices, checked."""

    mass_definition: str
    stellar_mass_min: float
    stellar_mass_field: str
    sfr_floor: float


@dataclass
class _Counts:
    """How many objects each stage kept or dropped."""

    centrals: int = 0
    below_stellar_mass_cut: int = 0
    zero_halo_mass: int = 0

    def add(self, other: _Counts) -> None:
        self.centrals += other.centrals
        self.below_stellar_mass_cut += other.below_stellar_mass_cut
        self.zero_halo_mass += other.zero_halo_mass


def _stellar_mass(h5: h5py.File, path: Path, field: str, rows: int) -> np.ndarray:
    """M* (1e10 Msun/h) of every subhalo of a chunk: column 4 of a per-type field or a 1-D one."""
    dataset = _dataset(h5, path, f"Subhalo/{field}", rows)
    if dataset.ndim == 1:
        values = dataset[()]
    elif dataset.ndim == 2 and dataset.shape[1] > STAR_TYPE:
        values = dataset[:, STAR_TYPE]
    else:
        raise CatalogError(f"{path}: field Subhalo/{field} has shape {dataset.shape}: expected "
                           f"(n,) or (n, 6) per particle type (stars = column {STAR_TYPE})")
    return _check_values(values.astype(np.float64), path, f"Subhalo/{field}", non_negative=True)


@dataclass(frozen=True)
class _Classified:
    """Every subhalo of one chunk: its group, whether it is the central, M* and the cut.

    Attributes (shape (n,) each, n = subhalos of the chunk): ``group_number`` int64,
    ``central`` bool, ``stellar`` M* in 1e10 Msun/h, ``above`` bool (passes the cut),
    ``resolved`` bool (its group has M_Δ > 0 and R_Δ > 0).
    """

    group_number: np.ndarray
    central: np.ndarray
    stellar: np.ndarray
    above: np.ndarray
    resolved: np.ndarray

    def counts(self) -> _Counts:
        """Centrals, centrals below the cut, centrals above it in an unresolved group."""
        central, above = self.central, self.above
        return _Counts(int(central.sum()), int((central & ~above).sum()),
                       int((central & above & ~self.resolved).sum()))


def _classify(h5: h5py.File, chunk: _Chunk, groups: _Groups, options: _Options
              ) -> _Classified:
    """Group, centrality and stellar-mass cut of every subhalo of a chunk."""
    path, rows = chunk.path, chunk.header.n_subhalos
    group_number = _read(h5, path, "Subhalo/SubhaloGrNr", rows, width=0).astype(np.int64)
    bad = (group_number < 0) | (group_number >= len(groups.first_sub))
    if bad.any():
        raise CatalogError(f"{path}: field Subhalo/SubhaloGrNr: {int(bad.sum())} values outside "
                           f"[0, Ngroups_Total = {len(groups.first_sub)})")
    index = chunk.subhalo_offset + np.arange(rows)
    central = groups.first_sub[group_number] == index
    stellar = _stellar_mass(h5, path, options.stellar_mass_field, rows)
    with np.errstate(divide="ignore"):
        above = np.log10(stellar * MASS_UNIT) >= options.stellar_mass_min
    return _Classified(group_number, central, stellar, above, groups.resolved[group_number])


def _select_rows(h5: h5py.File, chunk: _Chunk, groups: _Groups, options: _Options
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, _Counts]:
    """The chunk's selected centrals: local rows, group indices, M* (1e10 Msun/h); counts."""
    rows = _classify(h5, chunk, groups, options)
    keep = np.flatnonzero(rows.central & rows.above & rows.resolved)
    return keep, rows.group_number[keep], rows.stellar[keep], rows.counts()


def _subhalo_fields(h5: h5py.File, chunk: _Chunk, keep: np.ndarray) -> dict[str, np.ndarray]:
    """The raw fields of the selected rows of one chunk, checked, in catalog units."""
    path, rows = chunk.path, chunk.header.n_subhalos

    def field(name: str, *, width: int | None = None, columns: Any = None,
              **checks: bool) -> np.ndarray:
        values = _read(h5, path, f"Subhalo/{name}", rows, width=width, columns=columns)[keep]
        return _check_values(values.astype(np.float64), path, f"Subhalo/{name}", **checks)

    return {
        "sfr": field("SubhaloSFR", width=0, non_negative=True),
        "g_i": field("SubhaloStellarPhotometrics", width=len(PHOTOMETRIC_BANDS),
                     columns=[PHOTOMETRIC_BANDS.index("g"), PHOTOMETRIC_BANDS.index("i")]),
        "half_mass_radius": field("SubhaloHalfmassRadType", width=STAR_TYPE + 1,
                                  columns=STAR_TYPE, positive=True),
        "vmax": field("SubhaloVmax", width=0, positive=True),
        "spin": field("SubhaloSpin", width=3, columns=[0, 1, 2]),
        "position": _positions(_read(h5, path, "Subhalo/SubhaloPos", rows, width=3)[keep, :3],
                               chunk.header, "Subhalo/SubhaloPos"),
        "velocity": field("SubhaloVel", width=3, columns=[0, 1, 2]),
    }


def _read_centrals(chunks: list[_Chunk], groups: _Groups, options: _Options, say: Progress
                   ) -> tuple[dict[str, np.ndarray], _Counts]:
    """Every selected central's raw fields (global order) and the selection counts."""
    parts: list[dict[str, np.ndarray]] = []
    counts = _Counts()
    for number, chunk in enumerate(chunks, 1):
        if chunk.header.n_subhalos == 0:
            continue
        with open_hdf5(chunk.path) as h5:
            keep, group_number, stellar, chunk_counts = _select_rows(h5, chunk, groups,
                                                                     options)
            counts.add(chunk_counts)
            say(f"subhalos: chunk {number}/{len(chunks)} ({chunk.header.n_subhalos:,} "
                f"subhalos, {chunk_counts.centrals:,} centrals, {len(keep):,} selected)")
            if len(keep):
                part = _subhalo_fields(h5, chunk, keep)
                part["stellar_mass"] = stellar
                part["subhalo_id"] = chunk.subhalo_offset + keep
                part["group_id"] = group_number
                parts.append(part)
    _check_links(chunks, groups, counts)
    if not parts:
        return {}, counts
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}, counts


def _check_links(chunks: list[_Chunk], groups: _Groups, counts: _Counts) -> None:
    """Every group with a GroupFirstSub has that subhalo pointing back with SubhaloGrNr."""
    with_subhalos = int((groups.first_sub >= 0).sum())
    if counts.centrals != with_subhalos:
        raise CatalogError(f"{chunks[0].path}: {with_subhalos} groups have a GroupFirstSub but "
                           f"only {counts.centrals} subhalos point back to their group with "
                           "SubhaloGrNr: inconsistent Group/GroupFirstSub and Subhalo/SubhaloGrNr")
