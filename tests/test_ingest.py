"""galhalo.io: Subfind group catalogs and tables → catalog, against independent computations.

Every expected value here is computed row by row in plain Python (``math``) from the
arrays the fixtures wrote, or by hand, never with galhalo's own formulas.
"""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from subfind_fixtures import (
    Snapshot,
    as_stored,
    edit,
    make_snapshot,
    set_attribute,
    write_snapshot,
    write_sublink,
)

from galhalo.catalog import Catalog, CatalogError, CatalogMeta, read_catalog, write_catalog
from galhalo.ingest import SubLinkTrees, detect_input, ingest, ingest_subfind, ingest_table

#: Newton's constant in kpc (km/s)^2 / Msun (CODATA G with 1 kpc = 3.0857e16 km).
G = 4.30091e-6
RADIUS = 3.0  # Mpc/h


# --------------------------------------------------------------------------- reference


def reference(snap: Snapshot, *, cut: float = 8.75, mass: str = "Group_M_Crit200",
              stellar: str = "SubhaloMassType", floor: float = -16.0
              ) -> tuple[dict[int, dict[str, float]], dict[str, int]]:
    """Expected rows {subhalo id: columns} and counts, one group at a time in plain Python."""
    radius = mass.replace("_M_", "_R_")
    h, a = snap.header["HubbleParam"], snap.header["Time"]
    group, sub = snap.group, snap.subhalo
    rows: dict[int, dict[str, float]] = {}
    counts = {"centrals": 0, "below_stellar_mass_cut": 0, "zero_halo_mass": 0,
              "zero_sfr": 0, "ssfr_floored": 0}
    for g in range(snap.n_groups):
        s = int(group["GroupFirstSub"][g])
        if s < 0:
            continue
        counts["centrals"] += 1
        mstar = float(sub[stellar][s][4]) * 1e10
        if mstar <= 0 or math.log10(mstar) < cut:
            counts["below_stellar_mass_cut"] += 1
            continue
        m, r = float(group[mass][g]), float(group[radius][g])
        if m <= 0 or r <= 0:
            counts["zero_halo_mass"] += 1
            continue
        v = math.sqrt(G * m * 1e10 / (a * r))
        j = math.sqrt(sum(float(c) ** 2 for c in sub["SubhaloSpin"][s]))
        sfr = float(sub["SubhaloSFR"][s])
        ssfr = math.log10(sfr / (mstar / h)) if sfr > 0 else -math.inf
        counts["zero_sfr"] += sfr == 0
        counts["ssfr_floored"] += ssfr < floor
        phot = sub["SubhaloStellarPhotometrics"][s]
        pos, vel = sub["SubhaloPos"][s], sub["SubhaloVel"][s]
        rows[s] = {
            "group_id": g, "M_h": math.log10(m * 1e10), "C_h": float(sub["SubhaloVmax"][s]) / v,
            "S_h": j / (math.sqrt(2) * v * a * r), "smass": math.log10(mstar),
            "color": float(phot[4]) - float(phot[6]), "sSFR": max(ssfr, floor),
            "radius": math.log10(float(sub["SubhaloHalfmassRadType"][s][4])),
            "x": float(pos[0]) / 1000, "y": float(pos[1]) / 1000, "z": float(pos[2]) / 1000,
            "vx": float(vel[0]), "vy": float(vel[1]), "vz": float(vel[2]),
        }
    counts["selected"] = len(rows)
    return rows, counts


def brute_delta3(snap: Snapshot, centre: tuple[float, float, float]) -> float:
    """GroupMass within 3 Mpc/h (minimum image) of ``centre`` over its mean, in Python."""
    box = snap.header["BoxSize"] / 1000
    masses = [float(m) for m in snap.group["GroupMass"]]
    inside = 0.0
    for position, mass in zip(snap.group["GroupPos"], masses, strict=True):
        d2 = 0.0
        for axis in range(3):
            d = abs(float(position[axis]) / 1000 - centre[axis])
            d = min(d, box - d)
            d2 += d * d
        if math.sqrt(d2) <= RADIUS:
            inside += mass
    return inside / (sum(masses) * 4 / 3 * math.pi * RADIUS**3 / box**3)


def check_against_reference(catalog: Catalog, rows: dict[int, dict[str, float]]) -> None:
    table = catalog.table.set_index("halo_id")
    assert sorted(table.index) == sorted(rows)
    for name in ("group_id", "M_h", "C_h", "S_h", "smass", "color", "sSFR", "radius",
                 "x", "y", "z", "vx", "vy", "vz"):
        expected = [rows[s][name] for s in table.index]
        np.testing.assert_allclose(table[name].to_numpy(), expected, rtol=1e-10, atol=1e-12,
                                   err_msg=name)


@pytest.fixture(scope="module")
def snap() -> Snapshot:
    return make_snapshot(300, seed=3)


@pytest.fixture
def chunked(tmp_path, snap) -> Path:
    """300 groups over 3 chunks whose group and subhalo boundaries do not coincide; the
    middle chunk holds subhalos but no groups."""
    directory = tmp_path / "groups_099"
    n = snap.n_subhalos
    write_snapshot(snap, directory, group_counts=[120, 0, 180],
                   subhalo_counts=[60, 200, n - 260])
    return directory


# --------------------------------------------------------------------------- subfind


def test_centrals_picked_across_chunk_boundaries(chunked, snap):
    catalog = ingest_subfind(chunked)
    rows, _ = reference(snap)
    ids = catalog.table["halo_id"].to_numpy()
    assert sorted(ids) == sorted(rows)
    assert np.all(np.diff(ids) > 0)  # global subhalo order
    group_chunk = np.searchsorted([120, 120, 300], catalog.table["group_id"], side="right")
    subhalo_chunk = np.searchsorted([60, 260, snap.n_subhalos], ids, side="right")
    assert (group_chunk != subhalo_chunk).sum() > 20  # the layout really crosses chunks
    # Satellites are never picked, even the massive ones.
    first = set(snap.group["GroupFirstSub"].tolist())
    assert all(int(s) in first for s in ids)


def test_every_derived_column_matches_a_row_by_row_computation(chunked, snap):
    catalog = ingest_subfind(chunked)
    rows, _ = reference(snap)
    check_against_reference(catalog, rows)
    centres = catalog.table[["x", "y", "z"]].to_numpy()
    expected = [brute_delta3(snap, tuple(c)) for c in centres[:40]]
    np.testing.assert_allclose(catalog.table["Delta3_h"].to_numpy()[:40], expected, rtol=1e-10)
    assert "z_h" not in catalog.table.columns
    catalog.validate()


def test_scale_factor_and_little_h_at_redshift_one(tmp_path):
    snap = make_snapshot(200, redshift=1.0, hubble=0.7, seed=5)
    write_snapshot(snap, tmp_path, n_files=2)
    catalog = ingest_subfind(tmp_path)
    rows, _ = reference(snap)
    check_against_reference(catalog, rows)
    assert catalog.meta.redshift == 1.0 and catalog.meta.extra["scale_factor"] == 0.5


@pytest.mark.parametrize(("mass", "stellar"), [("Group_M_Mean200", "SubhaloMassType"),
                                               ("Group_M_TopHat200", "SubhaloMassInRadType")])
def test_mass_definition_and_aperture_stellar_mass(chunked, snap, mass, stellar):
    catalog = ingest_subfind(chunked, mass_definition=mass, stellar_mass_field=stellar)
    rows, counts = reference(snap, mass=mass, stellar=stellar)
    check_against_reference(catalog, rows)
    assert catalog.meta.extra["mass_definition"] == mass
    assert catalog.meta.extra["radius_definition"] == mass.replace("_M_", "_R_")
    assert catalog.meta.extra["counts"]["selected"] == counts["selected"]


def tiny_snapshot(redshift: float = 0.0) -> Snapshot:
    """Four groups by hand in a 10 Mpc/h box (h = 0.7).

    g0: M200c = 1e12 Msun/h, R200c = 200 ckpc/h, central s0 and a more massive satellite s1;
    g1: M200c = 0 (its central s2 is dropped); g2: no subhalo; g3: central s3 with
    log10 M* = 8 (below the cut).
    """
    header = {"BoxSize": 10_000.0, "HubbleParam": 0.7, "Omega0": 0.3, "OmegaLambda": 0.7,
              "Redshift": redshift, "Time": 1 / (1 + redshift)}
    mass_type = np.zeros((4, 6))
    mass_type[:, 4] = [1.0, 5.0, 1.0, 0.01]
    half = np.ones((4, 6))
    half[0, 4] = 10.0
    photometrics = np.full((4, 8), -20.0)
    photometrics[0, 4], photometrics[0, 6] = -20.5, -21.3
    group = {
        "GroupFirstSub": np.array([0, 2, -1, 3], np.int32),
        "GroupPos": np.array([[1000, 2000, 3000], [9000, 2000, 3000], [1500, 2000, 3000],
                              [6000, 6000, 6000]], float),
        "GroupMass": np.array([150.0, 20.0, 50.0, 30.0]),
        "Group_M_Crit200": np.array([100.0, 0.0, 0.0, 10.0]),
        "Group_R_Crit200": np.array([200.0, 0.0, 0.0, 90.0]),
    }
    group |= {"Group_M_Mean200": group["Group_M_Crit200"], "Group_R_Mean200":
              group["Group_R_Crit200"], "Group_M_TopHat200": group["Group_M_Crit200"],
              "Group_R_TopHat200": group["Group_R_Crit200"]}
    subhalo = {
        "SubhaloGrNr": np.array([0, 0, 1, 3], np.int32),
        "SubhaloMassType": mass_type,
        "SubhaloPos": np.array([[1000, 2000, 3000], [1100, 2000, 3000], [9000, 2000, 3000],
                                [6000, 6000, 6000]], float),
        "SubhaloVel": np.array([[100, -200, 300], [0, 0, 0], [0, 0, 0], [0, 0, 0]], float),
        "SubhaloSpin": np.array([[3000, 4000, 0], [1, 1, 1], [1, 1, 1], [1, 1, 1]], float),
        "SubhaloVmax": np.array([200.0, 100.0, 100.0, 50.0]),
        "SubhaloHalfmassRadType": half,
        "SubhaloSFR": np.array([1.0, 0.0, 0.0, 0.0]),
        "SubhaloStellarPhotometrics": photometrics,
    }
    return as_stored(Snapshot(header, group, subhalo))


@pytest.mark.parametrize("redshift", [0.0, 1.0])
def test_hand_checkable_values(tmp_path, redshift):
    write_snapshot(tiny_snapshot(redshift), tmp_path, n_files=2, group_counts=[3, 1],
                   subhalo_counts=[1, 3])
    catalog = ingest_subfind(tmp_path)
    assert len(catalog) == 1
    row = catalog.table.iloc[0]
    a = 1 / (1 + redshift)
    v200 = math.sqrt(4.30091e-6 * 1e12 / (a * 200.0))  # 146.64 km/s at z = 0
    assert row["halo_id"] == 0 and row["group_id"] == 0
    assert row["M_h"] == pytest.approx(12.0, abs=1e-12)
    assert row["C_h"] == pytest.approx(200.0 / v200, rel=1e-12)
    assert row["S_h"] == pytest.approx(5000.0 / (math.sqrt(2) * v200 * a * 200.0), rel=1e-12)
    if redshift == 0:
        assert row["C_h"] == pytest.approx(1.36385, abs=1e-5)
        assert row["S_h"] == pytest.approx(0.120547, abs=1e-6)
    # g0 (150), g2 at 0.5 Mpc/h (50) and g1 at 2 Mpc/h through the x face (20) are
    # inside 3 Mpc/h; g3 (30) is 7.07 Mpc/h away. Mean in a sphere: 250 * 36 pi / 1000.
    assert row["Delta3_h"] == pytest.approx(220.0 / (250.0 * 36 * math.pi / 1000), rel=1e-12)
    assert row["smass"] == pytest.approx(10.0, abs=1e-12)
    assert row["color"] == pytest.approx(0.8, abs=1e-6)  # float32 magnitudes
    assert row["sSFR"] == pytest.approx(math.log10(0.7) - 10.0, abs=1e-12)
    assert row["radius"] == pytest.approx(1.0, abs=1e-12)
    assert (row["x"], row["y"], row["z"]) == (1.0, 2.0, 3.0)
    assert (row["vx"], row["vy"], row["vz"]) == (100.0, -200.0, 300.0)
    meta = catalog.meta
    assert meta.box_size == 10.0 and meta.redshift == redshift
    assert meta.cosmology["H0"] == pytest.approx(70.0) and meta.cosmology["Om0"] == 0.3
    assert meta.extra["scale_factor"] == pytest.approx(a)
    assert meta.extra["counts"] == {
        "groups": 4, "subhalos": 4, "groups_without_subhalos": 1, "centrals": 3,
        "below_stellar_mass_cut": 1, "zero_halo_mass": 1, "selected": 1,
        "zero_sfr": 0, "ssfr_floored": 0}


def test_floors_and_cuts_are_counted_and_reported(chunked, snap):
    messages: list[str] = []
    catalog = ingest_subfind(chunked, progress=messages.append)
    _, counts = reference(snap)
    extra = catalog.meta.extra["counts"]
    for key, value in counts.items():
        assert extra[key] == value, key
    assert counts["zero_sfr"] > 5 and counts["ssfr_floored"] > counts["zero_sfr"]
    assert counts["below_stellar_mass_cut"] > 5 and counts["zero_halo_mass"] > 2
    assert (catalog.table["sSFR"] == -16.0).sum() == counts["ssfr_floored"]
    assert any(f"{counts['ssfr_floored']} of {counts['selected']}" in m and
               f"{counts['zero_sfr']} with SFR = 0" in m for m in messages)
    assert messages[-1].startswith("done")


def test_sfr_floor_and_stellar_mass_cut_are_options(chunked, snap):
    catalog = ingest_subfind(chunked, sfr_floor=-11.0, stellar_mass_min=9.5)
    rows, counts = reference(snap, floor=-11.0, cut=9.5)
    check_against_reference(catalog, rows)
    assert catalog.table["sSFR"].min() == -11.0
    assert catalog.meta.extra["counts"]["ssfr_floored"] == counts["ssfr_floored"]
    assert catalog.meta.extra["sfr_floor"] == -11.0
    assert catalog.meta.extra["stellar_mass_min"] == 9.5


def test_delta3_matches_brute_force_on_a_tiny_periodic_box(tmp_path):
    snap = make_snapshot(60, box=8_000.0, seed=11)
    # Crowd some groups against the faces so the periodic images matter.
    snap.group["GroupPos"][:15, 0] = np.linspace(7_900, 7_999, 15, dtype=np.float32)
    snap.group["GroupPos"][15:25, 1] = np.linspace(0, 50, 10, dtype=np.float32)
    first = snap.group["GroupFirstSub"]
    has = first >= 0
    snap.subhalo["SubhaloPos"][first[has]] = snap.group["GroupPos"][has]
    write_snapshot(snap, tmp_path, n_files=2)
    catalog = ingest_subfind(tmp_path, stellar_mass_min=0.0)
    assert len(catalog) > 30
    expected = [brute_delta3(snap, tuple(c)) for c in catalog.table[["x", "y", "z"]].to_numpy()]
    np.testing.assert_allclose(catalog.table["Delta3_h"], expected, rtol=1e-10)
    assert catalog.table["Delta3_h"].std() > 0.1


def test_camels_single_file_and_the_ways_to_name_the_files(tmp_path, chunked, snap):
    tng = ingest_subfind(chunked)
    camels_file = write_snapshot(snap, tmp_path / "camels", snapshot=33, layout="camels")[0]
    camels = ingest_subfind(camels_file)
    pd.testing.assert_frame_equal(camels.table, tng.table)
    assert camels.meta.extra["snapshot"] == 33
    assert camels.meta.extra["source_files"] == [str(camels_file)]
    # One chunk stands for all of its snapshot; a list may come in any order.
    chunks = sorted(chunked.iterdir())
    pd.testing.assert_frame_equal(ingest_subfind(chunks[1]).table, tng.table)
    pd.testing.assert_frame_equal(ingest_subfind([chunks[2], chunks[0], chunks[1]]).table,
                                  tng.table)
    assert ingest(chunked).table.equals(tng.table)


def test_ingested_catalog_round_trips_through_write_catalog(tmp_path, chunked):
    catalog = ingest_subfind(chunked)
    before = sorted(p.name for p in chunked.iterdir())
    path = write_catalog(catalog, tmp_path / "tng.parquet")
    assert sorted(p.name for p in chunked.iterdir()) == before  # ingest writes nothing
    again = read_catalog(path)
    pd.testing.assert_frame_equal(again.table, catalog.table)
    assert again.meta.extra["counts"] == catalog.meta.extra["counts"]


# --------------------------------------------------------------------------- z_h


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_formation_redshift_from_a_side_table(tmp_path, chunked, snap, suffix):
    rows, _ = reference(snap)
    ids = np.array(sorted(rows))
    z_form = np.round(0.5 + (ids % 17) / 10, 3)
    side = pd.DataFrame({"SubhaloID": np.concatenate([ids, [10_000, 10_001]]),
                         "z_form": np.concatenate([z_form, [9.0, 9.0]]), "other": 1})
    path = tmp_path / f"zform{suffix}"
    side.to_csv(path, index=False) if suffix == ".csv" else side.to_parquet(path)
    catalog = ingest_subfind(chunked, formation_table=path)
    columns = list(catalog.table.columns)
    assert columns.index("z_h") == columns.index("Delta3_h") - 1
    np.testing.assert_array_equal(catalog.table["z_h"], z_form)
    assert catalog.meta.extra["z_h_source"] == str(path)


@pytest.mark.parametrize(("edit_table", "match"), [
    (lambda t: t.iloc[1:], r"1 of \d+ selected centrals have no formation redshift"),
    (lambda t: pd.concat([t, t.iloc[:1]]), "appear more than once"),
    (lambda t: t.rename(columns={"z_h": "age"}), "no formation-redshift column"),
    (lambda t: t.rename(columns={"subhalo_id": "gal"}), "no subhalo-id column"),
    (lambda t: t.assign(z_h=-1.0), "NaN, inf or negative"),
])
def test_bad_side_tables_are_refused(tmp_path, chunked, snap, edit_table, match):
    rows, _ = reference(snap)
    side = pd.DataFrame({"subhalo_id": sorted(rows), "z_h": 1.0})
    path = tmp_path / "zform.csv"
    edit_table(side).to_csv(path, index=False)
    with pytest.raises(CatalogError, match=match) as info:
        ingest_subfind(chunked, formation_table=path)
    assert "zform.csv" in str(info.value)


def expected_half_mass_redshift(z: list[float], m: list[float]) -> float:
    for j in range(1, len(m)):
        if m[j] < m[0] / 2:
            return z[j - 1] + (m[0] / 2 - m[j - 1]) * (z[j] - z[j - 1]) / (m[j] - m[j - 1])
    return z[-1]


def test_formation_redshift_from_sublink_trees(tmp_path, chunked, snap):
    rows, _ = reference(snap)
    ids = sorted(rows)
    redshifts = {99 - k: 0.1 * k for k in range(20)}
    branches, expected = {}, {}
    for n, s in enumerate(ids):
        steps = 3 + n % 12
        snaps = [99 - k for k in range(steps)]
        masses = [100.0 * (0.8 + 0.1 * (n % 3)) ** k for k in range(steps)]
        branches[s] = (snaps, masses)
        expected[s] = expected_half_mass_redshift([redshifts[q] for q in snaps], masses)
    half = len(ids) // 2
    trees = tmp_path / "trees"
    trees.mkdir()
    write_sublink(trees / "tree_extended.0.hdf5", {s: branches[s] for s in ids[:half]})
    write_sublink(trees / "tree_extended.1.hdf5", {s: branches[s] for s in ids[half:]})
    table = tmp_path / "snaps.csv"
    pd.DataFrame({"snapshot": list(redshifts), "redshift": list(redshifts.values())}).to_csv(
        table, index=False)
    catalog = ingest_subfind(chunked, sublink=SubLinkTrees(trees, table))
    got = catalog.table.set_index("halo_id")["z_h"]
    np.testing.assert_allclose([got[s] for s in ids], [expected[s] for s in ids], rtol=1e-6)
    unresolved = sum(all(m >= b[1][0] / 2 for m in b[1]) for b in branches.values())
    assert 0 < unresolved < len(ids)
    assert catalog.meta.extra["z_h_unresolved"] == unresolved


def test_sublink_half_mass_by_hand(tmp_path):
    write_snapshot(tiny_snapshot(), tmp_path / "groups", n_files=1)
    tree = write_sublink(tmp_path / "tree_extended.0.hdf5", {0: ([99, 98, 97, 96],
                                                                 [10.0, 8.0, 6.0, 4.0])})
    redshifts = {99: 0.0, 98: 0.1, 97: 0.2, 96: 0.3}
    catalog = ingest_subfind(tmp_path / "groups", sublink=SubLinkTrees([tree], redshifts))
    # Half of 10 is crossed between z = 0.2 (6) and z = 0.3 (4): z_1/2 = 0.25.
    assert catalog.table["z_h"].iloc[0] == pytest.approx(0.25, abs=1e-12)
    with pytest.raises(CatalogError, match=r"no redshift for snapshots \[96\]"):
        ingest_subfind(tmp_path / "groups",
                       sublink=SubLinkTrees([tree], {99: 0.0, 98: 0.1, 97: 0.2}))
    other = write_sublink(tmp_path / "other.hdf5", {1: ([99, 98], [1.0, 0.1])})
    with pytest.raises(CatalogError, match="not in the SubLink trees at snapshot 99"):
        ingest_subfind(tmp_path / "groups", sublink=SubLinkTrees([other], redshifts))


# --------------------------------------------------------------------------- bad input


def _chunk(directory: Path, k: int) -> Path:
    return directory / f"fof_subhalo_tab_099.{k}.hdf5"


def _nan_in(field: str, k: int, column: int = 0):
    def change(directory: Path) -> None:
        with h5py.File(_chunk(directory, k), "r") as h5:
            values = h5[field][()]
        values.reshape(len(values), -1)[3, column] = np.nan
        edit(_chunk(directory, k), field, values)
    return change


def _all_chunks(name: str, value):
    def change(directory: Path) -> None:
        for k in range(3):
            set_attribute(_chunk(directory, k), name, value)
    return change


def _unlink(k: int):
    return lambda directory: _chunk(directory, k).unlink()


def _renumber(directory: Path) -> None:
    _chunk(directory, 2).rename(_chunk(directory, 5))


def _shift_group_counts(directory: Path) -> None:
    set_attribute(_chunk(directory, 0), "Ngroups_ThisFile", np.int32(121))
    set_attribute(_chunk(directory, 2), "Ngroups_ThisFile", np.int32(179))


def _break_links(directory: Path) -> None:
    with h5py.File(_chunk(directory, 0), "r") as h5:
        values = h5["Subhalo/SubhaloGrNr"][()]
    values[:] = 0
    edit(_chunk(directory, 0), "Subhalo/SubhaloGrNr", values)


def _garbage(directory: Path) -> None:
    _chunk(directory, 1).write_bytes(b"this is not HDF5" * 10)


BAD_INPUTS = {
    "missing chunk": (_unlink(1), "fof_subhalo_tab_099.0.hdf5",
                      r"'NumFiles' = 3 but 2 file\(s\) found \(missing: fof_subhalo_tab_099\.1"),
    "chunk numbers": (_renumber, "fof_subhalo_tab_099.0.hdf5",
                      r"3 file\(s\) found \(missing: fof_subhalo_tab_099\.2\.hdf5\)"),
    "group total": (_all_chunks("Ngroups_Total", np.int32(301)), "fof_subhalo_tab_099.0",
                    "'Ngroups_Total' = 301 but the chunks"),
    "subhalo total": (_all_chunks("Nsubgroups_Total", np.int32(5)), "fof_subhalo_tab_099.0",
                      "'Nsubgroups_Total' = 5"),
    "rows vs header": (_shift_group_counts, "fof_subhalo_tab_099.0.hdf5",
                       r"field Group/GroupFirstSub has shape \(120,\) but Header attribute "
                       "'Ngroups_ThisFile' = 121"),
    "missing field": (lambda d: edit(_chunk(d, 2), "Subhalo/SubhaloSFR"),
                      "fof_subhalo_tab_099.2.hdf5", "missing field Subhalo/SubhaloSFR"),
    "missing group field": (lambda d: edit(_chunk(d, 0), "Group/Group_R_Crit200"),
                            "fof_subhalo_tab_099.0.hdf5", "missing field Group/Group_R_Crit200"),
    "missing header attribute": (lambda d: set_attribute(_chunk(d, 1), "HubbleParam", None),
                                 "fof_subhalo_tab_099.1.hdf5",
                                 "missing Header attribute 'HubbleParam'"),
    "chunks disagree": (lambda d: set_attribute(_chunk(d, 2), "Redshift", 0.5),
                        "fof_subhalo_tab_099.2.hdf5", "'Redshift' = 0.5 but"),
    "NaN group mass": (_nan_in("Group/GroupMass", 2), "fof_subhalo_tab_099.2.hdf5",
                       "field Group/GroupMass: 1 of 180 rows are NaN or inf"),
    "NaN halo mass": (_nan_in("Group/Group_M_Crit200", 0), "fof_subhalo_tab_099.0.hdf5",
                      "field Group/Group_M_Crit200: 1 of 120 rows are NaN"),
    "NaN stellar mass": (_nan_in("Subhalo/SubhaloMassType", 1, column=4),
                         "fof_subhalo_tab_099.1.hdf5",
                         "field Subhalo/SubhaloMassType: 1 of 200 rows are NaN"),
    "box too small": (_all_chunks("BoxSize", 10_000.0), "fof_subhalo_tab_099.0.hdf5",
                      r"field Group/GroupPos \(Mpc/h\): \d+ of 120 positions lie outside the "
                      r"box \[0, 10\].*disagrees with the positions; Header attribute "
                      "'BoxSize' = 10000 ckpc/h"),
    "broken links": (_break_links, "fof_subhalo_tab_099.0.hdf5",
                     "inconsistent Group/GroupFirstSub and Subhalo/SubhaloGrNr"),
    "not HDF5": (_garbage, "fof_subhalo_tab_099.1.hdf5", "not a readable HDF5 file"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_subfind_input_names_file_and_field(chunked, case):
    change, filename, match = BAD_INPUTS[case]
    change(chunked)
    before = sorted(p.name for p in chunked.iterdir())
    with pytest.raises(CatalogError, match=match) as info:
        ingest_subfind(chunked)
    assert filename in str(info.value)
    assert sorted(p.name for p in chunked.iterdir()) == before


def test_missing_paths_and_empty_selection(tmp_path, chunked):
    with pytest.raises(CatalogError, match="nowhere: no such file or directory"):
        ingest_subfind(tmp_path / "nowhere")
    with pytest.raises(CatalogError, match=r"x\.hdf5: no such file"):
        ingest_subfind([tmp_path / "x.hdf5"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatalogError, match="empty: no Subfind group catalog"):
        ingest_subfind(tmp_path / "empty")
    with pytest.raises(CatalogError, match=r"groups_099: no central passes the cuts: \d+ "
                                           r"centrals, \d+ below log10 M\* >= 14 "
                                           r"\(Subhalo/SubhaloMassType\)"):
        ingest_subfind(chunked, stellar_mass_min=14.0)


def test_several_snapshots_in_one_directory_are_refused(tmp_path, snap):
    write_snapshot(snap, tmp_path, snapshot=32, layout="camels")
    write_snapshot(snap, tmp_path, snapshot=33, layout="camels")
    with pytest.raises(CatalogError, match=r"several snapshots .*032, 033"):
        ingest_subfind(tmp_path)
    assert len(ingest_subfind(tmp_path / "groups_033.hdf5")) > 0


@pytest.mark.parametrize(("options", "match"), [
    ({"mass_definition": "GroupMass"}, "mass_definition 'GroupMass' is not one of"),
    ({"sfr_floor": 0.0}, "sfr_floor 0.0 must be a log10 sSFR"),
    ({"stellar_mass_min": float("nan")}, "stellar_mass_min must be a finite number"),
    ({"formation_table": "a.csv", "sublink": object()}, "not both"),
])
def test_bad_options_are_refused_before_reading(tmp_path, options, match):
    """Bad options are bad input (a CatalogError, exit 2 in the CLI), not a bare ValueError."""
    with pytest.raises(CatalogError, match=match):
        ingest_subfind(tmp_path / "nowhere", **options)


def test_missing_stellar_field_and_wrong_shapes(chunked):
    with pytest.raises(CatalogError, match="missing field Subhalo/SubhaloMassInHalfRadType"):
        ingest_subfind(chunked, stellar_mass_field="SubhaloMassInHalfRadType")
    path = _chunk(chunked, 1)
    edit(path, "Subhalo/SubhaloSpin", np.zeros((200, 2), np.float32))
    with pytest.raises(CatalogError, match=r"fof_subhalo_tab_099\.1\.hdf5: field "
                                           r"Subhalo/SubhaloSpin must have shape \(200, 3\)"):
        ingest_subfind(chunked)


# --------------------------------------------------------------------------- tables


TNG300_COLUMNS = ["ID", "X_h", "Y_h", "Z_h", "M_h", "C_h", "S_h", "z_h", "Delta3_h",
                  "x_g", "y_g", "z_g", "smass", "color", "radius", "sSFR"]


def tng300_table(n: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({
        "ID": rng.permutation(10 * n)[:n], "X_h": rng.uniform(0, 205, n),
        "Y_h": rng.uniform(0, 205, n), "Z_h": rng.uniform(0, 205, n),
        "M_h": rng.uniform(10.5, 14, n), "C_h": rng.uniform(0.7, 1.3, n),
        "S_h": rng.uniform(0.01, 0.1, n), "z_h": rng.uniform(0.2, 3, n),
        "Delta3_h": rng.uniform(0.1, 10, n), "smass": rng.uniform(8.75, 11.5, n),
        "color": rng.uniform(0, 1.2, n), "radius": rng.uniform(0.1, 1.5, n),
        "sSFR": rng.uniform(-14, -9, n)})
    for axis in "xyz":
        table[f"{axis}_g"] = table[f"{axis.upper()}_h"]
    return table[TNG300_COLUMNS]


def test_tng300_csv_layout_is_recognised(tmp_path):
    table = tng300_table()
    table.loc[0, "X_h"] = 205.0  # on the upper face: wrapped to 0
    path = tmp_path / "tng300_test.csv"
    table.to_csv(path, index=False)
    catalog = ingest_table(path, box_size=205.0)
    out = catalog.table
    assert list(out.columns) == ["halo_id", "x", "y", "z", "M_h", "C_h", "S_h", "z_h",
                                 "Delta3_h", "x_g", "y_g", "z_g", "smass", "color",
                                 "radius", "sSFR"]
    np.testing.assert_array_equal(out["halo_id"], table["ID"])
    np.testing.assert_array_equal(out["y"], table["Y_h"])
    np.testing.assert_array_equal(out["x_g"], table["x_g"])
    assert out["x"].iloc[0] == 0.0
    np.testing.assert_array_equal(out["x"].iloc[1:], table["X_h"].iloc[1:])
    assert catalog.meta.box_size == 205.0
    assert catalog.meta.extra["format"] == "tng300"
    assert catalog.meta.extra["renamed"] == {"ID": "halo_id", "X_h": "x", "Y_h": "y",
                                             "Z_h": "z"}


def test_tng300_stellar_mass_variant_in_parquet(tmp_path):
    table = tng300_table().rename(columns={"smass": "stellar_mass"})
    path = tmp_path / "variant.parquet"
    table.to_parquet(path)
    catalog = ingest(path, box_size=205.0, redshift=0.0)
    assert "smass" in catalog.table.columns and "stellar_mass" not in catalog.table.columns
    np.testing.assert_array_equal(catalog.table["smass"], table["stellar_mass"])


def test_automatic_renames_never_clobber_an_existing_column(tmp_path):
    table = tng300_table().assign(stellar_mass=lambda t: 10 ** t["smass"])
    path = tmp_path / "both.csv"
    table.to_csv(path, index=False)
    catalog = ingest_table(path, box_size=205.0)
    np.testing.assert_array_equal(catalog.table["smass"], table["smass"])
    np.testing.assert_array_equal(catalog.table["stellar_mass"], table["stellar_mass"])
    # The user's mapping wins over the layout's renames.
    catalog = ingest_table(path, box_size=205.0, mapping={"ID": "tng_id"})
    assert "tng_id" in catalog.table.columns and "halo_id" not in catalog.table.columns


def test_table_mapping_keeps_unknown_columns(tmp_path):
    rng = np.random.default_rng(1)
    table = pd.DataFrame({"logMh": rng.uniform(11, 13, 20), "mstar": rng.uniform(9, 11, 20),
                          "flag": np.arange(20), "note": ["a"] * 20})
    path = tmp_path / "mine.csv"
    table.to_csv(path, index=False)
    catalog = ingest_table(path, mapping={"logMh": "M_h", "mstar": "smass"})
    assert list(catalog.table.columns) == ["M_h", "smass", "flag", "note"]
    np.testing.assert_array_equal(catalog.table["M_h"], table["logMh"])
    assert catalog.meta.box_size is None and catalog.meta.extra["format"] == "table"


@pytest.mark.parametrize(("make", "options", "match"), [
    (lambda: tng300_table(), {}, r"has positions \(x, y, z\) but no box size: pass box_size "
                                 r"\(--box"),
    (lambda: tng300_table(), {"box_size": 100.0}, r"column 'X_h': \d+ of 50 positions lie "
                                                  "outside the box .* box_size \\(--box\\)"),
    (lambda: tng300_table().assign(X_h=lambda t: t["X_h"] * 1000), {"box_size": 205.0},
     "kpc/h"),
    (lambda: tng300_table().assign(M_h=np.nan), {"box_size": 205.0},
     r"column 'M_h' \(log10\(Msun/h\)\): 50 of 50 rows are NaN"),
    (lambda: tng300_table().assign(smass=lambda t: 10 ** t["smass"]), {"box_size": 205.0},
     "column 'smass'.*outside"),
    (lambda: tng300_table().assign(ID=0), {"box_size": 205.0}, "repeat an earlier id"),
    (lambda: tng300_table(), {"box_size": 205.0, "mapping": {"Mh": "M_h"}},
     r"mapping names columns \['Mh'\] that the file lacks"),
    (lambda: tng300_table(), {"box_size": 205.0, "mapping": {"x_g": "M_h"}},
     "several columns are called 'M_h'"),
    (lambda: tng300_table().assign(Y_h="far"), {"box_size": 205.0},
     "column 'Y_h': positions are not numeric"),
])
def test_bad_tables_are_refused_naming_file_and_column(tmp_path, make, options, match):
    path = tmp_path / "bad_table.csv"
    make().to_csv(path, index=False)
    with pytest.raises(CatalogError, match=match) as info:
        ingest_table(path, **options)
    assert "bad_table.csv" in str(info.value)


def test_galhalo_catalog_files_keep_their_metadata(tmp_path):
    table = tng300_table().rename(columns={"ID": "halo_id", "X_h": "x", "Y_h": "y",
                                           "Z_h": "z"})
    meta = CatalogMeta(box_size=205.0, redshift=0.5, source="test")
    for suffix in (".parquet", ".csv", ".h5"):
        path = write_catalog(Catalog(table, meta), tmp_path / f"cat{suffix}")
        catalog = ingest(path)
        assert catalog.meta.box_size == 205.0 and catalog.meta.redshift == 0.5
        assert catalog.meta.extra["format"] == "galhalo"
        pd.testing.assert_frame_equal(catalog.table, read_catalog(path).table)
    with pytest.raises(CatalogError, match=r"box_size .* = 100 Mpc/h disagrees with the box "
                                           r"size in the file's metadata, 205"):
        ingest_table(tmp_path / "cat.parquet", box_size=100.0)


def test_ingest_dispatches_on_what_it_finds(tmp_path, chunked):
    csv = tmp_path / "t.csv"
    tng300_table().to_csv(csv, index=False)
    assert detect_input(csv) == "table"
    assert detect_input(chunked) == "subfind"
    assert detect_input(next(chunked.iterdir())) == "subfind"
    assert detect_input([csv]) == "subfind"
    other = tmp_path / "notes.txt"
    other.write_text("x")
    with pytest.raises(CatalogError, match=r"notes.txt: cannot tell what this is \(suffix "
                                           r"'\.txt'\)"):
        ingest(other)
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as h5:
        h5.create_group("Stuff")
    with pytest.raises(CatalogError, match=r"plain\.h5: HDF5 file that is neither"):
        ingest(plain)
    with pytest.raises(CatalogError, match=r"options box_size do not apply to a subfind input"):
        ingest(chunked, box_size=205.0)
    with pytest.raises(CatalogError, match=r"gone\.csv: no such file or directory"):
        ingest(tmp_path / "gone.csv")
