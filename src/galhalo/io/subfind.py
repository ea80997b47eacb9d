"""IllustrisTNG / CAMELS Subfind group catalogs (HDF5) → a galhalo catalog of centrals.

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
and ``SubhaloVmax`` km/s (peculiar, physical); ``GroupVel`` km/s/a (not used);
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
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from ..catalog import Catalog, CatalogError, CatalogMeta
from ..columns import STELLAR_MASS_CUT
from ..environment import DELTA3_RADIUS, MatterTracers
from ..sim.cosmology import GRAVITATIONAL_CONSTANT
from .tables import formation_redshifts, positions_in_box

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

Progress = Callable[[str], None]
PathLike = str | os.PathLike[str]

#: Spherical-overdensity mass fields and their matching radius fields.
MASS_DEFINITIONS: dict[str, str] = {
    "Group_M_Crit200": "Group_R_Crit200",
    "Group_M_Mean200": "Group_R_Mean200",
    "Group_M_TopHat200": "Group_R_TopHat200",
}
#: log10 sSFR (1/yr) given to galaxies whose sSFR is lower, in particular SFR = 0.
#: A choice, not a published convention: below every star-forming TNG300 central
#: (1st percentile about -14.6) and inside the schema bounds [-25, -5].
DEFAULT_SSFR_FLOOR = -16.0
#: Particle type of stars in the ``...Type`` fields (0 gas, 1 DM, 4 stars, 5 BHs).
STAR_TYPE = 4
#: Band order of ``SubhaloStellarPhotometrics``.
PHOTOMETRIC_BANDS: tuple[str, ...] = ("U", "B", "V", "K", "g", "r", "i", "z")
#: 1e10 Msun/h: the code mass unit.
MASS_UNIT = 1e10
#: ckpc/h per Mpc/h.
KPC_PER_MPC = 1000.0

_TNG_CHUNK = re.compile(r"^fof_subhalo_tab_(\d+)\.(\d+)\.hdf5$")
_SINGLE_FILE = re.compile(r"^(?:groups|fof_subhalo_tab)_(\d+)\.hdf5$")
_HEADER_FLOATS = ("BoxSize", "HubbleParam", "Omega0", "OmegaLambda", "Redshift", "Time")
_HEADER_INTS = ("NumFiles", "Ngroups_Total", "Nsubgroups_Total",
                "Ngroups_ThisFile", "Nsubgroups_ThisFile")
#: Header attributes every chunk must share.
_SHARED = ("BoxSize", "HubbleParam", "Omega0", "OmegaLambda", "Redshift", "Time",
           "NumFiles", "Ngroups_Total", "Nsubgroups_Total")


# --------------------------------------------------------------------------- formulas


def virial_velocity(mass: np.ndarray, radius: np.ndarray, scale_factor: float) -> np.ndarray:
    """Circular velocity at the halo boundary, sqrt(G M / R_phys), in km/s.

    Args:
        mass: shape (n,), M_Δ in 1e10 Msun/h (> 0).
        radius: shape (n,), R_Δ in comoving ckpc/h (> 0); made physical by a.
        scale_factor: a = 1 / (1 + z).
    """
    return np.sqrt(GRAVITATIONAL_CONSTANT * mass * MASS_UNIT / (scale_factor * radius))


def bullock_spin(spin: np.ndarray, velocity: np.ndarray, radius: np.ndarray,
                 scale_factor: float) -> np.ndarray:
    """Bullock et al. (2001) spin λ' = |j| / (sqrt(2) V_Δ R_Δ,phys), dimensionless.

    Args:
        spin: shape (n, 3), specific angular momentum in physical (kpc/h)(km/s)
            (``SubhaloSpin``).
        velocity: shape (n,), V_Δ in km/s (:func:`virial_velocity`).
        radius: shape (n,), R_Δ in comoving ckpc/h; made physical by a.
        scale_factor: a = 1 / (1 + z).
    """
    return np.linalg.norm(spin, axis=1) / (np.sqrt(2.0) * velocity * scale_factor * radius)


def specific_sfr(sfr: np.ndarray, stellar_mass: np.ndarray, hubble: float,
                 floor: float) -> tuple[np.ndarray, int, int]:
    """log10 of SFR / M* in 1/yr, raised to ``floor`` where lower (or SFR = 0).

    Args:
        sfr: shape (n,), star-formation rate in Msun/yr (>= 0).
        stellar_mass: shape (n,), M* in 1e10 Msun/h (> 0); divided by h to get Msun.
        hubble: h = H0 / (100 km/s/Mpc).
        floor: log10 sSFR (1/yr) given to every value below it.

    Returns:
        (sSFR shape (n,), number with SFR = 0, number raised to the floor, zeros included).
    """
    with np.errstate(divide="ignore"):
        ssfr = np.log10(sfr / (stellar_mass * MASS_UNIT / hubble))
    floored = ssfr < floor
    ssfr[floored] = floor
    return ssfr, int((sfr == 0).sum()), int(floored.sum())


# --------------------------------------------------------------------------- files


def _snapshot_of(path: Path) -> int | None:
    match = _TNG_CHUNK.match(path.name) or _SINGLE_FILE.match(path.name)
    return int(match.group(1)) if match else None


def _files_in_directory(directory: Path) -> list[Path]:
    """The files of the one snapshot stored in ``directory``."""
    candidates = sorted(p for p in directory.iterdir()
                        if p.is_file() and (_TNG_CHUNK.match(p.name) or _SINGLE_FILE.match(p.name)))
    if not candidates:
        raise CatalogError(f"{directory}: no Subfind group catalog in this directory (expected "
                           "fof_subhalo_tab_NNN.K.hdf5 chunks or one groups_NNN.hdf5)")
    layouts = {(_snapshot_of(p), bool(_TNG_CHUNK.match(p.name))) for p in candidates}
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


@contextmanager
def open_hdf5(path: Path) -> Iterator[h5py.File]:
    """``path`` opened read-only; a :class:`CatalogError` naming it if it is not HDF5."""
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise CatalogError(f"{path}: not a readable HDF5 file ({err})") from None
    with handle:
        yield handle


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


# --------------------------------------------------------------------------- fields


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
    """

    first_sub: np.ndarray
    position: np.ndarray
    mass: np.ndarray
    halo_mass: np.ndarray
    halo_radius: np.ndarray


def _read_groups(chunks: list[_Chunk], mass_field: str, say: Progress) -> _Groups:
    """Every group's first subhalo, position, mass and M_Δ, R_Δ, checked, chunk by chunk."""
    total = chunks[0].header.n_groups_total
    n_subhalos = chunks[0].header.n_subhalos_total
    groups = _Groups(np.empty(total, np.int64), np.empty((total, 3)), np.empty(total),
                     np.empty(total), np.empty(total))
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


def _select_rows(h5: h5py.File, chunk: _Chunk, groups: _Groups, options: _Options
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, _Counts]:
    """The chunk's selected centrals: local rows, group indices, M* (1e10 Msun/h); counts."""
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
    resolved = (groups.halo_mass[group_number] > 0) & (groups.halo_radius[group_number] > 0)
    counts = _Counts(int(central.sum()), int((central & ~above).sum()),
                     int((central & above & ~resolved).sum()))
    keep = np.flatnonzero(central & above & resolved)
    return keep, group_number[keep], stellar[keep], counts


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
    with_subhalos = int((groups.first_sub >= 0).sum())
    if counts.centrals != with_subhalos:
        raise CatalogError(f"{chunks[0].path}: {with_subhalos} groups have a GroupFirstSub but "
                           f"only {counts.centrals} subhalos point back to their group with "
                           "SubhaloGrNr: inconsistent Group/GroupFirstSub and Subhalo/SubhaloGrNr")
    if not parts:
        return {}, counts
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}, counts


# --------------------------------------------------------------------------- assembly


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
                   sfr_floor: float, formation_table: Any, sublink: Any) -> _Options:
    if mass_definition not in MASS_DEFINITIONS:
        raise ValueError(f"mass_definition {mass_definition!r} is not one of "
                         f"{', '.join(MASS_DEFINITIONS)}")
    for name, value in (("stellar_mass_min", stellar_mass_min), ("sfr_floor", sfr_floor)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not -25.0 <= sfr_floor <= -5.0:
        raise ValueError(f"sfr_floor {sfr_floor} must be a log10 sSFR in 1/yr within "
                         "[-25, -5] (the schema bounds of sSFR)")
    if not stellar_mass_field or "/" in stellar_mass_field:
        raise ValueError(f"stellar_mass_field must be a Subhalo field name such as "
                         f"SubhaloMassType, got {stellar_mass_field!r}")
    if formation_table is not None and sublink is not None:
        raise ValueError("give formation_table or sublink, not both")
    return _Options(mass_definition, float(stellar_mass_min), stellar_mass_field,
                    float(sfr_floor))


def _formation(ids: np.ndarray, files: list[Path], formation_table: PathLike | None,
               sublink: Any, say: Progress) -> tuple[np.ndarray | None, dict[str, Any]]:
    """z_h of the selected centrals and a description of its source (None: no z_h)."""
    if formation_table is not None:
        say(f"z_h from side table {formation_table}")
        return formation_redshifts(formation_table, ids), {"z_h_source": str(formation_table)}
    if sublink is not None:
        from .merger_trees import formation_redshifts_sublink

        values, info = formation_redshifts_sublink(sublink, ids, _snapshot_of(files[0]), say)
        return values, info
    say("no formation_table or sublink trees: the catalog has no z_h column")
    return None, {"z_h_source": None}


def ingest_subfind(
    paths_or_directory: PathLike | Iterable[PathLike],
    *,
    mass_definition: str = "Group_M_Crit200",
    stellar_mass_min: float = STELLAR_MASS_CUT,
    stellar_mass_field: str = "SubhaloMassType",
    sfr_floor: float = DEFAULT_SSFR_FLOOR,
    formation_table: PathLike | None = None,
    sublink: Any = None,
    progress: Progress | None = None,
) -> Catalog:
    """Central galaxies of a Subfind group catalog (IllustrisTNG / CAMELS) as a catalog.

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
            :func:`galhalo.io.tables.formation_redshifts`).
        sublink: a :class:`galhalo.io.merger_trees.SubLinkTrees` to compute z_h from
            SubLink merger trees.
        progress: callback receiving one short message per stage.

    Returns:
        Catalog (validated) of the selected centrals in global subhalo order: columns
        ``halo_id, group_id, M_h, C_h, S_h, [z_h,] Delta3_h, smass, color, sSFR,
        radius, x, y, z, vx, vy, vz`` (units in the module docstring); metadata: box
        size (Mpc/h), redshift, cosmology from the header, source files, and in
        ``extra`` the options and counts (centrals, cuts, floors).

    Raises:
        CatalogError: naming the file and field for a missing file, header attribute or
            field, chunk counts that disagree (NumFiles vs files, totals vs chunks,
            dataset lengths), NaN/inf or negative masses, positions outside BoxSize,
            inconsistent group/subhalo links, or an empty selection.
        ValueError: an option out of range.
    """
    say = progress or (lambda message: None)
    options = _check_options(mass_definition, stellar_mass_min, stellar_mass_field, sfr_floor,
                             formation_table, sublink)
    files = find_subfind_files(paths_or_directory)
    chunks = _chunks(files)
    header = chunks[0].header
    say(f"{len(files)} file(s): {header.n_groups_total:,} groups, "
        f"{header.n_subhalos_total:,} subhalos, z = {header.redshift:.4g}, "
        f"box {header.box_size / KPC_PER_MPC:g} Mpc/h")
    groups = _read_groups(chunks, options.mass_definition, say)
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
    say(f"Delta3_h: {len(table):,} centres among {len(groups.mass):,} groups")
    table["Delta3_h"] = _environment(groups, raw["position"], header)
    z_h, formation_info = _formation(raw["subhalo_id"], files, formation_table, sublink, say)
    if z_h is not None:
        table.insert(table.columns.get_loc("Delta3_h"), "z_h", z_h)
    extra = {
        "format": "subfind",
        "snapshot": _snapshot_of(files[0]),
        "source_files": [str(p) for p in files],
        "scale_factor": header.scale_factor,
        "mass_definition": options.mass_definition,
        "radius_definition": MASS_DEFINITIONS[options.mass_definition],
        "stellar_mass_field": options.stellar_mass_field,
        "stellar_mass_min": options.stellar_mass_min,
        "sfr_floor": options.sfr_floor,
        "delta3_tracers": "all FoF groups (GroupPos), weighted by GroupMass",
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
        },
    }
    meta = CatalogMeta(
        box_size=header.box_size / KPC_PER_MPC, redshift=header.redshift,
        cosmology={"name": "Subfind header", "Om0": header.omega_matter,
                   "Ode0": header.omega_lambda, "H0": 100.0 * header.hubble},
        source=source, extra=extra)
    catalog = Catalog(table, meta)
    catalog.validate(source=source)
    say(f"done: {len(catalog):,} centrals")
    return catalog
