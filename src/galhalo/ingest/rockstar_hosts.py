"""Pass 1 of the Rockstar hlist ingest: the options, the line checks and the host table.

Every line of the file is read and checked (:func:`read_hosts`); each host keeps its
id, Mvir, position, velocity, Rvir and derived ``M_h, C_h, S_h, z_h`` (about 100 bytes
per host), each sub-halo its id and host id (17 bytes). Then, with the whole file seen:
repeated ids, sub-halos whose host is missing or is a sub-halo itself, the mass cut,
``N_sat`` and ``Delta3_h`` (periodic KD-tree over all hosts weighted by Mvir). The
result, :class:`HostTable`, holds the kept hosts sorted by id for pass 2
(:mod:`galhalo.ingest.rockstar`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..catalog import CatalogError
from ..environment import DELTA3_RADIUS, MatterTracers
from .common import Progress, positions_in_box
from .halo_properties import KPC_PER_MPC, MASS_UNIT, bullock_spin, virial_velocity
from .rockstar_files import HlistHeader, read_chunks

__all__ = [
    "POSITION_COLUMNS",
    "ROLE_COLUMNS",
    "VELOCITY_COLUMNS",
    "HostTable",
    "RockstarOptions",
    "columns_to_read",
    "read_hosts",
    "rockstar_options",
    "wrapped_positions",
]

_REQUIRED = ("id", "upid", "mvir", "rvir", "vmax", "x", "y", "z", "vx", "vy", "vz")
#: Columns used by hosts only or by sub-halos only: NaN is allowed on the other rows.
ROLE_COLUMNS = ("mpeak", "vpeak", "acc_scale", "halfmass_scale", "spin_bullock",
                "jx", "jy", "jz")
#: hlist position and velocity columns (comoving Mpc/h; physical peculiar km/s).
POSITION_COLUMNS, VELOCITY_COLUMNS = ("x", "y", "z"), ("vx", "vy", "vz")


@dataclass(frozen=True)
class RockstarOptions:
    """Checked options of one ingest (:func:`rockstar_options`).

    Attributes:
        box_size: periodic box side, Mpc/h. min_mass: cut, log10(Msun/h), or None.
        drop_orphans: drop sub-halos without their host instead of refusing the file.
        chunk_rows: lines per chunk. redshift, scale_factor: of the snapshot.
        satellites: write the sub-halo rows too (host structure and sub-halo columns);
            without, one row per host halo (``N_sat`` still counts its sub-halos).
    """

    box_size: float
    min_mass: float | None
    drop_orphans: bool
    chunk_rows: int
    redshift: float
    scale_factor: float
    satellites: bool = True


def _refuse(header: HlistHeader, bad: np.ndarray, start: int, column: str, what: str,
            values: np.ndarray) -> None:
    """Raise naming the first line where ``bad`` (rows of one chunk) is true."""
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise CatalogError(f"{header.path}: line {header.line(start + row)}: column "
                           f"{header.name_of(column)!r} = {values[row]:.6g}: {what} "
                           f"({int(bad.sum())} such lines among lines {header.line(start)}-"
                           f"{header.line(start + len(bad) - 1)})")


# --------------------------------------------------------------------------- columns


def columns_to_read(header: HlistHeader, min_mass: float | None
                    ) -> tuple[list[str], dict[str, Any]]:
    """The columns to read, and where S_h and z_h come from (for the metadata).

    Raises:
        CatalogError: a required column is missing (all named, with the file's names),
            no spin source, or ``min_mass`` without ``Mpeak``.
    """
    have = header.columns
    missing = [name for name in _REQUIRED if name not in have]
    if missing:
        raise CatalogError(f"{header.path}: the header lacks the columns {', '.join(missing)} "
                           f"(names matched ignoring case and '(N)'; the file has: "
                           f"{', '.join(header.names)})")
    names = list(_REQUIRED)
    if "spin_bullock" in have:
        names.append("spin_bullock")
        spin = "Spin_Bullock"
    elif {"jx", "jy", "jz"} <= set(have):
        names += ["jx", "jy", "jz"]
        spin = "|J| / (sqrt(2) Mvir V_vir a Rvir) from Jx, Jy, Jz"
    else:
        raise CatalogError(f"{header.path}: S_h needs column Spin_Bullock, or Jx, Jy, Jz to "
                           "compute it; the header has neither")
    optional = [name for name in ("halfmass_scale", "mpeak", "vpeak", "acc_scale", "scale")
                if name in have]
    if min_mass is not None and "mpeak" not in have:
        raise CatalogError(f"{header.path}: --min-mass cuts sub-halos on Mpeak, which the "
                           "header lacks")
    sources = {"S_h_source": spin,
               "z_h_source": "Halfmass_Scale" if "halfmass_scale" in have else None,
               "absent_columns": [name for name in ("Halfmass_Scale", "Mpeak", "Vpeak",
                                                    "Acc_Scale") if name.lower() not in have]}
    return names + optional, sources


def _check_chunk(header: HlistHeader, values: dict[str, np.ndarray], start: int,
                 options: RockstarOptions) -> None:
    """Line-level checks of pass 1: ids, masses, radii, scales, positions."""
    host = values["upid"] == -1
    _refuse(header, values["id"] < 0, start, "id", "ids must be >= 0", values["id"])
    _refuse(header, (values["upid"] < -1), start, "upid", "must be -1 (host) or a halo id",
            values["upid"])
    for column in ("mvir", "rvir", "vmax"):
        _refuse(header, values[column] <= 0, start, column, "must be > 0", values[column])
    sub = ~host
    roles = {"mpeak": sub, "vpeak": sub, "acc_scale": sub, "halfmass_scale": host}
    for column, rows in roles.items():
        if column in values:
            _refuse(header, rows & ~(values[column] > 0), start, column,
                    "must be finite and > 0", values[column])
    if "spin_bullock" in values:
        _refuse(header, host & ~(values["spin_bullock"] >= 0), start, "spin_bullock",
                "a spin must be finite and >= 0", values["spin_bullock"])
    for column in ("jx", "jy", "jz"):
        if column in values:
            _refuse(header, host & ~np.isfinite(values[column]), start, column,
                    "must be finite", values[column])
    if "scale" in values:
        a = options.scale_factor
        _refuse(header, np.abs(values["scale"] - a) > 1e-3 * a, start, "scale",
                f"differs from the snapshot's a = {a:g}: one snapshot per hlist file "
                "(a merger-tree file?)", values["scale"])
    box = options.box_size
    for column in POSITION_COLUMNS:
        _refuse(header, (values[column] < 0) | (values[column] > box), start, column,
                f"outside the box [0, {box:g}] Mpc/h: the box size (header 'Full box "
                "size' or --box) disagrees with the positions", values[column])


def wrapped_positions(values: dict[str, np.ndarray], box: float, where: str) -> np.ndarray:
    """Shape (n, 3) positions wrapped into [0, box) (already checked against the box)."""
    position = np.column_stack([values[c] for c in POSITION_COLUMNS])
    return positions_in_box(position, box, where) if len(position) else position


def _host_properties(values: dict[str, np.ndarray], a: float, z_snapshot: float
                     ) -> dict[str, np.ndarray]:
    """M_h, C_h, S_h (and z_h) of the rows given (hosts), from their hlist columns."""
    mvir, rvir = values["mvir"], values["rvir"]
    velocity = virial_velocity(mvir / MASS_UNIT, rvir, a)
    if "spin_bullock" in values:
        spin = values["spin_bullock"]
    else:
        angular = np.column_stack([values[c] for c in ("jx", "jy", "jz")])
        spin = bullock_spin(angular * KPC_PER_MPC / mvir[:, None], velocity, rvir, a)
    props = {"M_h": np.log10(mvir), "C_h": values["vmax"] / velocity, "S_h": spin}
    if "halfmass_scale" in values:
        props["z_h"] = np.maximum(1.0 / values["halfmass_scale"] - 1.0, z_snapshot)
    return props


# --------------------------------------------------------------------------- pass 1


@dataclass
class HostTable:
    """The kept hosts sorted by id, with what their rows and their sub-halos need.

    Attributes:
        ids: shape (n,) int64 host ids, sorted.
        props: column name -> shape (n,): ``M_h, C_h, S_h, [z_h,] Delta3_h, N_sat``.
        position: shape (n, 3) comoving Mpc/h in [0, box). velocity: (n, 3) km/s.
        radius: shape (n,) Rvir in comoving Mpc/h.
    """

    ids: np.ndarray
    props: dict[str, np.ndarray]
    position: np.ndarray
    velocity: np.ndarray
    radius: np.ndarray

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index into the table, found) for each host id in ``keys``."""
        if len(self.ids) == 0:
            return np.zeros(len(keys), np.int64), np.zeros(len(keys), bool)
        index = np.minimum(np.searchsorted(self.ids, keys), len(self.ids) - 1)
        return index, self.ids[index] == keys


@dataclass
class _Pass1:
    hosts: dict[str, list[np.ndarray]] = field(default_factory=dict)
    sub_id: list[np.ndarray] = field(default_factory=list)
    sub_host: list[np.ndarray] = field(default_factory=list)
    sub_cut: list[np.ndarray] = field(default_factory=list)
    rows: int = 0

    def add_host(self, name: str, values: np.ndarray) -> None:
        self.hosts.setdefault(name, []).append(values)

    def take(self, name: str) -> np.ndarray:
        """One host column, concatenated (its pieces freed)."""
        pieces = self.hosts.pop(name)
        return np.concatenate(pieces) if pieces else np.empty(0)


def _first_pass(header: HlistHeader, names: list[str], options: RockstarOptions,
                say: Progress) -> _Pass1:
    """Read and check every line; keep the host columns and the sub-halo links."""
    found = _Pass1()
    a, z_snapshot = options.scale_factor, options.redshift
    for chunk in read_chunks(header, names, options.chunk_rows, check_fields=True,
                             nan_ok=ROLE_COLUMNS):
        values = chunk.values
        _check_chunk(header, values, chunk.start, options)
        host = values["upid"] == -1
        hosts = {name: array[host] for name, array in values.items()}
        found.add_host("id", hosts["id"])
        found.add_host("mvir", hosts["mvir"])
        found.add_host("rvir", hosts["rvir"] / KPC_PER_MPC)
        found.add_host("position", wrapped_positions(hosts, options.box_size,
                                                     str(header.path)))
        found.add_host("velocity", np.column_stack([hosts[c] for c in VELOCITY_COLUMNS]))
        for name, array in _host_properties(hosts, a, z_snapshot).items():
            found.add_host(name, array)
        sub = ~host
        found.sub_id.append(values["id"][sub])
        found.sub_host.append(values["upid"][sub])
        if options.min_mass is not None:
            found.sub_cut.append(np.log10(values["mpeak"][sub]) >= options.min_mass)
        found.rows += len(chunk)
        if found.rows // 5_000_000 != (found.rows - len(chunk)) // 5_000_000:
            say(f"pass 1: {found.rows:,} lines read")
    if found.rows == 0:
        raise CatalogError(f"{header.path}: no halos: no data line after the header")
    return found


def _repeated_ids(ids: np.ndarray, path: Path) -> None:
    ordered = np.sort(ids)
    repeated = ordered[1:] == ordered[:-1]
    if repeated.any():
        raise CatalogError(f"{path}: {int(repeated.sum())} halo ids appear more than once "
                           f"(first: id {int(ordered[1:][repeated][0])})")


def _link_subhalos(found: _Pass1, host_ids: np.ndarray, header: HlistHeader,
                   options: RockstarOptions) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(host index, kept by their own cut and present host) of every sub-halo, counts."""
    sub_id = np.concatenate(found.sub_id) if found.sub_id else np.empty(0, np.int64)
    sub_host = np.concatenate(found.sub_host) if found.sub_host else np.empty(0, np.int64)
    _repeated_ids(np.concatenate([host_ids, sub_id]), header.path)
    if len(host_ids):
        index = np.minimum(np.searchsorted(host_ids, sub_host), len(host_ids) - 1)
        present = host_ids[index] == sub_host
    else:
        index, present = np.zeros(len(sub_host), np.int64), np.zeros(len(sub_host), bool)
    absent = ~present
    if absent.any():
        sub_of_sub = np.isin(sub_host[absent], sub_id)
        first = int(np.flatnonzero(absent)[0])
        if sub_of_sub.any():
            row = int(np.flatnonzero(absent)[np.argmax(sub_of_sub)])
            raise CatalogError(f"{header.path}: sub-halo id {int(sub_id[row])} has "
                               f"{header.name_of('upid')} {int(sub_host[row])}, which is a "
                               "sub-halo, not a host (upid must name a halo with upid = -1)")
        if not options.drop_orphans:
            raise CatalogError(
                f"{header.path}: {int(absent.sum())} sub-halos have a "
                f"{header.name_of('upid')} that is no halo of the file (first: id "
                f"{int(sub_id[first])}, upid {int(sub_host[first])}); a partial catalog? "
                "drop them with --drop-orphans")
    own_cut = (np.concatenate(found.sub_cut) if options.min_mass is not None
               else np.ones(len(sub_id), bool))
    counts = {"orphans_dropped": int(absent.sum()),
              "subhalos_below_cut": int((present & ~own_cut).sum())}
    return index, present & own_cut, counts


def _build_hosts(found: _Pass1, header: HlistHeader, options: RockstarOptions,
                 say: Progress) -> tuple[HostTable, dict[str, int]]:
    """The kept-host table (sorted by id) with Delta3_h and N_sat; and the counts."""
    ids = found.take("id")
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    position = found.take("position").reshape(-1, 3)[order]
    mass = found.take("mvir")[order]
    index, candidate, counts = _link_subhalos(found, ids, header, options)
    kept = (np.ones(len(ids), bool) if options.min_mass is None
            else np.log10(mass) >= options.min_mass)
    kept_subs = candidate & kept[index]
    counts = {"lines": found.rows, "hosts": len(ids), "subhalos": found.rows - len(ids),
              "hosts_below_cut": int((~kept).sum()), **counts,
              "subhalos_of_hosts_below_cut": int((candidate & ~kept[index]).sum()),
              "hosts_kept": int(kept.sum()), "subhalos_kept": int(kept_subs.sum())}
    counts["selected"] = counts["hosts_kept"] + counts["subhalos_kept"]
    if counts["selected"] == 0:
        raise CatalogError(f"{header.path}: no halo passes the cut: {len(ids):,} hosts, all "
                           f"with log10 Mvir < --min-mass {options.min_mass:g}")
    if options.box_size <= 2 * DELTA3_RADIUS:
        raise CatalogError(f"{header.path}: box {options.box_size:g} Mpc/h: Delta3_h needs "
                           f"a box larger than {2 * DELTA3_RADIUS:g} Mpc/h")
    say(f"Delta3_h: {counts['hosts_kept']:,} hosts among {len(ids):,} host tracers")
    delta3 = MatterTracers(position, options.box_size, mass).overdensity(
        position[kept], DELTA3_RADIUS)
    del mass
    n_sat = np.bincount(index[kept_subs], minlength=len(ids))[kept]
    props = {name: found.take(name)[order][kept]
             for name in ("M_h", "C_h", "S_h", "z_h") if name in found.hosts}
    props["Delta3_h"] = delta3
    props["N_sat"] = n_sat.astype(np.int64)
    hosts = HostTable(ids=ids[kept], props=props, position=position[kept],
                      velocity=found.take("velocity").reshape(-1, 3)[order][kept],
                      radius=found.take("rvir")[order][kept])
    return hosts, counts


def rockstar_options(header: HlistHeader, box_size: float | None, min_mass: float | None,
                     drop_orphans: bool, chunk_rows: int, satellites: bool = True
                     ) -> RockstarOptions:
    """The options checked against each other and the header (box size, scale factor).

    Raises:
        CatalogError: naming the option, or the file when the header lacks the box size
            (and no ``box_size``) or a usable scale factor, or disagrees with ``box_size``.
    """
    path = header.path
    for name, value in (("box_size", box_size), ("min_mass", min_mass)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not np.isfinite(value)):
            raise CatalogError(f"{name} must be a finite number, got {value!r}")
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise CatalogError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    if box_size is not None and box_size <= 0:
        raise CatalogError(f"box_size (--box) must be > 0 Mpc/h, got {box_size}")
    box = header.box_size if box_size is None else float(box_size)
    if box is None:
        raise CatalogError(f"{path}: the header has no '#Full box size = ... Mpc/h' line: "
                           "pass the box side in Mpc/h (--box)")
    if header.box_size is not None and not np.isclose(box, header.box_size, rtol=1e-6):
        raise CatalogError(f"{path}: box_size (--box) = {box:g} Mpc/h disagrees with the "
                           f"header's 'Full box size' = {header.box_size:g} Mpc/h")
    a = header.scale_factor
    if a is None or not (0 < a <= 1.5):
        raise CatalogError(f"{path}: no usable scale factor (header '#a = ...' or column "
                           f"'scale'; got {a}): the snapshot's a in (0, 1.5] is needed")
    return RockstarOptions(
        box_size=box, min_mass=None if min_mass is None else float(min_mass),
        drop_orphans=bool(drop_orphans), chunk_rows=chunk_rows,
        redshift=max(1.0 / a - 1.0, 0.0), scale_factor=a,
        satellites=bool(satellites))


def read_hosts(header: HlistHeader, names: list[str], options: RockstarOptions,
               say: Progress) -> tuple[HostTable, dict[str, int]]:
    """Pass 1: every line read and checked; the kept hosts and the counts.

    Args:
        header: the file's header. names: columns to read (:func:`columns_to_read`).
        options: from :func:`rockstar_options`. say: progress callback.

    Returns:
        (:class:`HostTable`, counts: ``lines, hosts, subhalos, hosts_below_cut,
        orphans_dropped, subhalos_below_cut, subhalos_of_hosts_below_cut, hosts_kept,
        subhalos_kept, selected``).

    Raises:
        CatalogError: naming the file and the line or the id (see
            :func:`galhalo.ingest.stream_rockstar`).
    """
    return _build_hosts(_first_pass(header, names, options, say), header, options, say)
