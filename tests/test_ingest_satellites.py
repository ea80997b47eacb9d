"""Satellites from Subfind group catalogs and SubLink trees, against known answers.

Expected values come from the hand-made snapshot of ``subfind_fixtures.satellite_snapshot``
(numbers worked out by hand in the comments) or are computed row by row in plain Python
(``math``) from the arrays the fixtures wrote, never with galhalo's own formulas.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from subfind_fixtures import (
    History,
    Snapshot,
    edit,
    make_snapshot,
    satellite_snapshot,
    write_snapshot,
    write_sublink,
)

import galhalo
from galhalo.catalog import CatalogError, read_catalog
from galhalo.ingest import SubLinkTrees, ingest_subfind, ingest_table

G = 4.30091e-6  # kpc (km/s)^2 / Msun
SOURCE = Path(galhalo.__file__).resolve().parent.parent
EXPECTED_IDS = [0, 1, 3, 4, 5, 10]  # rows of satellite_snapshot(): see its docstring


# --------------------------------------------------------------------------- reference


def _log(value: float) -> float:
    return math.log10(float(value) * 1e10)


def reference(snap: Snapshot, cut: float = 8.75) -> dict[int, dict[str, float]]:
    """Expected rows {subhalo id: columns} of a satellite catalog, in plain Python."""
    group, sub = snap.group, snap.subhalo
    box = snap.header["BoxSize"] / 1000
    a = snap.header["Time"]

    def passes(s: int) -> bool:
        mstar = float(sub["SubhaloMassType"][s][4])
        return mstar > 0 and _log(mstar) >= cut

    rows: dict[int, dict[str, float]] = {}
    for s in range(snap.n_subhalos):
        g = int(sub["SubhaloGrNr"][s])
        c = int(group["GroupFirstSub"][g])
        m, r = float(group["Group_M_Crit200"][g]), float(group["Group_R_Crit200"][g])
        dm = float(sub["SubhaloMassType"][s][1])
        if not (passes(s) and passes(c) and m > 0 and r > 0 and (s == c or dm > 0)):
            continue
        v200 = math.sqrt(G * m * 1e10 / (a * r))
        spin = math.sqrt(sum(float(x) ** 2 for x in sub["SubhaloSpin"][c]))
        row = {"host_id": c, "is_central": s == c, "group_id": g, "M_h": _log(m),
               "C_h": float(sub["SubhaloVmax"][c]) / v200,
               "S_h": spin / (math.sqrt(2) * v200 * a * r), "M_sub": _log(dm),
               "Vmax_sub": float(sub["SubhaloVmax"][s]),
               "smass": _log(sub["SubhaloMassType"][s][4]),
               "x": float(sub["SubhaloPos"][s][0]) / 1000, "vz": float(sub["SubhaloVel"][s][2]),
               "r_host": math.nan, "v_r": math.nan, "v_t": math.nan}
        if s != c:
            dx = []
            for axis in range(3):
                d = (float(sub["SubhaloPos"][s][axis]) - float(group["GroupPos"][g][axis])) / 1000
                dx.append(d - box if d > box / 2 else d + box if d < -box / 2 else d)
            distance = math.sqrt(sum(d * d for d in dx))
            dv = [float(sub["SubhaloVel"][s][i]) - float(group["GroupVel"][g][i]) / a
                  for i in range(3)]
            v_r = sum(v * d for v, d in zip(dv, dx, strict=True)) / distance
            across = [v - v_r * d / distance for v, d in zip(dv, dx, strict=True)]
            row |= {"r_host": distance / (r / 1000), "v_r": v_r,
                    "v_t": math.sqrt(sum(v * v for v in across))}
            if row["r_host"] > 10:  # beyond the plausible: left out and counted
                continue
        rows[s] = row
    for row in rows.values():
        row["N_sat"] = sum(1 for other in rows.values()
                           if other["host_id"] == row["host_id"] and not other["is_central"])
    return rows


def mismatches(catalog, rows: dict[int, dict[str, float]]) -> list[str]:
    """What differs between the catalog and the expected rows {subhalo id: columns}: the
    ids, else every column not equal to rtol 1e-9 / atol 1e-7 (NaN matching NaN)."""
    table = catalog.table.set_index("halo_id")
    if list(table.index) != sorted(rows):
        return [f"ids {list(table.index)} != {sorted(rows)}"]
    differ = []
    for name in next(iter(rows.values())):
        expected = np.asarray([rows[s][name] for s in table.index], float)
        if not np.allclose(table[name].to_numpy(np.float64), expected, rtol=1e-9,
                           atol=1e-7, equal_nan=True):
            differ.append(name)
    return differ


@pytest.fixture(scope="module")
def snap() -> Snapshot:
    return make_snapshot(300, seed=3)


@pytest.fixture
def chunked(tmp_path, snap) -> Path:
    """Three chunks whose group and subhalo boundaries differ; the middle chunk holds
    subhalos but no groups; the first boundary separates a selected satellite from its
    central."""
    rows = reference(snap)
    split = min(s for s, row in rows.items() if not row["is_central"] and s >= 40)
    directory = tmp_path / "groups_099"
    write_snapshot(snap, directory, group_counts=[120, 0, 180],
                   subhalo_counts=[split, 200, snap.n_subhalos - split - 200])
    return directory


@pytest.fixture
def hand(tmp_path) -> Path:
    directory = tmp_path / "hand"
    write_snapshot(satellite_snapshot(), directory, n_files=2, group_counts=[2, 4],
                   subhalo_counts=[5, 7])
    return directory


def _set(path: Path, field: str, index: int, value) -> None:
    """Set row ``index`` of dataset ``field`` of a written file."""
    with h5py.File(path, "r") as h5:
        values = h5[field][()]
    values[index] = value
    edit(path, field, values)


# --------------------------------------------------------------------------- by hand


def test_hand_made_satellites(hand):
    messages: list[str] = []
    catalog = ingest_subfind(hand, satellites=True, progress=messages.append)
    table = catalog.table.set_index("halo_id")
    assert list(table.index) == EXPECTED_IDS
    assert list(table["host_id"]) == [0, 0, 0, 4, 4, 10]
    assert list(table["is_central"]) == [True, False, False, True, False, True]
    assert list(table["N_sat"]) == [2, 2, 2, 1, 1, 0]
    # s1: 100 ckpc/h along +x of a 200 ckpc/h host; relative (peculiar) velocity
    # (200, 50, 0), no Hubble flow.
    assert table.loc[1, "r_host"] == pytest.approx(0.5, abs=1e-6)
    assert table.loc[1, "v_r"] == pytest.approx(200.0, abs=1e-4)
    assert table.loc[1, "v_t"] == pytest.approx(50.0, abs=1e-4)
    # s3: at (0, -0.12, 0.16) Mpc/h with relative velocity (0, 30, -40): straight in at
    # 50 km/s.
    assert table.loc[3, "r_host"] == pytest.approx(1.0, abs=1e-6)
    assert table.loc[3, "v_r"] == pytest.approx(-50.0, abs=1e-4)
    assert table.loc[3, "v_t"] == pytest.approx(0.0, abs=1e-3)
    # s5: across the x face, 0.1 Mpc/h from a 150 ckpc/h host; relative velocity
    # (0, 0, 100): all tangential.
    assert table.loc[5, "x"] == pytest.approx(0.05, abs=1e-9)
    assert table.loc[5, "r_host"] == pytest.approx(2 / 3, abs=1e-6)
    assert table.loc[5, "v_r"] == pytest.approx(0.0, abs=1e-4)
    assert table.loc[5, "v_t"] == pytest.approx(100.0, abs=1e-4)
    assert table.loc[1, "M_sub"] == pytest.approx(math.log10(5e10), abs=1e-6)
    assert table.loc[0, "M_sub"] == pytest.approx(math.log10(8e11), abs=1e-6)
    assert table.loc[1, "Vmax_sub"] == pytest.approx(110.0, abs=1e-4)
    centrals = table[table["is_central"]]
    assert centrals[["r_host", "v_r", "v_t"]].isna().all().all()
    # Every satellite carries its host's halo columns (the central's).
    for satellite, central in ((1, 0), (3, 0), (5, 4)):
        for name in ("M_h", "C_h", "S_h", "Delta3_h"):
            assert table.loc[satellite, name] == table.loc[central, name], name
    assert table.loc[0, "M_h"] == pytest.approx(12.0, abs=1e-9)
    assert table.loc[0, "C_h"] == pytest.approx(100.0 / math.sqrt(G * 1e12 / 200), rel=1e-6)
    counts = catalog.meta.extra["counts"]
    assert {key: counts[key] for key in ("centrals", "below_stellar_mass_cut", "zero_halo_mass",
                                         "selected", "satellites", "satellites_central_below_cut",
                                         "satellites_host_unresolved",
                                         "satellites_no_dark_matter")} == {
        "centrals": 5, "below_stellar_mass_cut": 1, "zero_halo_mass": 1, "selected": 6,
        "satellites": 3, "satellites_central_below_cut": 1, "satellites_host_unresolved": 1,
        "satellites_no_dark_matter": 1}
    assert any("dropped 1 whose central is below the cut" in m for m in messages)
    assert catalog.has_satellites and len(catalog.satellites()) == 3
    assert "M_peak" not in table.columns and "z_infall" not in table.columns
    assert list(catalog.table.columns[:4]) == ["halo_id", "host_id", "is_central", "group_id"]


@pytest.mark.parametrize("redshift", [0.0, 1.0])
def test_hand_made_snapshot_matches_the_plain_python_reference(tmp_path, redshift):
    snap = satellite_snapshot(redshift)
    write_snapshot(snap, tmp_path, n_files=1)
    catalog = ingest_subfind(tmp_path, satellites=True)
    assert not mismatches(catalog, reference(snap))


def test_satellites_beyond_ten_host_radii_are_dropped_and_counted(hand):
    # s3 (first file, row 3) moved 2.1 Mpc/h from g0, whose R200c is 0.2 Mpc/h.
    _set(hand / "fof_subhalo_tab_099.0.hdf5", "Subhalo/SubhaloPos", 3, [1000, 2000, 5100])
    messages: list[str] = []
    catalog = ingest_subfind(hand, satellites=True, progress=messages.append)
    table = catalog.table.set_index("halo_id")
    assert list(table.index) == [0, 1, 4, 5, 10]
    assert list(table["N_sat"]) == [1, 1, 1, 1, 0]
    assert catalog.meta.extra["counts"]["satellites_far"] == 1
    assert any("1 farther than 10 R_Δ" in m for m in messages)


def test_formation_table_gives_the_hosts_z_h_to_their_satellites(tmp_path, hand):
    side = tmp_path / "zform.csv"
    pd.DataFrame({"subhalo_id": [0, 4, 10], "z_h": [1.5, 0.5, 2.5]}).to_csv(side, index=False)
    table = ingest_subfind(hand, satellites=True, formation_table=side).table
    assert list(table["z_h"]) == [1.5, 1.5, 1.5, 0.5, 0.5, 2.5]
    assert "M_peak" not in table.columns


# --------------------------------------------------------------------------- random


def test_random_snapshot_across_chunks_matches_the_reference(chunked, snap):
    catalog = ingest_subfind(chunked, satellites=True)
    rows = reference(snap)
    assert not mismatches(catalog, rows)
    satellites = catalog.satellites().table
    assert len(satellites) > 50 and satellites["r_host"].max() > 1
    # Groups whose central and satellites sit in different chunks are in the sample.
    ids = catalog.table["halo_id"].to_numpy()
    hosts = catalog.table["host_id"].to_numpy()
    split = int(snap.n_subhalos - 200 - h5py.File(chunked / "fof_subhalo_tab_099.2.hdf5")[
        "Header"].attrs["Nsubgroups_ThisFile"])
    assert ((hosts < split) & (ids >= split)).any()
    counts = catalog.meta.extra["counts"]
    assert counts["satellites"] == sum(not r["is_central"] for r in rows.values())
    assert counts["satellites_central_below_cut"] > 0


def test_redshift_one_uses_the_scale_factor_and_hubble_rate(tmp_path):
    snap = make_snapshot(150, redshift=1.0, hubble=0.7, seed=8)
    write_snapshot(snap, tmp_path, n_files=2)
    assert not mismatches(ingest_subfind(tmp_path, satellites=True), reference(snap))


def test_single_file_and_chunks_give_the_same_catalog(tmp_path, chunked, snap):
    tng = ingest_subfind(chunked, satellites=True)
    camels = write_snapshot(snap, tmp_path / "camels", layout="camels")[0]
    pd.testing.assert_frame_equal(ingest_subfind(camels, satellites=True).table, tng.table)
    other = tmp_path / "seven"
    write_snapshot(snap, other, n_files=7)
    pd.testing.assert_frame_equal(ingest_subfind(other, satellites=True).table, tng.table)


def test_centrals_only_ingest_is_unchanged_without_the_flag(chunked):
    plain = ingest_subfind(chunked)
    assert plain.table.equals(ingest_subfind(chunked, satellites=False).table)
    assert "host_id" not in plain.table and not plain.has_satellites
    with_satellites = ingest_subfind(chunked, satellites=True)
    centrals = with_satellites.centrals().table.set_index("halo_id")
    expected = plain.table.set_index("halo_id")
    assert list(centrals.index) == list(expected.index)
    pd.testing.assert_frame_equal(centrals[expected.columns], expected)


# --------------------------------------------------------------------------- trees


REDSHIFTS = {99 - k: round(0.1 * k, 3) for k in range(30)}


def hand_trees(directory: Path, snap: Snapshot) -> SubLinkTrees:
    """Trees of the rows of satellite_snapshot(): s1 peaks at snapshot 97 (DM 8, Vmax
    130) and fell in after snapshot 96, its last as a central; s3 and s5 were never
    centrals; the centrals shrink to below half their mass at snapshot 97."""
    dm = snap.subhalo["SubhaloMassType"][:, 1]
    branches, history = {}, {}
    for s in EXPECTED_IDS:
        total = float(snap.subhalo["SubhaloMass"][s])
        if s == 1:
            masses, dms = [total] * 6, [float(dm[s]), 6.0, 8.0, 7.0, 4.0, 3.0]
            history[s] = History(dms, [110.0, 120.0, 130.0, 125.0, 90.0, 80.0],
                                 [False, False, False, True, True, True])
        elif s in (3, 5):
            masses, dms = [total] * 3, [float(dm[s]), float(dm[s]), 0.5 * float(dm[s])]
            history[s] = History(dms, [100.0, 101.0, 102.0], [False] * 3)
        else:
            masses = [total, 0.7 * total, 0.4 * total, 0.2 * total]
            dms = [float(dm[s]), 0.9 * float(dm[s]), 0.5 * float(dm[s]), 0.1 * float(dm[s])]
            history[s] = History(dms, [200.0, 190.0, 150.0, 100.0], [True] * 4)
        branches[s] = ([99 - k for k in range(len(masses))], masses)
    directory.mkdir(exist_ok=True)
    write_sublink(directory / "tree_extended.0.hdf5",
                  {s: branches[s] for s in EXPECTED_IDS[:3]},
                  history={s: history[s] for s in EXPECTED_IDS[:3]})
    write_sublink(directory / "tree_extended.1.hdf5",
                  {s: branches[s] for s in EXPECTED_IDS[3:]},
                  history={s: history[s] for s in EXPECTED_IDS[3:]})
    return SubLinkTrees(directory, REDSHIFTS)


def test_peak_mass_and_infall_from_trees_by_hand(tmp_path, hand):
    trees = hand_trees(tmp_path / "trees", satellite_snapshot())
    catalog = ingest_subfind(hand, satellites=True, sublink=trees)
    table = catalog.table.set_index("halo_id")
    assert table.loc[1, "M_peak"] == pytest.approx(math.log10(8e10), abs=1e-6)
    assert table.loc[1, "Vmax_peak"] == pytest.approx(130.0, abs=1e-4)
    assert table.loc[1, "z_infall"] == pytest.approx(0.3, abs=1e-12)  # snapshot 96
    for s in (3, 5):  # never centrals: earliest redshift of the branch, counted
        assert table.loc[s, "z_infall"] == pytest.approx(0.2, abs=1e-12)
        assert table.loc[s, "M_peak"] == pytest.approx(table.loc[s, "M_sub"], abs=1e-6)
        assert table.loc[s, "Vmax_peak"] == pytest.approx(100.0, abs=1e-4)
    assert catalog.meta.extra["z_infall_unresolved"] == 2
    assert table.loc[[0, 4, 10], "z_infall"].isna().all()
    # Centrals: their own peak (today here), and z_h from total mass: half of M0 is
    # crossed between 0.7 M0 (z = 0.1) and 0.4 M0 (z = 0.2): z = 0.1 + 0.2/0.3 x 0.1.
    assert table.loc[0, "M_peak"] == pytest.approx(table.loc[0, "M_sub"], abs=1e-6)
    assert table.loc[0, "Vmax_peak"] == pytest.approx(200.0, abs=1e-4)
    assert table.loc[0, "z_h"] == pytest.approx(0.1 + 0.2 / 3, rel=1e-6)
    for satellite, central in ((1, 0), (3, 0), (5, 4)):
        assert table.loc[satellite, "z_h"] == table.loc[central, "z_h"]
    assert (table["M_peak"] >= table["M_sub"] - 1e-9).all()
    columns = list(catalog.table.columns)
    assert columns.index("z_h") < columns.index("Delta3_h") < columns.index("M_peak") < \
        columns.index("z_infall") < columns.index("r_host")


def test_peak_mass_and_infall_on_random_trees(tmp_path, chunked, snap):
    rows = reference(snap)
    ids = sorted(rows)
    rng = np.random.default_rng(4)
    branches, history, expected = {}, {}, {}
    for s in ids:
        steps = int(rng.integers(2, 12))
        now = float(snap.subhalo["SubhaloMassType"][s][1])
        dms = [now, *(float(np.float32(m)) for m in rng.uniform(0.1, 900, steps - 1))]
        vmax = [float(np.float32(v)) for v in rng.uniform(30, 500, steps)]
        central = [bool(rows[s]["is_central"]), *list(rng.random(steps - 1) < 0.4)]
        masses = [float(snap.subhalo["SubhaloMass"][s])] * steps
        branches[s] = ([99 - k for k in range(steps)], masses)
        history[s] = History(dms, vmax, central)
        top = max(range(steps), key=lambda k: (dms[k], -k))
        later = [k for k in range(1, steps) if central[k]]
        infall = REDSHIFTS[99 - (later[0] if later else steps - 1)]
        expected[s] = (math.log10(dms[top] * 1e10), vmax[top],
                       math.nan if central[0] else infall)
    trees = tmp_path / "trees"
    trees.mkdir()
    half = len(ids) // 2
    for k, part in enumerate((ids[:half], ids[half:])):
        write_sublink(trees / f"tree_extended.{k}.hdf5", {s: branches[s] for s in part},
                      history={s: history[s] for s in part})
    catalog = ingest_subfind(chunked, satellites=True, sublink=SubLinkTrees(trees, REDSHIFTS))
    table = catalog.table.set_index("halo_id")
    for k, name in enumerate(("M_peak", "Vmax_peak", "z_infall")):
        np.testing.assert_allclose(table.loc[ids, name], [expected[s][k] for s in ids],
                                   rtol=1e-9, err_msg=name)
    assert not mismatches(catalog, rows)


# --------------------------------------------------------------------------- bad input


def test_satellite_whose_group_index_is_out_of_range(hand):
    _set(hand / "fof_subhalo_tab_099.1.hdf5", "Subhalo/SubhaloGrNr", 0, 6)  # s5
    with pytest.raises(CatalogError, match=r"fof_subhalo_tab_099\.1\.hdf5: field "
                                           r"Subhalo/SubhaloGrNr: 1 values outside \[0, "
                                           r"Ngroups_Total = 6\)"):
        ingest_subfind(hand, satellites=True)


def test_satellite_whose_group_has_no_central(hand):
    _set(hand / "fof_subhalo_tab_099.1.hdf5", "Group/GroupFirstSub", 3, -1)  # g5
    with pytest.raises(CatalogError, match=r"fof_subhalo_tab_099\.1\.hdf5: field "
                                           r"Subhalo/SubhaloGrNr: 2 subhalos belong to groups "
                                           r"without a central .*first: subhalo 10 in group 5"):
        ingest_subfind(hand, satellites=True)


def _drop_branch(directory: Path) -> None:
    write_sublink(directory / "tree_extended.1.hdf5", {4: ([99], [1.0])},
                  history={4: History([40.0], [1.0], [True])})


def _move_snapshot(directory: Path) -> None:
    for path in directory.iterdir():
        with h5py.File(path, "r+") as h5:
            h5["SnapNum"][...] = h5["SnapNum"][()] - 1


def _foreign_ids(directory: Path) -> None:
    _set(directory / "tree_extended.0.hdf5", "SubfindID", 0, 500)


def _swap_centrality(directory: Path) -> None:
    _set(directory / "tree_extended.0.hdf5", "FirstSubhaloInFOFGroupID", 0, 1)  # s0 now


def _other_mass(directory: Path) -> None:
    with h5py.File(directory / "tree_extended.0.hdf5", "r+") as h5:
        h5["SubhaloMassType"][6, 1] = 99.0  # s1 now (after s0's 4 + 2 side rows)


def _basic_tree(directory: Path) -> None:
    write_sublink(directory / "tree_extended.0.hdf5", {s: ([99], [1.0]) for s in (0, 1, 3)})


BAD_TREES = {
    "basic tree": (_basic_tree, r"tree_extended\.0\.hdf5: missing field SubhaloMassType"),
    "subhalo missing": (_drop_branch, r"trees: 2 of 6 selected galaxies are not in the SubLink "
                                      r"trees at snapshot 99 \(first subhalo id 5\)"),
    "snapshot missing": (_move_snapshot, r"trees: field SnapNum: no SubLink tree row is at the "
                                         r"group catalog's snapshot 99 \(the trees hold "
                                         r"snapshots 93-98\)"),
    "more subhalos": (_foreign_ids, r"tree_extended\.0\.hdf5: field SubfindID: 1 rows at "
                                    r"snapshot 99 have ids outside \[0, 12\).*another run"),
    "centrality": (_swap_centrality, r"tree_extended\.0\.hdf5: field FirstSubhaloInFOFGroupID: "
                                     r"subhalo 0 is a central in the group catalog but a "
                                     r"satellite in the trees"),
    "mass": (_other_mass, r"tree_extended\.0\.hdf5: field SubhaloMassType: subhalo 1 has "
                          r"dark-matter mass 99 at snapshot 99 in the trees but 5 in the group"),
}


@pytest.mark.parametrize("case", list(BAD_TREES))
def test_trees_that_do_not_match_the_catalog(tmp_path, hand, case):
    change, match = BAD_TREES[case]
    trees = hand_trees(tmp_path / "trees", satellite_snapshot())
    change(tmp_path / "trees")
    with pytest.raises(CatalogError, match=match):
        ingest_subfind(hand, satellites=True, sublink=trees)


def satellite_table(n_hosts: int = 5) -> pd.DataFrame:
    """A mapped table of hosts with two satellites each, in other column names."""
    rows = []
    for host in range(n_hosts):
        centre = 10.0 + 15.0 * host
        for k in range(3):
            rows.append({"gal": 100 * host + k, "host": 100 * host, "central": k == 0,
                         "logM": 12.0, "mstar": 10.0 - k * 0.5, "px": centre + 0.05 * k,
                         "py": 50.0, "pz": 50.0, "nsat": 2,
                         "rr": np.nan if k == 0 else 0.3 * k})
    return pd.DataFrame(rows)


MAPPING = {"gal": "halo_id", "host": "host_id", "central": "is_central", "logM": "M_h",
           "mstar": "smass", "px": "x", "py": "y", "pz": "z", "nsat": "N_sat", "rr": "r_host"}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_mapped_table_with_hosts_validates(tmp_path, suffix):
    path = tmp_path / f"sats{suffix}"
    table = satellite_table()
    table.to_csv(path, index=False) if suffix == ".csv" else table.to_parquet(path)
    catalog = ingest_table(path, mapping=MAPPING, box_size=100.0)
    assert catalog.has_satellites
    assert len(catalog.centrals()) == 5 and len(catalog.satellites()) == 10
    assert catalog.table["is_central"].dtype == bool


@pytest.mark.parametrize(("change", "match"), [
    (lambda t: t.assign(nsat=-1), r"sats\.csv: .*N_sat.*outside"),
    (lambda t: t.assign(rr=np.where(t["central"], np.nan, 40.0)),
     r"sats\.csv: column 'r_host' \(R_vir\): 10 of 15 rows are satellites more than 10 "
     r"virial radii"),
    (lambda t: t[t["gal"] != 200], r"sats\.csv: .*satellites whose host has no central row"),
])
def test_bad_mapped_tables_are_refused(tmp_path, change, match):
    path = tmp_path / "sats.csv"
    change(satellite_table()).to_csv(path, index=False)
    with pytest.raises(CatalogError, match=match):
        ingest_table(path, mapping=MAPPING, box_size=100.0)


# --------------------------------------------------------------------------- command line


def cli(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SOURCE), "COLUMNS": "200"}
    env.pop("GALHALO_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "galhalo.cli", "ingest", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120)


def test_command_line_satellites_with_trees_and_bad_input(tmp_path, hand):
    trees = hand_trees(tmp_path / "trees", satellite_snapshot())
    redshifts = tmp_path / "snaps.csv"
    pd.DataFrame({"snapshot": list(REDSHIFTS), "redshift": list(REDSHIFTS.values())}).to_csv(
        redshifts, index=False)
    out = tmp_path / "sats.parquet"
    done = cli(hand, "--out", out, "--satellites", "--sublink", trees.paths,
               "--snapshot-redshifts", redshifts)
    assert done.returncode == 0, done.stderr
    catalog = read_catalog(out)
    expected = ingest_subfind(hand, satellites=True, sublink=trees)
    pd.testing.assert_frame_equal(catalog.table, expected.table)
    assert "satellites 3" in done.stdout and "satellites_central_below_cut 1" in done.stdout
    # Bad input: one line naming the file, exit 2, nothing written.
    _set(hand / "fof_subhalo_tab_099.1.hdf5", "Group/GroupFirstSub", 3, -1)
    bad = tmp_path / "bad.parquet"
    failed = cli(hand, "--out", bad, "--satellites")
    assert failed.returncode == 2
    lines = [line for line in failed.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and failed.stderr.rstrip().endswith(lines[0])
    assert "fof_subhalo_tab_099.1.hdf5" in lines[0] and "without a central" in lines[0]
    assert not bad.exists()


def test_command_line_reports_satellites_too_far_from_their_host(tmp_path):
    path = tmp_path / "sats.csv"
    satellite_table().assign(rr=lambda t: np.where(t["central"], np.nan, 40.0)).to_csv(
        path, index=False)
    maps = [item for source, target in MAPPING.items() for item in ("--map", f"{source}={target}")]
    out = tmp_path / "x.parquet"
    failed = cli(path, "--out", out, "--box", "100", *maps)
    assert failed.returncode == 2
    lines = [line for line in failed.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and failed.stderr.rstrip().endswith(lines[0])
    assert "sats.csv" in lines[0] and "virial radii" in lines[0]
    assert not out.exists()
    table_only = cli(path, "--out", out, "--box", "100", "--satellites", *maps)
    assert table_only.returncode == 2 and "satellites do not apply to a table" in table_only.stderr
