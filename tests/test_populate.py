"""galhalo.populate: chunked, resumable, reproducible population of halo files on Dask."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import galhalo.populate as populate_module
import galhalo.populate.worker as worker_module
from galhalo.catalog import Catalog, CatalogError, CatalogMeta, read_catalog, write_catalog
from galhalo.manifest import MANIFEST_FILE, Manifest, PopulateError, model_hash
from galhalo.models import model_family
from galhalo.populate import batch_seed, cached_model, plan_populate, populate

BOX = 100.0
#: Input rows of the three halo files: several chunks, a short last chunk, a 1-row file.
ROWS = (700, 450, 1)
CHUNK = 300
BATCH = 128


def _halos(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "halo_id": np.arange(rows, dtype=np.int64) + 100_000 * seed,
        "M_h": rng.uniform(11.0, 13.5, rows),
        "x": rng.uniform(0, BOX, rows), "y": rng.uniform(0, BOX, rows),
        "z": rng.uniform(0, BOX, rows),
    })


def _train(seed: int):
    rng = np.random.default_rng(seed)
    m_h = rng.uniform(11.0, 13.5, 300)
    table = pd.DataFrame({"M_h": m_h, "smass": 0.9 * m_h - 0.8 + rng.normal(0, 0.2, 300),
                          "color": 0.7 + 0.1 * rng.normal(size=300)})
    return model_family("gauss")(epochs=2, hidden=(16,), batch_size=64).fit(
        table, "M_h", "smass,color", seed=seed, progress=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two saved gauss models and three halo Parquet files (plus CSV / HDF5 copies)."""
    root = tmp_path_factory.mktemp("populate")
    _train(0).save(root / "model")
    _train(1).save(root / "other_model")
    for fmt in ("parquet", "csv", "h5"):
        (root / fmt).mkdir()
        for i, rows in enumerate(ROWS):
            write_catalog(Catalog(_halos(rows, i), CatalogMeta(box_size=BOX)),
                          root / fmt / f"halos_{i}.{fmt}")
    return root


def _run(data: Path, out: Path, **options) -> populate_module.PopulateResult:
    settings = {"samples": 2, "chunk_rows": CHUNK, "batch_rows": BATCH,
                "scheduler": "threads", "workers": 2, "seed": 7, **options}
    halos = settings.pop("halos", str(data / "parquet" / "*.parquet"))
    return populate(data / settings.pop("model", "model"), halos, out, **settings)


def _checksums(out: Path) -> dict[str, str]:
    parts = json.loads((out / MANIFEST_FILE).read_text())["parts"]
    return {name: record["sha256"] for name, record in parts.items()}


def _visible(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if not p.name.startswith("."))


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """An uninterrupted threads run with 2 workers: the output every other run must equal."""
    out = tmp_path_factory.mktemp("reference") / "mock"
    result = _run(data, out)
    return out, result


# ----------------------------------------------------------------------------- content


def test_output_rows_are_input_rows_times_samples(data, reference):
    out, result = reference
    n_parts = sum(-(-rows // CHUNK) for rows in ROWS)
    assert result.parts_total == result.parts_written == n_parts
    assert result.rows == sum(ROWS) * 2
    mock = pd.read_parquet(out)
    assert len(mock) == sum(ROWS) * 2
    assert list(mock.columns) == ["halo_id", "M_h", "x", "y", "z", "smass", "color",
                                  "realization"]
    # every halo appears once per realisation, with its own kept columns
    counts = mock.groupby(["halo_id", "realization"]).size()
    assert counts.eq(1).all() and len(counts) == sum(ROWS) * 2
    halos = pd.concat([_halos(rows, i) for i, rows in enumerate(ROWS)])
    joined = mock.merge(halos, on="halo_id", suffixes=("", "_in"))
    assert len(joined) == len(mock)
    np.testing.assert_array_equal(joined["M_h"], joined["M_h_in"])
    # the two realisations of a halo are different draws
    wide = mock.pivot(index="halo_id", columns="realization", values="smass")
    assert (wide[0] != wide[1]).all()
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["complete"] and manifest["rows"] == sum(ROWS) * 2
    for name, record in manifest["parts"].items():
        part = read_catalog(out / name)  # each part is a valid galhalo catalog
        assert len(part) == record["rows"] == (record["stop"] - record["start"]) * 2
        assert part.meta.box_size == BOX


def test_keep_selects_columns_and_samples_one_omits_realization(data, tmp_path):
    result = _run(data, tmp_path / "mock", samples=1, keep="M_h,x")
    mock = pd.read_parquet(tmp_path / "mock")
    assert list(mock.columns) == ["M_h", "x", "smass", "color"]
    assert len(mock) == result.rows == sum(ROWS)


def test_csv_and_hdf5_inputs_give_the_parquet_values(data, reference, tmp_path):
    """Same rows, chunks and seeds, so the same sampled values (only the recorded input
    file names differ, hence not the same bytes)."""
    expected = pd.read_parquet(reference[0])
    for fmt in ("csv", "h5"):
        _run(data, tmp_path / fmt, halos=str(data / fmt / f"*.{fmt}"))
        got = pd.read_parquet(tmp_path / fmt)
        pd.testing.assert_frame_equal(got, expected)


def test_row_groups_gather_batches_without_changing_values(data, reference, tmp_path,
                                                          monkeypatch):
    import pyarrow.parquet as pq

    monkeypatch.setattr(worker_module, "ROW_GROUP_ROWS", 500)
    _run(data, tmp_path / "mock")
    part = pq.ParquetFile(tmp_path / "mock" / "halos_0-00000.parquet")
    # 300 halos x 2 in batches of 128 halos (256 rows): groups of 512 and 88 rows
    assert [part.metadata.row_group(i).num_rows for i in range(part.num_row_groups)] == [
        512, 88]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "mock"),
                                  pd.read_parquet(reference[0]))


@pytest.mark.parametrize(("family", "hyperparameters"), [
    ("flow", {"epochs": 1, "hidden": (8,), "transforms": 1, "passes": 2}),
    ("knn", {}),
])
def test_other_families_populate_reproducibly(data, tmp_path, family, hyperparameters):
    table = pd.concat([_halos(rows, i) for i, rows in enumerate(ROWS)])[:300]
    rng = np.random.default_rng(3)
    table = table.assign(smass=0.9 * table["M_h"] - 0.8 + rng.normal(0, 0.2, len(table)),
                         color=0.7 + 0.1 * rng.normal(size=len(table)))
    model_family(family)(**hyperparameters).fit(table, "M_h", "smass,color", seed=0,
                                               progress=False).save(tmp_path / "model")
    halos = str(data / "parquet" / "*.parquet")
    runs = [populate(tmp_path / "model", halos, tmp_path / f"mock{workers}", samples=2,
                     chunk_rows=CHUNK, batch_rows=BATCH, scheduler="threads", workers=workers)
            for workers in (1, 2)]
    assert runs[0].rows == sum(ROWS) * 2 == len(pd.read_parquet(tmp_path / "mock1"))
    assert _checksums(tmp_path / "mock1") == _checksums(tmp_path / "mock2")


def test_batch_seeds_depend_on_run_seed_part_and_batch_only():
    seeds = {batch_seed(s, p, b) for s in (0, 1) for p in ("a-00000", "a-00001")
             for b in (None, 0, 1)}
    assert len(seeds) == 12 and all(0 <= s < 2**63 for s in seeds)
    assert batch_seed(3, "a-00000", 2) == batch_seed(3, "a-00000", 2)


# ----------------------------------------------------------------------------- reproducible


def test_same_bytes_for_one_and_two_workers(data, reference, tmp_path):
    from distributed import Client, LocalCluster

    _run(data, tmp_path / "one", workers=1)
    assert _checksums(tmp_path / "one") == _checksums(reference[0])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        result = _run(data, tmp_path / "dask", scheduler=client, workers=None)
    assert result.parts_written == result.parts_total
    assert _checksums(tmp_path / "dask") == _checksums(reference[0])
    for name in _checksums(reference[0]):
        assert (tmp_path / "dask" / name).read_bytes() == (reference[0] / name).read_bytes()


@pytest.mark.skipif(os.cpu_count() < 2, reason="needs two cores")
def test_two_process_local_cluster_matches(data, reference, tmp_path):
    """The one real multi-process run: model loaded by the plugin in each process."""
    result = _run(data, tmp_path / "local", scheduler="local", workers=2)
    assert result.workers == 2 and result.parts_written == result.parts_total
    assert _checksums(tmp_path / "local") == _checksums(reference[0])


# ----------------------------------------------------------------------------- resumable


def test_failed_part_keeps_the_rest_and_resume_matches(data, reference, tmp_path,
                                                       monkeypatch):
    out = tmp_path / "mock"
    sample_batch = worker_module._sample_batch
    calls = {"n": 0}

    def fail_in_second_batch(model, frame, meta, samples, seed, columns, where):
        if "halos_0-00001" in where:
            calls["n"] += 1
            if calls["n"] == 2:  # after one batch of the part was written to its temporary
                raise RuntimeError("worker died")
        return sample_batch(model, frame, meta, samples, seed, columns, where)

    monkeypatch.setattr(worker_module, "_sample_batch", fail_in_second_batch)
    with pytest.raises(PopulateError, match=r"part halos_0-00001.parquet \(halos_0.parquet "
                                            r"rows 300-600\) failed: RuntimeError: worker died"):
        _run(data, out, workers=1)
    monkeypatch.undo()
    names = set(_checksums(reference[0]))
    recorded = set(_checksums(out))
    assert "halos_0-00001.parquet" not in recorded
    assert "halos_0-00001.parquet" not in _visible(out)  # no half-written part visible
    assert not [p for p in out.iterdir() if ".tmp." in p.name]
    assert recorded < names and recorded  # the finished parts are kept and recorded
    assert not json.loads((out / MANIFEST_FILE).read_text())["complete"]
    result = _run(data, out)
    assert result.parts_skipped == len(recorded)
    assert result.parts_written == len(names) - len(recorded)
    assert _checksums(out) == _checksums(reference[0])


def test_manifest_detects_truncated_and_corrupt_parts(data, reference, tmp_path):
    out = tmp_path / "mock"
    shutil.copytree(reference[0], out)
    truncated, corrupt = sorted(_checksums(out))[:2]
    content = (out / truncated).read_bytes()
    (out / truncated).write_bytes(content[: len(content) // 2])
    flipped = bytearray((out / corrupt).read_bytes())
    flipped[100] ^= 0xFF  # same size, same footer: only the checksum sees it
    (out / corrupt).write_bytes(bytes(flipped))
    result = _run(data, out)
    assert set(result.redone) == {truncated}
    assert "size" in result.redone[truncated]
    result = _run(data, out, checksums=True)
    assert set(result.redone) == {corrupt} and "SHA-256" in result.redone[corrupt]
    assert _checksums(out) == _checksums(reference[0])
    assert (out / corrupt).read_bytes() == (reference[0] / corrupt).read_bytes()


def test_complete_unrecorded_part_is_adopted_and_temporaries_removed(data, reference,
                                                                     tmp_path):
    """A run killed after renaming a part but before writing the manifest."""
    out = tmp_path / "mock"
    shutil.copytree(reference[0], out)
    manifest = Manifest.read(out)
    adopted = sorted(manifest.parts)[0]
    del manifest.parts[adopted]
    manifest.complete = False
    manifest.write(out)
    stale = out / f".{adopted.removesuffix('.parquet')}.0123456789ab.tmp.parquet"
    stale.write_bytes(b"PAR1 half a part")
    result = _run(data, out)
    assert (result.parts_adopted, result.parts_written) == (1, 0)
    assert not stale.exists()
    assert _checksums(out) == _checksums(reference[0])


@pytest.mark.slow
def test_killed_run_loses_nothing_finished(data, tmp_path):
    """SIGKILL a run in a child process once parts exist; the re-run completes it.
    (Batches of 8 halos make the child slow enough to be caught midway.)"""
    out = tmp_path / "mock"
    script = (f"from galhalo.populate import populate\n"
              f"populate({str(data / 'model')!r}, {str(data / 'parquet' / '*.parquet')!r}, "
              f"{str(out)!r}, samples=2, chunk_rows={CHUNK}, batch_rows=8, "
              f"scheduler='threads', workers=2, seed=7)\n")
    child = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 120
    while child.poll() is None and time.monotonic() < deadline:
        if out.exists() and len([n for n in _visible(out) if n != MANIFEST_FILE]) >= 2:
            break
        time.sleep(0.01)
    if child.poll() is not None:
        pytest.skip("the child finished before it could be killed")
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    for name in _visible(out):  # every visible part is complete
        if name != MANIFEST_FILE:
            assert pq_rows(out / name) > 0
    result = _run(data, out, batch_rows=8)
    assert result.parts_written < result.parts_total
    assert result.parts_skipped + result.parts_adopted >= 2
    _run(data, tmp_path / "uninterrupted", batch_rows=8, workers=1)
    assert _checksums(out) == _checksums(tmp_path / "uninterrupted")
    assert not [p for p in out.iterdir() if ".tmp." in p.name]


def pq_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(path).num_rows


# ----------------------------------------------------------------------------- bad input


def _refused(data, out, match, error=PopulateError, model="model", **options):
    """Both planning and a full run refuse with ``match``; returns the listing of ``out``
    (None if absent) before and after, which must be equal: nothing written."""
    before = sorted(p.name for p in out.iterdir()) if out.exists() else None
    settings = {"samples": 2, "seed": 7, "halos": str(data / "parquet" / "*.parquet"),
                **options}
    with pytest.raises(error, match=match):
        plan_populate(data / model, settings.pop("halos"), out, chunk_rows=CHUNK,
                      batch_rows=BATCH, **settings)
    with pytest.raises(error, match=match):
        _run(data, out, model=model, **options)
    after = sorted(p.name for p in out.iterdir()) if out.exists() else None
    return before, after


def test_bad_inputs_fail_before_any_work(data, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i in range(2):
        shutil.copy(data / "parquet" / f"halos_{i}.parquet", mixed)
    write_catalog(Catalog(_halos(10, 5).drop(columns="z").assign(vx=1.0),
                          CatalogMeta(box_size=BOX)), mixed / "halos_9.parquet")
    nomass = tmp_path / "nomass"
    nomass.mkdir()
    write_catalog(Catalog(_halos(10, 0).drop(columns="M_h")), nomass / "h.parquet")
    (tmp_path / "empty.parquet").write_bytes(b"")
    cases = [
        ("no halo files match", {"halos": str(tmp_path / "none" / "*.parquet")}),
        (r"different columns: .*halos_9.parquet lacks \['z'\], has extra \['vx'\]",
         {"halos": str(mixed / "*.parquet")}),
        (r"condition columns \['M_h'\] are missing", {"halos": str(nomass)}),
        ("empty", {"error": CatalogError, "halos": str(tmp_path / "empty.parquet")}),
        ("which the model samples", {"keep": "M_h,smass"}),
        ("lack", {"keep": "M_h,C_h"}),
        ("positive integer", {"samples": 0}),
    ]
    for match, options in cases:
        before, after = _refused(data, tmp_path / "mock", match, **options)
        assert after == before, match  # nothing written


def test_output_of_another_model_or_settings_is_refused(data, reference, tmp_path):
    out = tmp_path / "mock"
    shutil.copytree(reference[0], out)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    cases = [
        (out, "another model.*gauss model", {"model": "other_model"}),
        (out, "samples was 2, now 3", {"samples": 3}),
        (out, "seed was 7, now 8", {"seed": 8}),
        (out, "does not read 1 input", {"halos": str(data / "parquet" / "halos_[01]*")}),
        (foreign, "holds no _manifest.json", {}),
    ]
    for directory, match, options in cases:
        before, after = _refused(data, directory, match, **options)
        assert after == before, match  # the previous run's output is untouched


def test_bad_halo_values_name_the_part(data, reference, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    halos = _halos(ROWS[0], 0)
    halos.loc[650, "M_h"] = np.nan
    halos.to_parquet(bad / "halos_0.parquet", index=False)  # write_catalog refuses NaN
    with pytest.raises(PopulateError, match=r"part halos_0-00002.parquet \(halos_0.parquet "
                                            r"rows 600-700\).*'M_h'.*NaN"):
        _run(data, tmp_path / "mock", halos=str(bad), workers=1)
    assert _visible(tmp_path / "mock") == [MANIFEST_FILE, "halos_0-00000.parquet",
                                           "halos_0-00001.parquet"]


def test_worker_refuses_a_model_that_changed(data):
    directory = str(data / "model")
    with pytest.raises(PopulateError, match="hash"):
        cached_model(directory, "0" * 64)
    assert cached_model(directory, model_hash(directory)).condition == ("M_h",)
