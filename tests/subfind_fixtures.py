"""Small Subfind group catalogs in the IllustrisTNG / CAMELS HDF5 layout, made by the tests.

:func:`make_snapshot` draws a seeded fake snapshot in memory (code units: masses
1e10 Msun/h, lengths ckpc/h, velocities km/s, stored as float32/int32 like Arepo);
:func:`write_snapshot` writes it as ``fof_subhalo_tab_NNN.K.hdf5`` chunks (any split of
groups and subhalos, chunk boundaries need not coincide) or as one CAMELS
``groups_NNN.hdf5``. :func:`write_sublink` writes matching SubLink tree files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

#: Mean density 200 x critical in (Msun/h) / (ckpc/h)^3 (rho_crit = 277.5 h^2 Msun/kpc^3).
RHO_200C = 200 * 277.5


@dataclass
class Snapshot:
    """One snapshot's group catalog in memory: header attributes and the datasets."""

    header: dict[str, float]
    group: dict[str, np.ndarray] = field(default_factory=dict)
    subhalo: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_groups(self) -> int:
        return len(self.group["GroupFirstSub"])

    @property
    def n_subhalos(self) -> int:
        return len(self.subhalo["SubhaloGrNr"])


def _header(box: float, redshift: float, hubble: float) -> dict[str, float]:
    return {"BoxSize": box, "HubbleParam": hubble, "Omega0": 0.3089, "OmegaLambda": 0.6911,
            "Redshift": redshift, "Time": 1.0 / (1.0 + redshift)}


def make_snapshot(n_groups: int = 300, *, box: float = 20_000.0, redshift: float = 0.0,
                  hubble: float = 0.6774, seed: int = 0) -> Snapshot:
    """A random snapshot: groups with 0-3 subhalos each, subhalos ordered by group.

    Some groups have no subhalo (GroupFirstSub = -1), some M200 = 0, some centrals fall
    below the stellar-mass cut, about a fifth of the subhalos have SFR = 0.
    """
    rng = np.random.default_rng(seed)
    a = 1.0 / (1.0 + redshift)
    n_subs = rng.choice([0, 1, 2, 3], size=n_groups, p=[0.1, 0.5, 0.25, 0.15])
    first = np.where(n_subs > 0, np.cumsum(n_subs) - n_subs, -1)
    group_number = np.repeat(np.arange(n_groups), n_subs)
    n_sub = int(n_subs.sum())

    m200 = 10 ** rng.uniform(0.3, 3.5, n_groups)
    m200[rng.random(n_groups) < 0.05] = 0.0
    r200 = (3 * m200 * 1e10 / (4 * np.pi * RHO_200C)) ** (1 / 3) / a
    group_pos = rng.uniform(0, box, (n_groups, 3))
    group = {
        "GroupFirstSub": first.astype(np.int32),
        "GroupNsubs": n_subs.astype(np.int32),
        "GroupPos": group_pos,
        "GroupVel": rng.normal(0, 300, (n_groups, 3)) / a,
        "GroupMass": 1.3 * m200 + 10 ** rng.uniform(-1, 0, n_groups),
        "Group_M_Crit200": m200,
        "Group_R_Crit200": r200,
        "Group_M_Mean200": 1.2 * m200,
        "Group_R_Mean200": 1.6 * r200,
        "Group_M_TopHat200": 1.1 * m200,
        "Group_R_TopHat200": 1.3 * r200,
    }
    offset = rng.normal(0, 50, (n_sub, 3)) * (np.arange(n_sub) != first[group_number])[:, None]
    velocity = np.sqrt(4.30091e-6 * np.maximum(m200, 1) * 1e10 / (a * r200.clip(1)))
    direction = rng.normal(size=(n_sub, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    mass_type = np.zeros((n_sub, 6))
    mass_type[:, 1] = 10 ** rng.uniform(-1, 3, n_sub)
    mass_type[:, 4] = 10 ** rng.normal(-0.5, 0.8, n_sub)
    sfr = np.where(rng.random(n_sub) < 0.2, 0.0, 10 ** rng.normal(-0.5, 1.0, n_sub))
    sfr[rng.random(n_sub) < 0.03] = 1e-9  # star forming, but below the sSFR floor
    half = np.zeros((n_sub, 6))
    half[:, 1] = 10 ** rng.uniform(1, 2, n_sub)
    half[:, 4] = 10 ** rng.normal(0.5, 0.2, n_sub)
    photometrics = rng.normal(-20, 1, (n_sub, 8))
    photometrics[:, 6] = photometrics[:, 4] - rng.normal(0.7, 0.25, n_sub)
    subhalo = {
        "SubhaloGrNr": group_number.astype(np.int32),
        "SubhaloMass": mass_type.sum(axis=1),
        "SubhaloMassType": mass_type,
        "SubhaloMassInRadType": 0.6 * mass_type,
        "SubhaloPos": np.mod(group_pos[group_number] + offset, box),
        "SubhaloVel": rng.normal(0, 300, (n_sub, 3)),
        "SubhaloSpin": direction * (10 ** rng.normal(-1.4, 0.3, n_sub) * np.sqrt(2)
                                    * velocity[group_number] * a * r200[group_number])[:, None],
        "SubhaloVmax": velocity[group_number] * 10 ** rng.normal(0.0, 0.07, n_sub),
        "SubhaloHalfmassRadType": half,
        "SubhaloSFR": sfr,
        "SubhaloStellarPhotometrics": photometrics,
    }
    snap = Snapshot(_header(box, redshift, hubble), group, subhalo)
    return as_stored(snap)


def as_stored(snap: Snapshot) -> Snapshot:
    """The snapshot with every float field cast to float32 (as Arepo stores them)."""
    for table in (snap.group, snap.subhalo):
        for name, values in table.items():
            if values.dtype.kind == "f":
                table[name] = values.astype(np.float32)
    return snap


def _splits(total: int, counts: list[int] | None, n_files: int) -> list[int]:
    if counts is None:
        base = [total // n_files] * n_files
        base[-1] += total - sum(base)
        return base
    assert sum(counts) == total, (counts, total)
    return counts


def write_snapshot(snap: Snapshot, directory: Path, *, snapshot: int = 99, n_files: int = 3,
                   group_counts: list[int] | None = None,
                   subhalo_counts: list[int] | None = None,
                   layout: str = "tng") -> list[Path]:
    """Write ``snap`` as TNG chunks (``layout="tng"``) or one CAMELS file; the paths.

    ``group_counts`` / ``subhalo_counts``: rows per chunk (default: equal splits). A
    chunk with no rows of a kind gets no datasets of that kind (as in TNG).
    """
    directory.mkdir(parents=True, exist_ok=True)
    if layout == "camels":
        n_files = 1
    groups = _splits(snap.n_groups, group_counts, n_files)
    subhalos = _splits(snap.n_subhalos, subhalo_counts, n_files)
    g_start = np.cumsum([0, *groups])
    s_start = np.cumsum([0, *subhalos])
    paths = []
    for k in range(n_files):
        name = (f"groups_{snapshot:03d}.hdf5" if layout == "camels"
                else f"fof_subhalo_tab_{snapshot:03d}.{k}.hdf5")
        path = directory / name
        with h5py.File(path, "w") as h5:
            header = h5.create_group("Header")
            for key, value in snap.header.items():
                header.attrs[key] = np.float64(value)
            header.attrs["Ngroups_ThisFile"] = np.int32(groups[k])
            header.attrs["Nsubgroups_ThisFile"] = np.int32(subhalos[k])
            header.attrs["Ngroups_Total"] = np.int32(snap.n_groups)
            header.attrs["Nsubgroups_Total"] = np.int32(snap.n_subhalos)
            header.attrs["NumFiles"] = np.int32(n_files)
            for name_, table, count, start in (("Group", snap.group, groups[k], g_start[k]),
                                              ("Subhalo", snap.subhalo, subhalos[k], s_start[k])):
                target = h5.create_group(name_)
                if count:
                    for key, values in table.items():
                        target.create_dataset(key, data=values[start:start + count])
        paths.append(path)
    return paths


def edit(path: Path, field: str, value: np.ndarray | None = None) -> None:
    """Replace (or with ``value=None`` delete) dataset ``field`` of a written file."""
    with h5py.File(path, "r+") as h5:
        del h5[field]
        if value is not None:
            h5.create_dataset(field, data=value)


def set_attribute(path: Path, name: str, value: object | None) -> None:
    """Set (or with ``None`` delete) a ``Header`` attribute of a written file."""
    with h5py.File(path, "r+") as h5:
        if value is None:
            del h5["Header"].attrs[name]
        else:
            h5["Header"].attrs[name] = value


@dataclass
class History:
    """What a satellite-aware SubLink branch holds beside SnapNum and SubhaloMass.

    One entry per branch row (now first): ``dm_mass`` (SubhaloMassType column 1, 1e10
    Msun/h), ``vmax`` (SubhaloVmax, km/s), ``central`` (FirstSubhaloInFOFGroupID ==
    SubhaloID).
    """

    dm_mass: list[float]
    vmax: list[float]
    central: list[bool]


def write_sublink(path: Path, branches: dict[int, tuple[list[int], list[float]]],
                  snapshot: int = 99, extra_rows: int = 2,
                  history: dict[int, History] | None = None) -> Path:
    """One SubLink file: a main branch (SnapNum, mass) per Subfind id at ``snapshot``.

    Each tree is laid out depth-first: the main branch first (SnapNum decreasing),
    then ``extra_rows`` side-branch rows that must not be read. With ``history`` (for
    every branch) the file also has ``SubhaloMassType``, ``SubhaloVmax`` and
    ``FirstSubhaloInFOFGroupID`` (side-branch rows: satellites of tiny mass).
    """
    rows: dict[str, list] = {"SubhaloID": [], "SubfindID": [], "SnapNum": [],
                             "MainLeafProgenitorID": [], "SubhaloMass": [], "dm": [],
                             "SubhaloVmax": [], "FirstSubhaloInFOFGroupID": []}
    next_id = 1000
    for subfind_id, (snaps, masses) in branches.items():
        assert snaps[0] == snapshot
        root = next_id
        leaf = root + len(snaps) - 1
        extra = history[subfind_id] if history else History(list(masses), [1.0] * len(snaps),
                                                            [True] * len(snaps))
        for i, (snap, mass) in enumerate(zip(snaps, masses, strict=True)):
            rows["SubhaloID"].append(root + i)
            rows["SubfindID"].append(subfind_id if i == 0 else 7 * i)
            rows["SnapNum"].append(snap)
            rows["MainLeafProgenitorID"].append(leaf)
            rows["SubhaloMass"].append(mass)
            rows["dm"].append(extra.dm_mass[i])
            rows["SubhaloVmax"].append(extra.vmax[i])
            rows["FirstSubhaloInFOFGroupID"].append(root + i if extra.central[i] else 1)
        for j in range(extra_rows):  # a merging side branch: tiny masses, older snapshots
            rows["SubhaloID"].append(leaf + 1 + j)
            rows["SubfindID"].append(5)
            rows["SnapNum"].append(snapshot - 1 - j)
            rows["MainLeafProgenitorID"].append(leaf + extra_rows)
            rows["SubhaloMass"].append(1e-6)
            rows["dm"].append(1e-6)
            rows["SubhaloVmax"].append(1.0)
            rows["FirstSubhaloInFOFGroupID"].append(1)
        next_id = leaf + extra_rows + 1
    with h5py.File(path, "w") as h5:
        for key, values in rows.items():
            if key in ("dm", "SubhaloVmax", "FirstSubhaloInFOFGroupID") and history is None:
                continue
            if key == "dm":
                mass_type = np.zeros((len(values), 6), np.float32)
                mass_type[:, 1] = values
                h5.create_dataset("SubhaloMassType", data=mass_type)
                continue
            dtype = np.float32 if key in ("SubhaloMass", "SubhaloVmax") else (
                np.int16 if key == "SnapNum" else np.int64)
            h5.create_dataset(key, data=np.asarray(values, dtype=dtype))
    return path


def satellite_snapshot(redshift: float = 0.0) -> Snapshot:
    """Six groups with satellites, by hand, in a 10 Mpc/h box (h = 0.7, Om 0.3, OL 0.7).

    log10 M* of each subhalo in brackets; the expected rows are s0, s1, s3, s4, s5, s10.

    - g0 at (1, 2, 3) Mpc/h, M200c = 1e12 Msun/h, R200c = 200 ckpc/h, peculiar velocity
      (100, 0, 0): central s0 (10), satellites s1 (9.7) 100 ckpc/h along +x, s2 (7,
      below the cut), s3 (9) at (0, -120, 160) ckpc/h;
    - g1 at x = 9.95 Mpc/h, R200c = 150 ckpc/h, velocity (-50, 0, 0): central s4 (10.3)
      and satellite s5 (9) at x = 0.05 Mpc/h, across the periodic face;
    - g2: central s6 below the cut (8), its satellite s7 (10) is dropped;
    - g3: M200c = 0: central s8 and satellite s9 (10 each) are dropped;
    - g4: no subhalo; g5: central s10 (10) and satellite s11 (10) without dark matter
      (dropped).

    ``GroupVel`` is stored as peculiar velocity × a (peculiar = GroupVel / a).
    """
    a = 1 / (1 + redshift)
    header = {"BoxSize": 10_000.0, "HubbleParam": 0.7, "Omega0": 0.3, "OmegaLambda": 0.7,
              "Redshift": redshift, "Time": a}
    n = 12
    group_pos = np.array([[1000, 2000, 3000], [9950, 5000, 5000], [3000, 8000, 2000],
                          [7000, 2000, 8000], [5000, 5000, 1000], [6000, 6000, 6000]], float)
    peculiar = np.array([[100, 0, 0], [-50, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0],
                         [20, 20, 20]], float)
    group = {
        "GroupFirstSub": np.array([0, 4, 6, 8, -1, 10], np.int32),
        "GroupNsubs": np.array([4, 2, 2, 2, 0, 2], np.int32),
        "GroupPos": group_pos,
        "GroupVel": peculiar * a,
        "GroupMass": np.array([150.0, 80.0, 30.0, 5.0, 1.0, 60.0]),
        "Group_M_Crit200": np.array([100.0, 50.0, 20.0, 0.0, 0.0, 40.0]),
        "Group_R_Crit200": np.array([200.0, 150.0, 110.0, 0.0, 0.0, 140.0]),
    }
    group |= {"Group_M_Mean200": 1.2 * group["Group_M_Crit200"],
              "Group_R_Mean200": 1.5 * group["Group_R_Crit200"],
              "Group_M_TopHat200": 1.1 * group["Group_M_Crit200"],
              "Group_R_TopHat200": 1.3 * group["Group_R_Crit200"]}
    grnr = np.array([0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 5, 5], np.int32)
    offset = np.zeros((n, 3))
    offset[1] = [100, 0, 0]
    offset[2] = [30, 30, 30]
    offset[3] = [0, -120, 160]
    offset[5] = [100, 0, 0]
    offset[7] = offset[9] = offset[11] = [50, 0, 0]
    velocity = peculiar[grnr].copy()
    velocity[1] += [200, 50, 0]
    velocity[3] += [0, 30, -40]
    velocity[5] += [0, 0, 100]
    mass_type = np.zeros((n, 6))
    mass_type[:, 4] = 10.0 ** (np.array([10, 9.7, 7, 9, 10.3, 9, 8, 10, 10, 10, 10, 10]) - 10)
    mass_type[:, 1] = [80.0, 5.0, 0.5, 2.0, 40.0, 3.0, 10.0, 4.0, 4.0, 2.0, 30.0, 0.0]
    half = np.ones((n, 6))
    photometrics = np.full((n, 8), -20.0)
    photometrics[:, 6] = -20.0 - np.linspace(0.2, 1.0, n)
    subhalo = {
        "SubhaloGrNr": grnr,
        "SubhaloMass": mass_type.sum(axis=1),
        "SubhaloMassType": mass_type,
        "SubhaloMassInRadType": 0.6 * mass_type,
        "SubhaloPos": np.mod(group_pos[grnr] + offset, 10_000.0),
        "SubhaloVel": velocity,
        "SubhaloSpin": np.tile([300.0, 400.0, 0.0], (n, 1)),
        "SubhaloVmax": np.linspace(100.0, 210.0, n),
        "SubhaloHalfmassRadType": half,
        "SubhaloSFR": np.linspace(0.0, 1.1, n),
        "SubhaloStellarPhotometrics": photometrics,
    }
    return as_stored(Snapshot(header, group, subhalo))
