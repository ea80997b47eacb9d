"""Rockstar / Consistent-Trees hlist files → a halo catalog, against hand computations.

The files are written here, halo by halo, with known values; every expected column is
computed row by row in plain Python (``math``) with the formulas of docs/ingest.md
written in physical units (Mpc, Msun, G in Mpc (km/s)^2 / Msun), never with galhalo's.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from galhalo.catalog import CatalogError, read_catalog
from galhalo.cli import app
from galhalo.ingest import detect_input, ingest, ingest_rockstar, stream_rockstar

G_MPC = 4.30091e-9  # Mpc (km/s)^2 / Msun
A, H0, OM, BOX = 0.8, 0.7, 0.3, 50.0
runner = CliRunner()

#: The columns of the test files: an hlist layout with the look-alike names
#: (sam_Mvir, Mvir_all, Spin, Rs_Klypin) that must not be taken for the real ones.
NAMES = ("scale id desc_scale desc_id num_prog pid upid desc_pid phantom sam_Mvir Mvir Rvir "
         "rs vrms mmp? scale_of_last_MM vmax x y z vx vy vz Jx Jy Jz Spin Rs_Klypin "
         "Mvir_all M200b Spin_Bullock b_to_a(500c) Macc Mpeak Vacc Vpeak Halfmass_Scale "
         "Mpeak_Scale Acc_Scale First_Acc_Scale").split()

#: Halos in file order: sub-halos before their hosts, a sub-halo of a sub-halo (pid
#: 11, upid 10), a sub-halo across the periodic boundary from its host (id 11).
HALOS: list[dict[str, float]] = [
    dict(id=11, pid=10, upid=10, Mvir=1e11, Rvir=80.0, vmax=120.0, x=49.9, y=20.1, z=20.0,
         vx=300.0, vy=-50.0, vz=20.0, Mpeak=2e11, Vpeak=150.0, Acc_Scale=0.6),
    dict(id=12, pid=11, upid=10, Mvir=2e10, Rvir=40.0, vmax=70.0, x=0.3, y=20.0, z=19.8,
         vx=80.0, vy=-30.0, vz=120.0, Mpeak=5e10, Vpeak=90.0, Acc_Scale=0.75),
    dict(id=20, pid=-1, upid=-1, Mvir=1e12, Rvir=250.0, vmax=220.0, x=25.0, y=25.0, z=25.0,
         vx=-40.0, vy=10.0, vz=5.0, Spin_Bullock=0.05, Halfmass_Scale=0.45, Jx=3e13,
         Jy=-1e13, Jz=2e13),
    dict(id=10, pid=-1, upid=-1, Mvir=1e13, Rvir=500.0, vmax=400.0, x=0.05, y=20.0, z=20.0,
         vx=100.0, vy=-50.0, vz=20.0, Spin_Bullock=0.03, Halfmass_Scale=0.5, Jx=1e15,
         Jy=2e15, Jz=-5e14),
    dict(id=30, pid=-1, upid=-1, Mvir=3e11, Rvir=170.0, vmax=160.0, x=27.0, y=25.0, z=25.0,
         vx=0.0, vy=0.0, vz=0.0, Spin_Bullock=0.02, Halfmass_Scale=0.6, Jx=1e12, Jy=0.0,
         Jz=0.0),
    dict(id=31, pid=30, upid=30, Mvir=1e9, Rvir=15.0, vmax=30.0, x=27.05, y=25.0, z=25.0,
         vx=10.0, vy=20.0, vz=0.0, Mpeak=4e9, Vpeak=35.0, Acc_Scale=0.7),
    dict(id=41, pid=40, upid=40, Mvir=3e10, Rvir=50.0, vmax=80.0, x=10.0, y=40.05, z=10.0,
         vx=0.0, vy=0.0, vz=0.0, Mpeak=8e10, Vpeak=80.0, Acc_Scale=0.8),
    dict(id=40, pid=-1, upid=-1, Mvir=5e10, Rvir=60.0, vmax=90.0, x=10.0, y=40.0, z=10.0,
         vx=5.0, vy=5.0, vz=5.0, Spin_Bullock=0.04, Halfmass_Scale=0.35, Jx=1e10,
         Jy=1e10, Jz=0.0),
]
HOSTS = [h for h in HALOS if h["upid"] == -1]


#: Values of the columns a halo above does not set.
DEFAULTS = {"scale": A, "Acc_Scale": A, "Spin_Bullock": 0.1, "Halfmass_Scale": 0.5,
            "Jx": 1.0, "Jy": 1.0, "Jz": 1.0}


def line_of(halo: dict[str, float], names=NAMES) -> str:
    """One data line: the halo's values, 0.5 in every column nobody sets."""
    values = {key.lower(): value for key, value in {
        **DEFAULTS, "Mpeak": halo["Mvir"], "Vpeak": halo["vmax"], **halo}.items()}
    cells = [str(int(values[n.lower()])) if n.lower() in ("id", "pid", "upid")
             else repr(float(values.get(n.lower(), 0.5))) for n in names]
    return " " + " ".join(cells)


def write_hlist(path: Path, halos=HALOS, names=NAMES, *, suffixes: bool = True,
                box: float | None = BOX, lines: list[str] | None = None) -> Path:
    """An hlist file: column line (``name(N)`` or bare names), a, cosmology, box, units."""
    columns = [f"{n}({i})" if suffixes else n for i, n in enumerate(names)]
    header = ["#" + " ".join(columns), f"#a = {A:.6f}",
              f"#Omega_M = {OM:.6f}; Omega_L = {1 - OM:.6f}; h0 = {H0:.6f}"]
    if box is not None:
        header.append(f"#Full box size = {box:.6f} Mpc/h")
    header += ["#Units: Masses in Msun / h", "#Units: Positions in Mpc / h (comoving)"]
    body = lines if lines is not None else [line_of(h, names) for h in halos]
    path.write_text("\n".join(header + body) + "\n")
    return path


# --------------------------------------------------------------------------- reference


def periodic(d: float) -> float:
    return d - BOX * round(d / BOX)


def v_vir(h: dict[str, float]) -> float:
    """sqrt(G M / R) with M = Mvir / h Msun and R = a Rvir / 1000 / h physical Mpc."""
    return math.sqrt(G_MPC * (h["Mvir"] / H0) / (A * h["Rvir"] / 1000.0 / H0))


def delta3(host: dict[str, float]) -> float:
    total = sum(h["Mvir"] for h in HOSTS)
    inside = sum(h["Mvir"] for h in HOSTS
                 if math.dist([0, 0, 0], [periodic(h[c] - host[c]) for c in "xyz"]) <= 3.0)
    return inside / (total * 4 / 3 * math.pi * 27 / BOX**3)


def expected_rows(min_mass: float | None = None) -> dict[int, dict[str, float]]:
    by_id = {h["id"]: h for h in HALOS}
    rows = {}
    for halo in HALOS:
        host = halo if halo["upid"] == -1 else by_id[halo["upid"]]
        if min_mass is not None and (math.log10(host["Mvir"]) < min_mass or (
                halo is not host and math.log10(halo["Mpeak"]) < min_mass)):
            continue
        row = {"host_id": host["id"], "is_central": halo is host,
               "M_h": math.log10(host["Mvir"]), "C_h": host["vmax"] / v_vir(host),
               "S_h": host["Spin_Bullock"], "z_h": 1 / host["Halfmass_Scale"] - 1,
               "Delta3_h": delta3(host), "x": halo["x"], "y": halo["y"], "z": halo["z"],
               "vx": halo["vx"], "vy": halo["vy"], "vz": halo["vz"]}
        if halo is not host:
            dr = [periodic(halo[c] - host[c]) for c in "xyz"]
            dv = [halo[f"v{c}"] - host[f"v{c}"] for c in "xyz"]
            r = math.hypot(*dr)
            v_r = sum(a * b for a, b in zip(dr, dv, strict=True)) / r
            row.update(M_sub=math.log10(halo["Mvir"]), Vmax_sub=halo["vmax"],
                       M_peak=math.log10(halo["Mpeak"]), Vmax_peak=halo["Vpeak"],
                       z_infall=1 / halo["Acc_Scale"] - 1, r_host=r / (host["Rvir"] / 1000),
                       v_r=v_r, v_t=math.sqrt(sum(v * v for v in dv) - v_r**2))
        rows[halo["id"]] = row
    for row in rows.values():
        row["N_sat"] = sum(1 for other in rows.values()
                           if other["host_id"] == row["host_id"] and not other["is_central"])
    return rows


def check_rows(table: pd.DataFrame, expected: dict[int, dict[str, float]]) -> None:
    assert list(table["halo_id"]) == list(expected)  # file order
    for _, row in table.iterrows():
        want = expected[int(row["halo_id"])]
        for name, value in want.items():
            assert row[name] == pytest.approx(value, rel=1e-9, abs=1e-9), (row["halo_id"], name)
        if row["is_central"]:
            assert np.isnan(row[["M_sub", "M_peak", "r_host", "v_r", "v_t", "z_infall"]]
                            .to_numpy(float)).all()


# --------------------------------------------------------------------------- tests


def test_every_derived_column_matches_the_hand_computation(tmp_path):
    catalog = ingest_rockstar(write_hlist(tmp_path / "hlist_0.80000.list"), satellites=True)
    check_rows(catalog.table, expected_rows())
    table = catalog.table
    assert table["x"].iloc[0] == pytest.approx(49.9)  # the sub-halo across the boundary
    assert list(table.columns) == [
        "halo_id", "host_id", "is_central", "M_h", "C_h", "S_h", "z_h", "Delta3_h", "N_sat",
        "M_sub", "Vmax_sub", "M_peak", "Vmax_peak", "z_infall", "r_host", "v_r", "v_t",
        "x", "y", "z", "vx", "vy", "vz"]
    meta = catalog.meta
    assert meta.box_size == BOX and meta.redshift == pytest.approx(1 / A - 1)
    assert meta.cosmology == {"name": "hlist header", "Om0": OM, "Ode0": 1 - OM,
                              "H0": pytest.approx(100 * H0)}
    counts = meta.extra["counts"]
    assert counts["hosts"] == 4 and counts["subhalos"] == 4 and counts["selected"] == 8
    assert catalog.has_satellites and catalog.satellites().table["halo_id"].tolist() == [
        11, 12, 31, 41]


def test_without_satellites_one_row_per_host_the_rows_populate_paints(tmp_path):
    source = write_hlist(tmp_path / "hlist_0.80000.list")
    full = ingest_rockstar(source, satellites=True).table
    hosts = ingest_rockstar(source).table
    centrals = full[full["is_central"]].reset_index(drop=True)
    assert "is_central" not in hosts.columns and "host_id" not in hosts.columns
    assert not {"M_sub", "M_peak", "r_host"} & set(hosts.columns)
    pd.testing.assert_frame_equal(hosts, centrals[hosts.columns])
    # N_sat still counts each host's sub-halos
    per_host = full[~full["is_central"]].groupby("host_id").size()
    expected = per_host.reindex(hosts["halo_id"]).fillna(0).astype(int).to_numpy()
    np.testing.assert_array_equal(hosts["N_sat"].to_numpy(), expected)
    streamed = stream_rockstar(source, tmp_path / "hosts.parquet", chunk_rows=2)
    assert streamed.rows == len(hosts)
    pd.testing.assert_frame_equal(read_catalog(tmp_path / "hosts.parquet").table, hosts)


def test_a_mass_cut_drops_small_hosts_with_their_subhalos_and_small_subhalos(tmp_path):
    catalog = ingest_rockstar(write_hlist(tmp_path / "h.list"), min_mass=10.8, satellites=True)
    check_rows(catalog.table, expected_rows(10.8))
    assert catalog.table["halo_id"].tolist() == [11, 20, 10, 30]
    counts = catalog.meta.extra["counts"]
    assert (counts["hosts_below_cut"], counts["subhalos_below_cut"],
            counts["subhalos_of_hosts_below_cut"]) == (1, 2, 1)
    assert catalog.table.set_index("halo_id").loc[30, "N_sat"] == 0


def test_streaming_in_tiny_chunks_equals_the_one_shot_read(tmp_path):
    source = write_hlist(tmp_path / "h.list")
    whole = ingest_rockstar(source, chunk_rows=1000, satellites=True)
    result = stream_rockstar(source, tmp_path / "out.parquet", chunk_rows=2, satellites=True)
    streamed = read_catalog(tmp_path / "out.parquet")  # validated, host structure too
    assert result.rows == len(whole) == 8
    pd.testing.assert_frame_equal(streamed.table, whole.table)
    assert streamed.meta.to_dict() == whole.meta.to_dict()


def test_header_variants_give_the_same_catalog(tmp_path):
    reference = ingest_rockstar(write_hlist(tmp_path / "a.list"), satellites=True).table
    bare = ingest_rockstar(write_hlist(tmp_path / "b.list", suffixes=False), satellites=True).table
    lower = [n.lower() for n in NAMES]
    lowered = ingest_rockstar(write_hlist(tmp_path / "c.list", names=lower), satellites=True).table
    pd.testing.assert_frame_equal(bare, reference)
    pd.testing.assert_frame_equal(lowered, reference)


def test_without_spin_bullock_the_spin_comes_from_j_and_without_halfmass_scale_no_z_h(
        tmp_path):
    names = [n for n in NAMES if n not in ("Spin_Bullock", "Halfmass_Scale")]
    catalog = ingest_rockstar(write_hlist(tmp_path / "h.list", names=names), satellites=True)
    assert "z_h" not in catalog.table.columns
    assert catalog.meta.extra["z_h_source"] is None
    by_id = catalog.table.set_index("halo_id")
    for host in HOSTS:
        j = math.sqrt(host["Jx"] ** 2 + host["Jy"] ** 2 + host["Jz"] ** 2)  # Msun/h Mpc/h km/s
        r_phys = A * host["Rvir"] / 1000  # Mpc/h
        spin = j / (math.sqrt(2) * host["Mvir"] * v_vir(host) * r_phys)
        assert by_id.loc[host["id"], "S_h"] == pytest.approx(spin, rel=1e-9)


def test_detection_without_format_and_the_command_line(tmp_path):
    source = write_hlist(tmp_path / "hlist_0.80000.list")
    assert detect_input(source) == "rockstar"
    assert ingest(source, satellites=True).meta.extra["format"] == "rockstar"
    out = tmp_path / "halos.parquet"
    result = runner.invoke(app, ["ingest", "--satellites", str(source), "--out", str(out),
                                 "--min-mass", "10.8", "--chunk-rows", "3"])
    assert result.exit_code == 0, result.output
    assert "hosts_kept 3" in result.output
    check_rows(read_catalog(out).table, expected_rows(10.8))
    explicit = tmp_path / "explicit.parquet"
    result = runner.invoke(app, ["ingest", "--satellites", str(source), "--out", str(explicit),
                                 "--format", "rockstar"])
    assert result.exit_code == 0, result.output
    assert len(read_catalog(explicit)) == 8


def test_the_real_program_streams_an_hlist(tmp_path):
    import subprocess
    import sys

    source = write_hlist(tmp_path / "h.list")
    out = tmp_path / "h.parquet"
    done = subprocess.run([sys.executable, "-m", "galhalo.cli", "ingest", "--satellites",
                           str(source),
                           "--format", "rockstar", "--out", str(out)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert len(read_catalog(out)) == 8


def test_nan_in_a_column_the_row_does_not_use_is_accepted(tmp_path):
    nan = math.nan
    halos = [{**h, "Mpeak": nan, "Vpeak": nan, "Acc_Scale": nan} if h["upid"] == -1
             else {**h, "Spin_Bullock": nan, "Halfmass_Scale": nan} for h in HALOS]
    catalog = ingest_rockstar(write_hlist(tmp_path / "h.list", halos=halos), min_mass=10.8,
                              satellites=True)
    check_rows(catalog.table, expected_rows(10.8))
    bad = [{**HALOS[0], "Mpeak": nan}, *HALOS[1:]]
    with pytest.raises(CatalogError, match=r"line 7: column 'Mpeak' = nan: must be finite"):
        ingest_rockstar(write_hlist(tmp_path / "bad.list", halos=bad), satellites=True)


def test_orphans_are_refused_or_dropped_and_counted(tmp_path):
    orphan = {**HALOS[0], "id": 99, "upid": 777, "pid": 777}
    source = write_hlist(tmp_path / "h.list", halos=[*HALOS, orphan])
    with pytest.raises(CatalogError, match=r"id 99, upid 777.*--drop-orphans"):
        ingest_rockstar(source, satellites=True)
    catalog = ingest_rockstar(source, drop_orphans=True, satellites=True)
    assert catalog.meta.extra["counts"]["orphans_dropped"] == 1
    assert 99 not in set(catalog.table["halo_id"])


def bad_line(index: int, replace: str) -> list[str]:
    lines = [line_of(h) for h in HALOS]
    lines[index] = replace
    return lines


MVIR = NAMES.index("Mvir")
BAD_INPUTS = {
    "empty": (lambda p: p.write_text("") or p, "empty"),
    "header only": (lambda p: write_hlist(p, lines=[]), "no halos"),
    "truncated": (lambda p: write_hlist(p, lines=bad_line(7, line_of(HALOS[7])[:40])),
                  r"line 14 has fewer than"),
    "too many fields": (lambda p: write_hlist(p, lines=bad_line(3, line_of(HALOS[3]) + " 1")),
                        r"line 10 has \d+ fields but the header names"),
    "garbled": (lambda p: write_hlist(p, lines=bad_line(
        2, line_of(HALOS[2]).replace(" 1000000000000.0 ", " 1.0e1x2 ", 1))),
        r"line 9: column 'Mvir' holds"),
    "non-integer id": (lambda p: write_hlist(p, lines=bad_line(
        1, line_of(HALOS[1]).replace(" 12 ", " 12.5 ", 1))),
        r"line 8: column 'id' = 12.5 is not an integer id"),
    "tree marker": (lambda p: write_hlist(p, lines=bad_line(4, "#tree 30")),
                    r"line 11 has fewer than the 40 fields"),
    "negative mass": (lambda p: write_hlist(p, halos=[*HALOS[:5], {**HALOS[5], "Mvir": -1e9},
                                                      *HALOS[6:]]),
                      r"line 12: column 'Mvir' = -1e\+09: must be > 0"),
    "nan mass": (lambda p: write_hlist(p, halos=[{**HALOS[0], "Mvir": math.nan}, *HALOS[1:]]),
                 r"line 7: column 'Mvir' is NaN or inf"),
    "box too small": (lambda p: write_hlist(p, box=40.0),
                      r"line 7: column 'x' = 49.9: outside the box \[0, 40\]"),
    "no box": (lambda p: write_hlist(p, box=None), "pass the box side"),
    "missing column": (lambda p: write_hlist(p, names=[n for n in NAMES if n != "vmax"]),
                       r"lacks the columns vmax"),
    "repeated id": (lambda p: write_hlist(p, halos=[*HALOS, {**HALOS[2]}]),
                    r"1 halo ids appear more than once \(first: id 20\)"),
    "upid of a sub-halo": (lambda p: write_hlist(p, halos=[*HALOS, {**HALOS[0], "id": 50,
                                                                    "upid": 11}]),
                           r"id 50 has upid 11, which is a sub-halo"),
    "other snapshot": (lambda p: write_hlist(p, halos=[*HALOS, {**HALOS[2], "id": 60,
                                                                "scale": 0.5}]),
                       r"line 15: column 'scale' = 0.5: differs from the snapshot"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_no_file(tmp_path, case):
    make, message = BAD_INPUTS[case]
    source = make(tmp_path / "hlist_0.80000.list")
    out = tmp_path / "out.parquet"
    result = runner.invoke(app, ["ingest", "--satellites", str(source), "--out", str(out),
                                 "--format", "rockstar"])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("error: "), result.output
    assert result.output.rstrip().endswith(errors[0]), result.output
    with pytest.raises(CatalogError, match=message):  # line numbers across tiny chunks
        stream_rockstar(source, out, chunk_rows=2, satellites=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hlist_0.80000.list"]


def test_options_are_checked(tmp_path):
    source = write_hlist(tmp_path / "h.list")
    with pytest.raises(CatalogError, match="disagrees with the header"):
        ingest_rockstar(source, box_size=100.0, satellites=True)
    with pytest.raises(CatalogError, match="writes Parquet"):
        stream_rockstar(source, tmp_path / "out.csv", satellites=True)
    with pytest.raises(CatalogError, match="do not apply to a rockstar input"):
        ingest(source, mass_definition="Group_M_Crit200")
    assert ingest_rockstar(source, box_size=BOX, satellites=True).meta.box_size == BOX
    boxless = write_hlist(tmp_path / "boxless.list", box=None)
    out = tmp_path / "boxless.parquet"
    result = runner.invoke(app, ["ingest", str(boxless), "--out", str(out), "--box", "50"])
    assert result.exit_code == 0, result.output
    assert read_catalog(out).meta.box_size == BOX
