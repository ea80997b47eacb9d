"""The files of a Subfind group catalog: discovery, ``Header`` attributes, chunks.

IllustrisTNG writes ``fof_subhalo_tab_NNN.K.hdf5``, K = 0 … NumFiles − 1 chunks of one
snapshot NNN; CAMELS (and other single-file runs) one ``groups_NNN.hdf5`` (or
``fof_subhalo_tab_NNN.hdf5``). The global index of a subhalo is the number of subhalos
in the chunks before its own plus its index in its chunk (likewise for groups).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import CatalogError
from .common import PathLike, open_hdf5

__all__ = ["SubfindHeader", "find_subfind_files", "read_subfind_header", "snapshot_of"]

_TNG_CHUNK = re.compile(r"^fof_subhalo_tab_(\d+)\.(\d+)\.hdf5$")
_SINGLE_FILE = re.compile(r"^(?:groups|fof_subhalo_tab)_(\d+)\.hdf5$")
_HEADER_FLOATS = ("BoxSize", "HubbleParam", "Omega0", "OmegaLambda", "Redshift", "Time")
_HEADER_INTS = ("NumFiles", "Ngroups_Total", "Nsubgroups_Total",
                "Ngroups_ThisFile", "Nsubgroups_ThisFile")
#: Header attributes every chunk must share.
_SHARED = ("BoxSize", "HubbleParam", "Omega0", "OmegaLambda", "Redshift", "Time",
           "NumFiles", "Ngroups_Total", "Nsubgroups_Total")


def snapshot_of(path: Path) -> int | None:
    """The snapshot number NNN in a group-catalog file name; ``None`` if it has none."""
    match = _TNG_CHUNK.match(path.name) or _SINGLE_FILE.match(path.name)
    return int(match.group(1)) if match else None


def _files_in_directory(directory: Path) -> list[Path]:
    """The files of the one snapshot stored in ``directory``."""
    candidates = sorted(p for p in directory.iterdir()
                        if p.is_file() and (_TNG_CHUNK.match(p.name) or _SINGLE_FILE.match(p.name)))
    if not candidates:
        raise CatalogError(f"{directory}: no Subfind group catalog in this directory (expected "
                           "fof_subhalo_tab_NNN.K.hdf5 chunks or one groups_NNN.hdf5)")
    layouts = {(snapshot_of(p), bool(_TNG_CHUNK.match(p.name))) for p in candidates}
    if len(layouts) > 1:
        found = ", ".join(sorted({f"{s:03d}" for s, _ in layouts}))
        raise CatalogError(f"{directory}: group catalogs of several snapshots ({found}) or "
                           "layouts; pass the file(s) of one snapshot, e.g. "
                           f"{candidates[-1]}")
    return candidates


def _siblings(path: Path) -> list[Path]:
    """A TNG chunk stands for every chunk of its snapshot; any other file for itself."""
    match = _TNG_CHUNK.match(path.name)
    if match is None:
        return [path]
    prefix = f"fof_subhalo_tab_{match.group(1)}."
    return [p for p in path.parent.iterdir() if p.name.startswith(prefix)
            and _TNG_CHUNK.match(p.name)]


def _chunk_order(files: list[Path]) -> list[Path]:
    """TNG chunks sorted by chunk number (one snapshot); other names in the order given."""
    if len(set(files)) != len(files):
        raise CatalogError(f"the same file is listed twice: {[str(p) for p in files]}")
    matches = [_TNG_CHUNK.match(p.name) for p in files]
    if not all(matches):
        return files
    snapshots = {m.group(1) for m in matches if m}
    if len(snapshots) > 1:
        raise CatalogError(f"files of several snapshots ({', '.join(sorted(snapshots))}): "
                           f"{', '.join(p.name for p in files)}")
    return [p for _, p in sorted(zip((int(m.group(2)) for m in matches if m), files,
                                     strict=True))]


def find_subfind_files(paths_or_directory: PathLike | Iterable[PathLike]) -> list[Path]:
    """The group-catalog files of one snapshot, in chunk order.

    Args:
        paths_or_directory: a directory holding one snapshot's catalog; one file (a
            TNG chunk stands for all chunks of its snapshot next to it); or a list of
            files (TNG chunk names are sorted by chunk number, others kept in order).

    Raises:
        CatalogError: a path does not exist, the directory holds no catalog or
            several snapshots, or files of different snapshots are mixed.
    """
    if isinstance(paths_or_directory, str | os.PathLike):
        path = Path(paths_or_directory)
        if not path.exists():
            raise CatalogError(f"{path}: no such file or directory")
        files = _files_in_directory(path) if path.is_dir() else _siblings(path)
    else:
        files = [Path(p) for p in paths_or_directory]
        if not files:
            raise CatalogError("no group-catalog files given")
        for path in files:
            if not path.is_file():
                raise CatalogError(f"{path}: no such file")
    return _chunk_order(files)


# --------------------------------------------------------------------------- header


@dataclass(frozen=True)
class SubfindHeader:
    """The ``Header`` attributes of one group-catalog file.

    Attributes:
        path: the file.
        box_size: BoxSize, periodic box side in comoving ckpc/h.
        hubble: HubbleParam h.
        omega_matter, omega_lambda: Omega0, OmegaLambda.
        redshift: Redshift (tiny negative rounding set to 0).
        scale_factor: Time, a = 1 / (1 + z).
        n_files: NumFiles, chunks of the snapshot.
        n_groups_total, n_subhalos_total: Ngroups_Total, Nsubgroups_Total.
        n_groups, n_subhalos: Ngroups_ThisFile, Nsubgroups_ThisFile.
    """

    path: Path
    box_size: float
    hubble: float
    omega_matter: float
    omega_lambda: float
    redshift: float
    scale_factor: float
    n_files: int
    n_groups_total: int
    n_subhalos_total: int
    n_groups: int
    n_subhalos: int

    @property
    def shared(self) -> dict[str, float]:
        """The attributes every chunk of a snapshot must share, by header name."""
        return {"BoxSize": self.box_size, "HubbleParam": self.hubble,
                "Omega0": self.omega_matter, "OmegaLambda": self.omega_lambda,
                "Redshift": self.redshift, "Time": self.scale_factor,
                "NumFiles": self.n_files, "Ngroups_Total": self.n_groups_total,
                "Nsubgroups_Total": self.n_subhalos_total}


def _attribute(attrs: Any, name: str, path: Path) -> float:
    if name not in attrs:
        raise CatalogError(f"{path}: missing Header attribute {name!r}")
    value = np.asarray(attrs[name]).reshape(-1)
    if value.size != 1 or value.dtype.kind not in "iuf" or not np.isfinite(value[0]):
        raise CatalogError(f"{path}: Header attribute {name!r} must be one finite number, "
                           f"got {attrs[name]!r}")
    return value[0].item()


def read_subfind_header(path: PathLike) -> SubfindHeader:
    """The header of one group-catalog file, checked (finite, positive where needed).

    Raises :class:`CatalogError` naming the file and attribute.
    """
    source = Path(path)
    with open_hdf5(source) as h5:
        if not isinstance(h5.get("Header"), h5py.Group):
            raise CatalogError(f"{source}: no 'Header' group: not a Subfind group catalog "
                               f"(groups: {', '.join(h5) or 'none'})")
        attrs = h5["Header"].attrs
        values = {name: _attribute(attrs, name, source) for name in _HEADER_FLOATS + _HEADER_INTS}
    for name in _HEADER_INTS:
        if values[name] != int(values[name]) or values[name] < 0:
            raise CatalogError(f"{source}: Header attribute {name!r} must be a count >= 0, "
                               f"got {values[name]}")
    for name in ("BoxSize", "HubbleParam", "Time", "NumFiles"):
        if values[name] <= 0:
            raise CatalogError(f"{source}: Header attribute {name!r} must be > 0, "
                               f"got {values[name]}")
    if values["Redshift"] < -1e-6:
        raise CatalogError(f"{source}: Header attribute 'Redshift' is negative: "
                           f"{values['Redshift']}")
    return SubfindHeader(
        path=source, box_size=float(values["BoxSize"]), hubble=float(values["HubbleParam"]),
        omega_matter=float(values["Omega0"]), omega_lambda=float(values["OmegaLambda"]),
        redshift=max(float(values["Redshift"]), 0.0), scale_factor=float(values["Time"]),
        n_files=int(values["NumFiles"]), n_groups_total=int(values["Ngroups_Total"]),
        n_subhalos_total=int(values["Nsubgroups_Total"]),
        n_groups=int(values["Ngroups_ThisFile"]), n_subhalos=int(values["Nsubgroups_ThisFile"]),
    )


@dataclass(frozen=True)
class _Chunk:
    """One file of the snapshot and where its rows sit in the global arrays."""

    header: SubfindHeader
    group_offset: int
    subhalo_offset: int

    @property
    def path(self) -> Path:
        return self.header.path

    def groups(self) -> slice:
        return slice(self.group_offset, self.group_offset + self.header.n_groups)


def _missing_chunks(files: list[Path], n_files: int) -> str:
    """Names of the expected TNG chunk files that are absent (empty if unknown)."""
    match = _TNG_CHUNK.match(files[0].name)
    if match is None:
        return ""
    expected = {f"fof_subhalo_tab_{match.group(1)}.{k}.hdf5" for k in range(n_files)}
    absent = sorted(expected - {p.name for p in files}, key=lambda n: int(n.split(".")[1]))
    if not absent:
        return ""
    return f" (missing: {', '.join(absent[:5])}{' ...' if len(absent) > 5 else ''})"


def _chunks(files: list[Path]) -> list[_Chunk]:
    """Headers of every file, checked against each other; offsets of each chunk."""
    headers = [read_subfind_header(path) for path in files]
    first = headers[0]
    for header in headers[1:]:
        for name, value in header.shared.items():
            if value != first.shared[name]:
                raise CatalogError(f"{header.path}: Header attribute {name!r} = {value} but "
                                   f"{first.path.name} has {first.shared[name]}: chunks of "
                                   "different snapshots or runs")
    missing = _missing_chunks(files, first.n_files)
    if first.n_files != len(files) or missing:
        raise CatalogError(f"{first.path}: Header attribute 'NumFiles' = {first.n_files} but "
                           f"{len(files)} file(s) found{missing}")
    names = ", ".join(p.name for p in files[:3]) + (" ..." if len(files) > 3 else "")
    for total, this, attribute in (
        (first.n_groups_total, sum(h.n_groups for h in headers), "Ngroups"),
        (first.n_subhalos_total, sum(h.n_subhalos for h in headers), "Nsubgroups"),
    ):
        if total != this:
            raise CatalogError(f"{first.path}: Header attribute '{attribute}_Total' = {total} "
                               f"but the chunks ({names}) hold {this} in "
                               f"'{attribute}_ThisFile'")
    group_offsets = np.cumsum([0] + [h.n_groups for h in headers])
    subhalo_offsets = np.cumsum([0] + [h.n_subhalos for h in headers])
    return [_Chunk(h, int(g), int(s))
            for h, g, s in zip(headers, group_offsets, subhalo_offsets, strict=False)]
