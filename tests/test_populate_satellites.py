"""galhalo populate with a composite model: centrals and satellites, out of core.

A tiny composite (gauss central, Zheng07 HOD occupation, gauss profile, gauss satellite)
is trained on a seeded fake universe; the halo files are small (a few thousand hosts) so
that several parts and batches are exercised in seconds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from galhalo.catalog import Catalog, CatalogMeta, read_catalog, write_catalog
from galhalo.catalog.virial import virial_radius
from galhalo.cli import app
from galhalo.manifest import MANIFEST_FILE, PopulateError, model_hash
from galhalo.models import model_family
from galhalo.models.composite import PAINTED_ID_BASE, CompositeModel
from galhalo.models.hod import zheng07_satellites
from galhalo.models.painting import place_satellites
from galhalo.populate import plan_populate, populate, run_plan
from galhalo.populate.hosts import host_batches
from galhalo.populate.worker import PART_IDS, read_batches

BOX = 100.0
#: Hosts of the two halo files: several parts each, a short last part.
HOSTS = (700, 300)
CHUNK = 250
BATCH = 100
ZHENG = (11.6, 12.6, 1.0)  # log_m0, log_m1, alpha of the fake universe's satellites


def _training(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hosts (one row each, with N_sat) and their satellites, drawn from simple laws."""
    rng = np.random.default_rng(seed)
    n = 3000
    m_h = rng.uniform(11.0, 14.0, n)
    hosts = pd.DataFrame({"M_h": m_h, "smass": 0.9 * m_h - 0.8 + rng.normal(0, 0.2, n),
                          "color": 0.7 + 0.1 * rng.normal(size=n),
                          "N_sat": rng.poisson(zheng07_satellites(m_h, *ZHENG))})
    host = np.repeat(np.arange(n), hosts["N_sat"])
    m_sat = m_h[host]
    satellites = pd.DataFrame({
        "M_h": m_sat, "r_host": rng.uniform(0.4, 0.6, len(host)),
        "v_r": rng.normal(0, 60, len(host)), "v_t": rng.uniform(200, 300, len(host)),
        "M_peak": m_sat - 1.5 + rng.normal(0, 0.3, len(host)),
        "smass": 0.8 * m_sat - 1.0 + rng.normal(0, 0.2, len(host)),
        "color": 0.9 + 0.1 * rng.normal(size=len(host))})
    return hosts, satellites


def _gauss(table: pd.DataFrame, condition: str, target: str):
    return model_family("gauss")(epochs=2, hidden=(16,), batch_size=128).fit(
        table, condition, target, seed=0, progress=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Two composite models (one whose satellite needs M_peak), halo files with hosts
    alone (Parquet) and with sub-halos (Parquet and CSV)."""
    root = tmp_path_factory.mktemp("populate_satellites")
    hosts, satellites = _training(0)
    central = _gauss(hosts, "M_h", "smass,color")
    occupation = model_family("hod")().fit(hosts, "M_h", "N_sat", seed=0, progress=False)
    profile = _gauss(satellites, "M_h", "r_host,v_r,v_t")
    CompositeModel(central, occupation, profile,
                   _gauss(satellites, "M_h,r_host", "smass,color")).save(root / "composite")
    CompositeModel(central, occupation, profile,
                   _gauss(satellites, "M_h,M_peak", "smass,color")).save(root / "peak")
    central.save(root / "plain")
    for fmt in ("halos", "subhalos", "csv"):
        (root / fmt).mkdir()
    for i, rows in enumerate(HOSTS):
        write_catalog(Catalog(_hosts(rows, i), CatalogMeta(box_size=BOX)),
                      root / "halos" / f"halos_{i}.parquet")
        with_subhalos = Catalog(_with_subhalos(_hosts(rows, i), i), CatalogMeta(box_size=BOX))
        write_catalog(with_subhalos, root / "subhalos" / f"halos_{i}.parquet")
        write_catalog(with_subhalos, root / "csv" / f"halos_{i}.csv")
    return root


def _hosts(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(100 + seed)
    table = pd.DataFrame({"halo_id": np.arange(rows, dtype=np.int64) * 1000 + 10**8 * seed,
                          "M_h": rng.uniform(11.0, 14.0, rows)})
    for axis in "xyz":
        table[axis] = rng.uniform(0, BOX, rows)
    for axis in "xyz":
        table[f"v{axis}"] = rng.normal(0, 300, rows)
    return table


def _with_subhalos(hosts: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Each host's central row followed by its sub-halos (0-5), placed at r_host."""
    rng = np.random.default_rng(200 + seed)
    count = rng.integers(0, 6, len(hosts))
    host = np.repeat(np.arange(len(hosts)), count)
    n = len(host)
    orbit = {"r_host": rng.uniform(0.1, 1.0, n), "v_r": rng.normal(0, 80, n),
             "v_t": rng.uniform(50, 300, n)}
    position, velocity = place_satellites(
        hosts[["x", "y", "z"]].to_numpy()[host], hosts[["vx", "vy", "vz"]].to_numpy()[host],
        virial_radius(hosts["M_h"].to_numpy()[host], 0.0), orbit["r_host"], orbit["v_r"],
        orbit["v_t"], rng, BOX)
    subs = hosts.iloc[host].reset_index(drop=True)
    subs["halo_id"] = subs["halo_id"] + 1 + (np.arange(n) - np.searchsorted(host, host))
    subs[["x", "y", "z"]], subs[["vx", "vy", "vz"]] = position, velocity
    subs["M_peak"] = subs["M_h"] - 1.5 + rng.normal(0, 0.3, n)
    subs["M_sub"], subs["Vmax_peak"] = subs["M_peak"] - 0.3, rng.uniform(50, 400, n)
    subs["Vmax_sub"], subs["z_infall"] = 0.8 * subs["Vmax_peak"], rng.uniform(0, 2, n)
    for name, values in orbit.items():
        subs[name] = values
    centrals = hosts.copy()
    for name in ("M_peak", "M_sub", "Vmax_peak", "Vmax_sub", "z_infall", *orbit):
        centrals[name] = np.nan
    subs["is_central"], centrals["is_central"] = False, True
    subs["host_id"], centrals["host_id"] = hosts["halo_id"].to_numpy()[host], hosts["halo_id"]
    order = np.argsort(np.concatenate([np.arange(len(hosts)), host]), kind="stable")
    table = pd.concat([centrals, subs], ignore_index=True).iloc[order]
    return table.reset_index(drop=True)


def _run(data: Path, out: Path, **options):
    settings = {"chunk_rows": CHUNK, "batch_rows": BATCH, "scheduler": "threads",
                "workers": 2, "seed": 3, **options}
    halos = data / settings.pop("halos", "halos")
    return populate(data / settings.pop("model", "composite"), str(halos), out, **settings)


def _checksums(out: Path) -> dict[str, str]:
    parts = json.loads((out / MANIFEST_FILE).read_text())["parts"]
    return {name: record["sha256"] for name, record in parts.items()}


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """An uninterrupted halo-only run with 2 threads: what every other run must equal."""
    out = tmp_path_factory.mktemp("reference") / "mock"
    return out, _run(data, out)


# ----------------------------------------------------------------------------- content


def test_every_host_gets_one_central_and_its_satellites(data, reference):
    out, result = reference
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["complete"] and manifest["settings"]["paint"] == "halos"
    assert manifest["model"]["family"] == "composite"
    assert manifest["model"]["components"] == {"central": "gauss", "occupation": "hod",
                                               "profile": "gauss", "satellite": "gauss"}
    mock = pd.read_parquet(out)
    central = mock["is_central"].to_numpy()
    # no central_occupation in the HOD: every input host keeps its central
    assert result.hosts == result.centrals == central.sum() == sum(HOSTS)
    assert result.satellites == (~central).sum() > 0 and result.rows == len(mock)
    assert mock.groupby("host_id")["is_central"].sum().eq(1).all()
    counts = mock[~central].groupby("host_id").size()
    n_sat = mock[central].set_index("host_id")["N_sat"]
    pd.testing.assert_series_equal(counts, n_sat[n_sat > 0], check_names=False)
    hosts = pd.concat([_hosts(rows, i) for i, rows in enumerate(HOSTS)])
    assert set(mock.loc[central, "halo_id"]) == set(hosts["halo_id"])
    # ~ Zheng07 satellites: the total is within 5 sigma of the fitted law's Poisson sum
    expected = zheng07_satellites(hosts["M_h"].to_numpy(), *ZHENG).sum()
    assert abs(result.satellites - expected) < 5 * np.sqrt(expected) + 0.1 * expected
    for index, name in enumerate(sorted(manifest["parts"])):
        part = read_catalog(out / name)  # validated: hosts, distances, positions in box
        record = manifest["parts"][name]
        assert len(part) == record["rows"] == record["centrals"] + record["satellites"]
        ids = part.table.loc[~part.table["is_central"], "halo_id"].to_numpy()
        base = PAINTED_ID_BASE + index * PART_IDS
        np.testing.assert_array_equal(np.sort(ids), base + np.arange(len(ids)))


@pytest.mark.parametrize("probability", [0.3, 0.0])
def test_hosts_that_lose_their_central_get_no_galaxies(data, tmp_path, probability):
    plan = plan_populate(data / "composite", str(data / "halos" / "halos_0.parquet"),
                         tmp_path / "mock", chunk_rows=CHUNK, batch_rows=BATCH)
    # an occupation with <N_cen> (as the HOD's may have): plan.model is what threads use
    plan.model.occupation.central_occupation = lambda hosts: np.full(len(hosts), probability)
    result = run_plan(plan, scheduler="threads", workers=1)
    mock = pd.read_parquet(tmp_path / "mock")
    n = HOSTS[0]
    assert result.hosts == n and result.centrals == mock["is_central"].sum()
    sigma = np.sqrt(n * probability * (1 - probability))  # binomial
    assert abs(result.centrals - probability * n) <= 5 * sigma
    assert mock.groupby("host_id")["is_central"].sum().eq(1).all()  # no orphan satellites
    assert result.rows == len(mock) == result.centrals + result.satellites


def test_one_and_two_workers_write_the_same_bytes(data, reference, tmp_path):
    out, _ = reference
    one = tmp_path / "one"
    _run(data, one, workers=1)
    assert _checksums(one) == _checksums(out)


@pytest.mark.slow
def test_a_local_dask_cluster_writes_the_same_bytes(data, reference, tmp_path):
    out, _ = reference
    _run(data, tmp_path / "dask", scheduler="local", workers=2)
    assert _checksums(tmp_path / "dask") == _checksums(out)


def test_a_deleted_part_is_regenerated_byte_for_byte(data, reference, tmp_path):
    out, _ = reference
    copy = tmp_path / "mock"
    shutil.copytree(out, copy)
    victim = sorted(_checksums(copy))[2]
    (copy / victim).unlink()
    again = _run(data, copy)
    assert again.parts_written == 1 and victim in again.redone
    assert again.satellites == pd.read_parquet(out)["is_central"].eq(False).sum()
    assert _checksums(copy) == _checksums(out)


def test_an_unrecorded_complete_part_is_adopted_with_its_galaxy_counts(data, reference,
                                                                       tmp_path):
    out, _ = reference
    copy = tmp_path / "mock"
    shutil.copytree(out, copy)
    manifest = json.loads((copy / MANIFEST_FILE).read_text())
    name = sorted(manifest["parts"])[1]
    recorded = manifest["parts"].pop(name)  # killed between the rename and the manifest
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    again = _run(data, copy)
    assert again.parts_adopted == 1 and again.parts_written == 0
    adopted = json.loads((copy / MANIFEST_FILE).read_text())["parts"][name]
    assert {k: adopted[k] for k in ("rows", "centrals", "satellites", "sha256")} == {
        k: recorded[k] for k in ("rows", "centrals", "satellites", "sha256")}
    assert "hosts" not in adopted and again.hosts is None  # unknown for an adopted part


def test_realizations_paint_every_host_once_each(data, tmp_path):
    result = _run(data, tmp_path / "mock", samples=2, halos="halos/halos_1.parquet")
    mock = pd.read_parquet(tmp_path / "mock")
    assert set(mock["realization"]) == {0, 1}
    centrals = mock[mock["is_central"]].groupby("realization").size()
    assert centrals.eq(HOSTS[1]).all() and result.centrals == 2 * HOSTS[1]
    # the two realisations are different draws; ids are unique within a realisation
    # (as in make_mock: each realisation numbers its painted satellites from the base)
    wide = mock[mock["is_central"]].pivot(index="halo_id", columns="realization",
                                          values="smass")
    assert (wide[0] != wide[1]).all()
    assert not mock[["realization", "halo_id"]].duplicated().any()
    read_catalog(next((tmp_path / "mock").glob("*.parquet")))  # hosts per realisation


# ----------------------------------------------------------------------------- sub-halos


def test_parts_of_subhalo_input_start_at_host_starts(data, tmp_path):
    plan = plan_populate(data / "composite", str(data / "subhalos"), tmp_path / "m",
                         chunk_rows=CHUNK)
    assert plan.settings["paint"] == "subhalos"
    for halo_file in plan.files:
        table = pd.read_parquet(halo_file.path)
        starts = [t["start"] for t in plan.tasks if t["source"] == halo_file.name]
        stops = [t["stop"] for t in plan.tasks if t["source"] == halo_file.name]
        assert starts[0] == 0 and stops[-1] == len(table) and starts[1:] == stops[:-1]
        assert table["is_central"].to_numpy()[starts].all()  # each part opens on a host
        assert all(s >= k * CHUNK for k, s in enumerate(starts))
    # CSV: the same parts, read through a byte window that starts at a chunk
    csv = plan_populate(data / "composite", str(data / "csv"), tmp_path / "c",
                        chunk_rows=CHUNK)
    assert [(t["start"], t["stop"]) for t in csv.tasks] == [
        (t["start"], t["stop"]) for t in plan.tasks]
    task = next(t for t in csv.tasks if t.get("skip"))
    rows = pd.concat(read_batches(task, ["halo_id", "M_h"], 64), ignore_index=True)
    table = pd.read_parquet(data / "subhalos" / task["source"].replace(".csv", ".parquet"),
                            columns=["halo_id", "M_h"])
    expected = table.iloc[task["start"]:task["stop"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(rows, expected, check_dtype=False)


def test_batches_never_split_a_host(data):
    table = pd.read_parquet(data / "subhalos" / "halos_0.parquet")
    pieces = [table.iloc[i:i + 37] for i in range(0, len(table), 37)]
    batches = list(host_batches(iter(pieces), 50))
    assert sum(map(len, batches)) == len(table)
    for batch in batches:
        assert batch["is_central"].iloc[0] and batch["is_central"].sum() <= 50
    assert [b["is_central"].sum() for b in batches[:-1]] == [50] * (len(batches) - 1)


def test_subhalo_path_is_reproducible_and_keeps_the_subhalos(data, tmp_path):
    two = _run(data, tmp_path / "two", halos="subhalos")
    one = _run(data, tmp_path / "one", halos="subhalos", workers=1)
    assert _checksums(tmp_path / "one") == _checksums(tmp_path / "two")
    mock = pd.read_parquet(tmp_path / "two")
    central = mock["is_central"].to_numpy()
    assert two.hosts == one.hosts == central.sum() == sum(HOSTS)
    assert mock.groupby("host_id")["is_central"].sum().eq(1).all()
    inputs = pd.concat([pd.read_parquet(p) for p in sorted((data / "subhalos").iterdir())])
    real = ~central & (mock["halo_id"].to_numpy() < PAINTED_ID_BASE)
    assert real.sum() > 0 and set(mock.loc[real, "halo_id"]) <= set(inputs["halo_id"])
    # a satellite on a sub-halo sits where the sub-halo is
    joined = mock[real].merge(inputs, on="halo_id", suffixes=("", "_in"))
    np.testing.assert_allclose(joined["x"], joined["x_in"])
    for name in sorted(_checksums(tmp_path / "two")):
        read_catalog(tmp_path / "two" / name)
    # the same parts of a CSV file (read through byte windows) paint the same galaxies
    _run(data, tmp_path / "csv", halos="csv/halos_0.csv", workers=1)
    parts = sorted((tmp_path / "two").glob("halos_0-*.parquet"))
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "csv"),
                                  pd.concat(map(pd.read_parquet, parts), ignore_index=True),
                                  check_dtype=False)


def test_a_satellite_model_on_subhalo_columns_reads_them(data, tmp_path):
    result = _run(data, tmp_path / "mock", model="peak", halos="subhalos/halos_1.parquet")
    mock = pd.read_parquet(tmp_path / "mock")
    satellites = mock[~mock["is_central"]]
    assert result.satellites == len(satellites) > 0
    # no profile painting when the satellite needs sub-halos: every one is a sub-halo
    assert (satellites["halo_id"] < PAINTED_ID_BASE).all()
    assert satellites["M_peak"].notna().all()


def test_halo_only_paints_the_central_rows_of_subhalo_input(data, tmp_path):
    result = _run(data, tmp_path / "mock", halos="subhalos", halo_only=True)
    mock = pd.read_parquet(tmp_path / "mock")
    assert result.hosts == result.centrals == sum(HOSTS)
    assert not {"M_peak", "Vmax_peak"} & set(mock.columns)
    assert (mock.loc[~mock["is_central"], "halo_id"] >= PAINTED_ID_BASE).all()
    assert json.loads((tmp_path / "mock" / MANIFEST_FILE).read_text()
                      )["settings"]["paint"] == "centrals"


# ----------------------------------------------------------------------------- bad input


def test_bad_input_is_refused_in_one_line_before_any_work(data, tmp_path):
    out = tmp_path / "mock"
    no_velocity = tmp_path / "no_velocity.parquet"
    write_catalog(Catalog(_hosts(50, 0).drop(columns=["vx", "vy", "vz"]),
                          CatalogMeta(box_size=BOX)), no_velocity)
    with pytest.raises(PopulateError, match=r"\['vx', 'vy', 'vz'\]"):
        plan_populate(data / "composite", str(no_velocity), out)
    with pytest.raises(PopulateError, match=r"sub-halo columns \['M_peak'\].*hosts alone"):
        plan_populate(data / "peak", str(data / "halos"), out)
    with pytest.raises(PopulateError, match="--halo-only places satellites"):
        plan_populate(data / "peak", str(data / "subhalos"), out, halo_only=True)
    with pytest.raises(PopulateError, match="holds sub-halos"):
        plan_populate(data / "plain", str(data / "subhalos"), out)
    with pytest.raises(PopulateError, match="composite"):
        plan_populate(data / "plain", str(data / "halos"), out, halo_only=True)
    table = pd.read_parquet(data / "subhalos" / "halos_1.parquet")
    first_sub = int(np.flatnonzero(~table["is_central"].to_numpy())[0])
    moved = pd.concat([table.drop(index=first_sub), table.iloc[[first_sub]]],
                      ignore_index=True)  # one sub-halo moved to the end of the file
    scattered = tmp_path / "scattered.parquet"
    write_catalog(Catalog(moved, CatalogMeta(box_size=BOX)), scattered)
    host = int(table["host_id"].iloc[first_sub])
    with pytest.raises(PopulateError, match=rf"host_id {host} are not contiguous .* row "
                                            rf"{len(table) - 1:,}"):
        plan_populate(data / "composite", str(scattered), out)
    assert not out.exists()


def test_the_model_hash_covers_every_component(data, tmp_path):
    copy = tmp_path / "composite"
    shutil.copytree(data / "composite", copy)
    before = model_hash(copy)
    assert before == model_hash(data / "composite")
    extra = copy / "satellite" / "notes.txt"  # a file deep in one component
    extra.write_text("changed")
    assert model_hash(copy) != before


def test_cli_populates_with_satellites_and_says_what_it_painted(data, tmp_path):
    out = tmp_path / "mock"
    result = CliRunner().invoke(app, [
        "populate", "--model", str(data / "composite"), "--halos", str(data / "subhalos"),
        "--out", str(out), "--halo-only", "--scheduler", "threads", "--workers", "1",
        "--chunk-rows", str(CHUNK)])
    assert result.exit_code == 0, result.output
    mock = pd.read_parquet(out)
    assert f"{sum(HOSTS):,}" in result.output
    assert f"{int((~mock['is_central']).sum()):,}" in result.output
    assert "satellites painted" in result.output
    bad = CliRunner().invoke(app, [
        "populate", "--model", str(data / "peak"), "--halos", str(data / "halos"),
        "--out", str(tmp_path / "bad"), "--scheduler", "threads"])
    assert bad.exit_code == 2 and "M_peak" in bad.output
