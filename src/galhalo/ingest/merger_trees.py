"""Half-mass formation redshift z_1/2 from SubLink merger trees (IllustrisTNG layout).

SubLink trees (``tree_extended.K.hdf5``; Rodriguez-Gomez et al. 2015) store every
subhalo of every snapshot as one row of flat datasets, ordered depth-first: the main
progenitor branch of a subhalo occupies the rows from its own row up to its
``MainLeafProgenitorID`` (``row + MainLeafProgenitorID − SubhaloID``), one row per
snapshot going back in time, and a tree never spans two files. Fields used:
``SubhaloID`` and ``MainLeafProgenitorID`` (tree-wide ids), ``SubfindID`` (index in the
group catalog of its snapshot), ``SnapNum`` and a mass (default ``SubhaloMass``, in
1e10 Msun/h).

z_1/2 of a central is the redshift at which its main progenitor first had less than
half of its mass at the catalog's snapshot, interpolated linearly in redshift between
the two snapshots around the crossing. A branch that never drops below half its mass
before it starts is *unresolved*: it gets the redshift of its earliest snapshot (a lower
bound) and is counted. The trees carry no redshifts: the snapshot → redshift table is
an input.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import CatalogError
from .common import PathLike, Progress, open_hdf5
from .tables import read_table

__all__ = ["Branch", "SubLinkTrees", "branch_half_mass_redshift", "formation_redshifts_sublink",
           "half_mass_redshift", "main_branches", "sublink_info"]

_TREE_FILE = re.compile(r"^tree(?:_extended)?\.(\d+)\.hdf5$")
#: Rows of ``SnapNum``/``SubfindID`` read at once while locating the centrals.
_BLOCK = 1 << 22


@dataclass(frozen=True)
class SubLinkTrees:
    """Where the SubLink trees are and what is needed to read them.

    Attributes:
        paths: a directory holding ``tree_extended.K.hdf5`` (or ``tree.K.hdf5``)
            files, or a list of tree files.
        snapshot_redshifts: snapshot number -> redshift, as a mapping or a CSV/Parquet
            table with columns ``snapshot`` (or ``SnapNum``) and ``redshift`` (or ``z``).
        snapshot: snapshot of the group catalog (default: from its file names).
        mass_field: tree field whose half defines formation (1e10 Msun/h).
        peak_mass_field: tree field of the peak mass M_peak (satellite catalogs):
            column 1 (dark matter) of a per-type field, or a 1-D field; 1e10 Msun/h.
    """

    paths: PathLike | Sequence[PathLike]
    snapshot_redshifts: Mapping[int, float] | PathLike
    snapshot: int | None = None
    mass_field: str = "SubhaloMass"
    peak_mass_field: str = "SubhaloMassType"


def _tree_files(paths: PathLike | Sequence[PathLike]) -> list[Path]:
    if isinstance(paths, str | os.PathLike):
        root = Path(paths)
        if not root.exists():
            raise CatalogError(f"{root}: no such SubLink tree directory or file")
        files = ([p for p in root.iterdir() if _TREE_FILE.match(p.name)] if root.is_dir()
                 else [root])
    else:
        files = [Path(p) for p in paths]
    if not files:
        raise CatalogError(f"{paths}: no SubLink tree files (tree_extended.K.hdf5)")
    for path in files:
        if not path.is_file():
            raise CatalogError(f"{path}: no such SubLink tree file")
    match = [_TREE_FILE.match(p.name) for p in files]
    if all(match):
        files = [p for _, p in sorted(zip((int(m.group(1)) for m in match if m), files,
                                          strict=True))]
    return files


def _redshift_table(source: Mapping[int, float] | PathLike) -> dict[int, float]:
    """snapshot -> redshift from a mapping or a two-column table."""
    if isinstance(source, Mapping):
        table = {int(k): float(v) for k, v in source.items()}
        where = "snapshot_redshifts"
    else:
        frame = read_table(source)
        where = str(source)
        snap = next((c for c in ("snapshot", "SnapNum", "snap") if c in frame.columns), None)
        red = next((c for c in ("redshift", "z", "Redshift") if c in frame.columns), None)
        if snap is None or red is None:
            raise CatalogError(f"{source}: expected columns 'snapshot' and 'redshift' "
                               f"(the file has: {', '.join(map(str, frame.columns))})")
        table = dict(zip(frame[snap].astype(int), frame[red].astype(float), strict=True))
    bad = [k for k, v in table.items() if not (np.isfinite(v) and v >= 0)]
    if bad:
        raise CatalogError(f"{where}: redshifts of snapshots {bad[:5]} are not finite and >= 0")
    return table


def half_mass_redshift(redshift: np.ndarray, mass: np.ndarray) -> tuple[float, bool]:
    """z_1/2 of one main progenitor branch.

    Args:
        redshift: shape (k,), redshift of each branch entry, from the catalog's
            snapshot backwards (increasing).
        mass: shape (k,), mass of each entry (any unit); ``mass[0]`` > 0 is today's.

    Returns:
        (z_1/2, resolved): the linear interpolation in redshift at which the mass
        crosses ``mass[0] / 2``, between the last entry at or above half and the first
        below; for a branch never below half, (earliest redshift, False).
    """
    half = 0.5 * mass[0]
    below = np.flatnonzero(mass < half)
    if below.size == 0:
        return float(redshift[-1]), False
    j = int(below[0])
    z1, z2, m1, m2 = redshift[j - 1], redshift[j], mass[j - 1], mass[j]
    return float(z1 + (half - m1) * (z2 - z1) / (m2 - m1)), True


def _locate(files: list[Path], snapshot: int, ids: np.ndarray, say: Progress,
            n_subhalos: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(file index, row) of each of ``ids`` at ``snapshot``; -1 where absent.

    Raises :class:`CatalogError` when a subhalo appears twice, when no tree row is at
    ``snapshot``, or when a tree holds a ``SubfindID`` >= ``n_subhalos`` there (trees
    of another run or snapshot than the group catalog).
    """
    order = np.argsort(ids)
    sorted_ids = ids[order]
    file_of = np.full(len(ids), -1, np.int64)
    row_of = np.full(len(ids), -1, np.int64)
    at_snapshot, snapshots = 0, [np.iinfo(np.int64).max, -1]
    for number, path in enumerate(files):
        say(f"SubLink: scanning {path.name} ({number + 1}/{len(files)})")
        with open_hdf5(path) as h5:
            for name in ("SnapNum", "SubfindID"):
                if name not in h5:
                    raise CatalogError(f"{path}: missing field {name}")
            length = h5["SnapNum"].shape[0]
            for start in range(0, length, _BLOCK):
                snap = h5["SnapNum"][start:start + _BLOCK]
                subfind = h5["SubfindID"][start:start + _BLOCK]
                if len(snap):
                    snapshots = [min(snapshots[0], int(snap.min())),
                                 max(snapshots[1], int(snap.max()))]
                rows = np.flatnonzero(snap == snapshot)
                at_snapshot += len(rows)
                _check_subfind_ids(path, subfind[rows], snapshot, n_subhalos)
                where = np.searchsorted(sorted_ids, subfind[rows])
                where = np.minimum(where, len(sorted_ids) - 1)
                hit = sorted_ids[where] == subfind[rows]
                target = order[where[hit]]
                if (file_of[target] >= 0).any() or len(np.unique(target)) < len(target):
                    raise CatalogError(f"{path}: field SubfindID: a subhalo of snapshot "
                                       f"{snapshot} appears twice in the trees")
                file_of[target] = number
                row_of[target] = start + rows[hit]
    if at_snapshot == 0:
        span = (f"snapshots {snapshots[0]}-{snapshots[1]}" if snapshots[1] >= 0
                else "no rows")
        raise CatalogError(f"{files[0].parent}: field SnapNum: no SubLink tree row is at the "
                           f"group catalog's snapshot {snapshot} (the trees hold {span})")
    return file_of, row_of


def _check_subfind_ids(path: Path, subfind: np.ndarray, snapshot: int,
                       n_subhalos: int | None) -> None:
    """Refuse tree rows at the catalog's snapshot that the catalog cannot hold."""
    if n_subhalos is None or not len(subfind):
        return
    bad = (subfind < 0) | (subfind >= n_subhalos)
    if bad.any():
        raise CatalogError(f"{path}: field SubfindID: {int(bad.sum())} rows at snapshot "
                           f"{snapshot} have ids outside [0, {n_subhalos}) (max "
                           f"{int(subfind.max())}): the group catalog has {n_subhalos} "
                           "subhalos, the trees belong to another run or snapshot")


def _branch_length(h5: h5py.File, path: Path, row: int) -> int:
    """Rows of the main progenitor branch starting at ``row``."""
    length = int(h5["MainLeafProgenitorID"][row] - h5["SubhaloID"][row]) + 1
    if length < 1 or row + length > h5["SnapNum"].shape[0]:
        raise CatalogError(f"{path}: row {row}: MainLeafProgenitorID - SubhaloID gives a main "
                           "branch outside this file")
    return length


@dataclass(frozen=True)
class Branch:
    """One main progenitor branch, from the catalog's snapshot backwards.

    Attributes:
        index: position of the subhalo in the ids asked for.
        path: the tree file.
        redshift: shape (k,), redshift of each entry (increasing).
        fields: tree field name -> its k rows (shape (k,) or (k, m)).
    """

    index: int
    path: Path
    redshift: np.ndarray
    fields: dict[str, np.ndarray]


def main_branches(trees: SubLinkTrees, subhalo_ids: np.ndarray, catalog_snapshot: int | None,
                  fields: Sequence[str], progress: Progress | None = None,
                  n_subhalos: int | None = None, what: str = "selected centrals"
                  ) -> Iterator[Branch]:
    """The main progenitor branch of each subhalo with the requested tree fields.

    Args:
        trees: the tree files and the snapshot -> redshift table.
        subhalo_ids: shape (n,) int, Subfind indices at the catalog's snapshot.
        catalog_snapshot: the snapshot from the group-catalog file names (used when
            ``trees.snapshot`` is None).
        fields: tree fields to read along each branch (``SnapNum`` always is).
        progress: callback receiving one short message per stage.
        n_subhalos: subhalos in the group catalog (``Nsubgroups_Total``): tree ids at
            the snapshot must lie below it.
        what: what the subhalos are, for messages.

    Yields:
        one :class:`Branch` per subhalo, file by file (not in the order of the ids).

    Raises:
        CatalogError: naming the file/field for missing trees, fields, the snapshot
            absent from the trees, ids the catalog cannot hold, subhalos absent from
            the trees, snapshots absent from the redshift table, or an unknown catalog
            snapshot.
    """
    say = progress or (lambda message: None)
    snapshot = trees.snapshot if trees.snapshot is not None else catalog_snapshot
    if snapshot is None:
        raise CatalogError("the group-catalog snapshot is unknown (file names without NNN): "
                           "set SubLinkTrees.snapshot")
    files = _tree_files(trees.paths)
    redshift_of = _redshift_table(trees.snapshot_redshifts)
    ids = np.asarray(subhalo_ids, dtype=np.int64)
    file_of, row_of = _locate(files, snapshot, ids, say, n_subhalos)
    absent = file_of < 0
    if absent.any():
        raise CatalogError(f"{trees.paths}: {int(absent.sum())} of {len(ids)} {what} are not "
                           f"in the SubLink trees at snapshot {snapshot} (first subhalo id "
                           f"{int(ids[absent][0])})")
    wanted = list(dict.fromkeys(["SnapNum", *fields]))
    for number, path in enumerate(files):
        mine = np.flatnonzero(file_of == number)
        if not len(mine):
            continue
        with open_hdf5(path) as h5:
            for name in ("SubhaloID", "MainLeafProgenitorID", *wanted):
                if name not in h5:
                    raise CatalogError(f"{path}: missing field {name}")
            for index in mine:
                row = int(row_of[index])
                length = _branch_length(h5, path, row)
                values = {name: h5[name][row:row + length] for name in wanted}
                missing = [int(s) for s in values["SnapNum"] if int(s) not in redshift_of]
                if missing:
                    raise CatalogError(f"snapshot_redshifts: no redshift for snapshots "
                                       f"{sorted(set(missing))[:5]} (needed by {path.name})")
                redshift = np.array([redshift_of[int(s)] for s in values["SnapNum"]])
                yield Branch(int(index), path, redshift, values)


def formation_redshifts_sublink(
    trees: SubLinkTrees, subhalo_ids: np.ndarray, catalog_snapshot: int | None,
    progress: Progress | None = None, n_subhalos: int | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """z_1/2 of each subhalo (global Subfind index at the catalog's snapshot).

    Args:
        trees: the tree files and the snapshot -> redshift table.
        subhalo_ids: shape (n,) int, Subfind indices at the catalog's snapshot.
        catalog_snapshot: the snapshot from the group-catalog file names (used when
            ``trees.snapshot`` is None).
        progress: callback receiving one short message per stage.
        n_subhalos: subhalos in the group catalog, checked against the trees' ids.

    Returns:
        (shape (n,) z_1/2, metadata for ``meta.extra``: source, mass field, number of
        unresolved branches).

    Raises:
        CatalogError: as :func:`main_branches`, and for a branch with zero mass now.
    """
    say = progress or (lambda message: None)
    ids = np.asarray(subhalo_ids, dtype=np.int64)
    values = np.empty(len(ids))
    unresolved = 0
    for branch in main_branches(trees, ids, catalog_snapshot, [trees.mass_field], say,
                                n_subhalos):
        values[branch.index], resolved = branch_half_mass_redshift(branch, trees.mass_field,
                                                                   int(ids[branch.index]))
        unresolved += not resolved
    say(f"SubLink: z_h of {len(ids):,} centrals ({unresolved:,} branches never below half "
        "their mass: earliest redshift used)")
    return values, sublink_info(trees, unresolved)


def branch_half_mass_redshift(branch: Branch, mass_field: str, subhalo_id: int
                              ) -> tuple[float, bool]:
    """:func:`half_mass_redshift` of a branch's ``mass_field``; refuses zero mass now."""
    mass = branch.fields[mass_field].astype(np.float64)
    if not mass[0] > 0:
        raise CatalogError(f"{branch.path}: field {mass_field}: subhalo {subhalo_id} has zero "
                           f"mass at snapshot {int(branch.fields['SnapNum'][0])}")
    return half_mass_redshift(branch.redshift, mass)


def sublink_info(trees: SubLinkTrees, unresolved: int) -> dict[str, Any]:
    """The ``meta.extra`` entries describing z_h from SubLink trees."""
    return {"z_h_source": f"SubLink {trees.paths}", "z_h_mass_field": trees.mass_field,
            "z_h_unresolved": unresolved}
