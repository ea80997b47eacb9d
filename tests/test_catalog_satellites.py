"""Catalogs with satellites: the host structure, satellite-only columns, file round trips,
and model commands that pick centrals or satellites (``--galaxies``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from galhalo.catalog import Catalog, CatalogError, CatalogMeta, read_catalog, write_catalog
from galhalo.catalog.hosts import (
    MAX_HOST_DISTANCE,
    central_rows,
    central_values,
)
from galhalo.catalog.schema import HALO, SUBHALO
from galhalo.catalog.virial import virial_radius
from galhalo.cli import app
from galhalo.errors import PopulateError
from galhalo.models import model_family

BOX = 100.0


def satellite_table(n_hosts: int = 40, seed: int = 0) -> pd.DataFrame:
    """Hosts with 0-3 satellites each, satellites within 0.5 host radii of their central."""
    rng = np.random.default_rng(seed)
    rows = []
    next_id = n_hosts
    for host in range(n_hosts):
        log_mass = rng.uniform(11.5, 14.0)
        centre = rng.uniform(0, BOX, 3)
        halo = {"M_h": log_mass, "C_h": rng.uniform(0.8, 1.3), "S_h": rng.uniform(0.01, 0.1),
                "z_h": rng.uniform(0.3, 2.0), "Delta3_h": rng.uniform(0.5, 10.0)}
        galaxy = {"smass": 0.8 * log_mass - 0.5, "color": rng.uniform(0.3, 1.1),
                  "sSFR": rng.uniform(-12.5, -9.5), "radius": rng.uniform(0.2, 0.9)}
        rows.append({"halo_id": host, "host_id": host, "is_central": True, **halo, **galaxy,
                     **dict.fromkeys(SUBHALO, np.nan),
                     "x": centre[0], "y": centre[1], "z": centre[2]})
        for _ in range(rng.integers(0, 4)):
            direction = rng.normal(size=3)
            r_host = rng.uniform(0.05, 0.5)
            offset = r_host * virial_radius(log_mass) * direction / np.linalg.norm(direction)
            position = (centre + offset) % BOX
            sub = {"M_sub": log_mass - 2.0, "Vmax_sub": 100.0, "M_peak": log_mass - 1.5,
                   "Vmax_peak": 140.0, "z_infall": 0.8, "r_host": r_host, "v_r": -50.0,
                   "v_t": 120.0}
            rows.append({"halo_id": next_id, "host_id": host, "is_central": False, **halo,
                         "smass": galaxy["smass"] - 1.0, "color": 0.9, "sSFR": -11.0,
                         "radius": 0.3, **sub,
                         "x": position[0], "y": position[1], "z": position[2]})
            next_id += 1
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return satellite_table()


def _validate(table: pd.DataFrame) -> None:
    Catalog(table, CatalogMeta(box_size=BOX)).validate()


def test_a_satellite_catalog_validates_and_round_trips(table, tmp_path):
    catalog = Catalog(table, CatalogMeta(box_size=BOX)).validate()
    assert catalog.has_satellites
    n_satellites = int((~table["is_central"]).sum())
    assert n_satellites > 0
    assert len(catalog.satellites()) == n_satellites
    assert len(catalog.centrals()) == len(table) - n_satellites
    for suffix in (".parquet", ".csv", ".h5"):
        path = tmp_path / f"sat{suffix}"
        write_catalog(catalog, path)
        back = read_catalog(path)
        assert back.has_satellites
        assert back.table["is_central"].to_numpy().astype(bool).tolist() == \
            table["is_central"].tolist()
        np.testing.assert_array_equal(np.isnan(back.table["M_sub"]), table["is_central"])


def test_a_centrals_only_catalog_has_no_host_structure(table):
    centrals = table[table["is_central"]].drop(columns=["host_id", "is_central", *SUBHALO])
    catalog = Catalog(centrals.reset_index(drop=True), CatalogMeta(box_size=BOX)).validate()
    assert not catalog.has_satellites
    assert catalog.centrals() is catalog
    assert len(catalog.satellites()) == 0
    assert catalog.galaxies("all") is catalog
    with pytest.raises(CatalogError, match="no satellite rows"):
        catalog.galaxies("satellites")


def test_central_values_give_each_satellite_its_central(table):
    values = central_values(table, "sSFR")
    rows = central_rows(table)
    hosts = table["host_id"].to_numpy()
    assert (table["halo_id"].to_numpy()[rows] == hosts).all()
    assert table["is_central"].to_numpy()[rows].all()
    by_host = table[table["is_central"]].set_index("host_id")["sSFR"]
    np.testing.assert_array_equal(values, by_host.loc[hosts].to_numpy())


def _first_satellite(table: pd.DataFrame) -> int:
    return int(np.flatnonzero(~table["is_central"].to_numpy())[0])


def test_a_satellite_without_its_central_is_named(table):
    row = _first_satellite(table)
    broken = table.copy()
    broken.loc[row, "host_id"] = 10_000
    with pytest.raises(CatalogError, match=rf"host has no central row \(first at row {row}: "
                                           r"host_id 10000\)"):
        _validate(broken)


def test_two_centrals_in_one_host_are_named(table):
    row = _first_satellite(table)
    broken = table.copy()
    broken.loc[row, "is_central"] = True
    host = int(broken.loc[row, "host_id"])
    central = int(central_rows(table)[row])
    with pytest.raises(CatalogError, match=rf"1 hosts have more than one central row \(first: "
                                           rf"host_id {host} at rows {central}, {row}\)"):
        _validate(broken)


def test_a_central_whose_host_is_another_halo_is_refused(table):
    broken = table.copy()
    broken.loc[0, "host_id"] = 1
    with pytest.raises(CatalogError, match="centrals whose host_id differs from their halo_id"):
        _validate(broken)


def test_a_satellite_far_from_its_host_is_named(table):
    row = _first_satellite(table)
    host = int(central_rows(table)[row])
    far = table.copy()
    radius = virial_radius(float(far.loc[row, "M_h"]))
    far.loc[row, "x"] = (far.loc[host, "x"] + 1.2 * MAX_HOST_DISTANCE * radius) % BOX
    far.loc[row, "y"], far.loc[row, "z"] = far.loc[host, "y"], far.loc[host, "z"]
    if 1.2 * MAX_HOST_DISTANCE * radius > BOX / 2:
        pytest.skip("the host is too big for this box")
    with pytest.raises(CatalogError, match=rf"more than {MAX_HOST_DISTANCE:g} host radii "
                                           rf"from their central \(first at row {row}"):
        _validate(far)
    # across the periodic boundary, a satellite close to its central is fine
    near = table.copy()
    members = near["host_id"] == near.loc[row, "host_id"]
    near.loc[members, "x"] = (near.loc[members, "x"] - near.loc[host, "x"] + 0.01) % BOX
    near.loc[row, ["x", "y", "z"]] = [BOX - 0.01, near.loc[host, "y"], near.loc[host, "z"]]
    _validate(near)


def test_r_host_in_the_wrong_unit_is_named(table):
    row = _first_satellite(table)
    broken = table.copy()
    broken.loc[row, "r_host"] = 350.0  # kpc/h, say
    with pytest.raises(CatalogError, match="r_host"):
        _validate(broken)


def test_satellite_only_columns_may_be_nan_on_centrals_only(table):
    row = _first_satellite(table)
    broken = table.copy()
    broken.loc[row, "M_peak"] = np.nan
    with pytest.raises(CatalogError, match=rf"'M_peak'.*1 of {len(table)} rows are NaN or inf "
                                           rf"on satellite rows \(first at row {row}\)"):
        _validate(broken)
    # without the host structure, NaN is refused everywhere
    lone = table.drop(columns=["host_id", "is_central"])
    with pytest.raises(CatalogError, match=r"'M_peak'.* are NaN or inf"):
        _validate(lone)


@pytest.mark.parametrize(("flag", "message"), [
    ([2] * 3, "integer flags must be 0 or 1"),
    (["yes"] * 3, "expected true/false"),
])
def test_is_central_must_be_a_flag(flag, message):
    table = pd.DataFrame({"halo_id": [0, 1, 2], "host_id": [0, 1, 2], "is_central": flag,
                          "M_h": [12.0, 12.0, 12.0]})
    with pytest.raises(CatalogError, match=message):
        Catalog(table).validate()


def test_is_central_as_integers_is_accepted(table):
    integers = Catalog(table.assign(is_central=table["is_central"].astype(np.int64)),
                       CatalogMeta(box_size=BOX)).validate()
    assert integers.has_satellites
    np.testing.assert_array_equal(integers.central_mask(), table["is_central"].to_numpy())


def test_only_one_of_the_host_columns_is_refused(table):
    with pytest.raises(CatalogError, match="'host_id' without 'is_central'"):
        _validate(table.drop(columns=["is_central"]))


def test_a_negative_satellite_count_is_refused(table):
    counts = table.groupby("host_id")["is_central"].transform(lambda c: (~c).sum())
    _validate(table.assign(N_sat=counts.astype(np.int64)))
    with pytest.raises(CatalogError, match=r"'N_sat': 1 of .* are outside the physical range"):
        _validate(table.assign(N_sat=np.where(np.arange(len(table)) == 3, -1, counts)))
    with pytest.raises(CatalogError, match="counts must be integers"):
        _validate(table.assign(N_sat=counts.astype(float)))


def test_describe_skips_undefined_satellite_values(table):
    summary = Catalog(table, CatalogMeta(box_size=BOX)).describe()
    satellites = table[~table["is_central"]]
    assert summary.loc["M_sub", "min"] == pytest.approx(satellites["M_sub"].min())
    assert "is_central" not in summary.index and "host_id" not in summary.index


# ----------------------------------------------------------------------------- commands
runner = CliRunner()


def test_train_uses_centrals_unless_told(table, tmp_path):
    path = tmp_path / "sat.parquet"
    write_catalog(Catalog(table, CatalogMeta(box_size=BOX)), path)
    n_centrals = int(table["is_central"].sum())
    n_satellites = len(table) - n_centrals
    for which, rows in (("centrals", n_centrals), ("satellites", n_satellites)):
        out = tmp_path / f"model_{which}"
        result = runner.invoke(app, ["train", "--model", "gauss", "--catalog", str(path),
                                     "--out", str(out), "--condition", "M_h",
                                     "--target", "smass", "--epochs", "2",
                                     "--galaxies", which, "--valid", "0.5"])
        if rows < 23:  # too few rows to fit: the one-line refusal names the count
            assert result.exit_code == 2 and f"{rows} rows are too few" in result.output
            continue
        assert result.exit_code == 0, result.output
        left_out = len(table) - rows
        assert f"using the {rows:,} {which}" in result.output
        assert f"{left_out:,} other rows left out" in result.output
    bad = runner.invoke(app, ["train", "--model", "gauss", "--catalog", str(path), "--out",
                              str(tmp_path / "m"), "--galaxies", "orphans"])
    assert bad.exit_code == 2 and "unknown galaxy kind 'orphans'" in bad.output


def test_populate_refuses_sub_halos(table, tmp_path):
    from galhalo.populate import populate

    halos = table[[*HALO, "halo_id", "host_id", "is_central", "x", "y", "z"]]
    path = tmp_path / "halos.parquet"
    write_catalog(Catalog(halos, CatalogMeta(box_size=BOX)), path)
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"M_h": rng.uniform(11, 14, 200)})
    train["smass"] = 0.8 * train["M_h"] - 0.5 + rng.normal(0, 0.2, 200)
    model = model_family("gauss")(epochs=1, hidden=(8,)).fit(train, "M_h", "smass", seed=0,
                                                            progress=False)
    model.save(tmp_path / "model")
    with pytest.raises(PopulateError, match="holds sub-halos"):
        populate(tmp_path / "model", str(path), tmp_path / "mock", scheduler="threads")
    assert not (tmp_path / "mock").exists()


def test_info_counts_centrals_satellites_and_hosts(table, tmp_path):
    path = tmp_path / "sat.parquet"
    write_catalog(Catalog(table, CatalogMeta(box_size=BOX)), path)
    result = runner.invoke(app, ["info", str(path)])
    assert result.exit_code == 0, result.output
    satellites = table[~table["is_central"]]
    most = int(satellites["host_id"].value_counts().max())
    text = " ".join(result.output.split())
    assert (f"{len(table):,} galaxies: {int(table['is_central'].sum()):,} centrals and "
            f"{len(satellites):,} satellites") in text
    assert f"{satellites['host_id'].nunique():,} hosts hold satellites, at most {most:,}" in text


@pytest.mark.parametrize(("break_it", "message"), [
    (lambda t, row: t.assign(host_id=np.where(np.arange(len(t)) == row, 9999, t["host_id"])),
     "satellites whose host has no central row"),
    (lambda t, row: t.assign(is_central=np.where(np.arange(len(t)) == row, True,
                                                 t["is_central"])),
     "more than one central row"),
    (lambda t, row: t.assign(N_sat=np.where(np.arange(len(t)) == row, -1, 0)),
     "'N_sat': 1 of"),
    (lambda t, row: t.assign(r_host=np.where(np.arange(len(t)) == row, 55.0, t["r_host"])),
     "more than 10 virial radii from their host"),
])
def test_validate_names_broken_hosts_in_one_line(table, tmp_path, break_it, message):
    path = tmp_path / "broken.parquet"
    break_it(table, _first_satellite(table)).to_parquet(path)  # written around the checks
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "broken.parquet" in lines[0]
