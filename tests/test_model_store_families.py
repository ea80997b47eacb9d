"""NNclass and the HiVAl hierarchy in the one model store (models/store.py): every file
checksummed, errors naming the file, and directories written before the store (a
hierarchy's ``hival.npz`` + ``hival.json``, an NNclass model's ``classes.npz`` and
unchecksummed ``hival/``) still load, with identical densities and samples."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from test_models import bimodal

from galhalo.errors import HiValError, ModelError
from galhalo.models import load_model
from galhalo.models.classifier import ClassifierModel
from galhalo.models.hival import Hierarchy, hival

SMALL = {"epochs": 4, "batch_size": 256, "patience": 4, "learning_rate": 3e-3,
         "hidden": (16,), "classes": 12}


def as_legacy_hierarchy(directory: Path) -> None:
    """Rewrite a hierarchy saved by the store into the layout galhalo wrote before it:
    ``hival.npz`` (the same arrays, ``np.savez``) and ``hival.json`` (version, names,
    counts, settings), no ``config.json`` / ``arrays.npz``."""
    config = json.loads((directory / "config.json").read_text())
    with np.load(directory / "arrays.npz", allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    with open(directory / "hival.npz", "wb") as handle:
        np.savez(handle, **arrays)
    meta = {key: config[key] for key in ("galhalo_version", "names", "counts", "settings")}
    (directory / "hival.json").write_text(json.dumps(meta))
    (directory / "config.json").unlink()
    (directory / "arrays.npz").unlink()


def as_legacy_nnclass(directory: Path, single_checksum: bool = False) -> None:
    """Rewrite an NNclass directory saved by the store into the layout of the overridden
    ``save`` before it: ``config.json`` checksumming ``weights.pt`` only (or, older, its
    ``weights_sha256``), ``classes.npz`` (means, covariances, level) instead of the
    ``classes.*`` arrays, and ``hival/`` in the hierarchy's legacy layout."""
    with np.load(directory / "arrays.npz", allow_pickle=False) as data:
        classes = {key.removeprefix("classes."): data[key] for key in data.files}
    assert set(classes) == {"means", "covariances", "level"}
    with open(directory / "classes.npz", "wb") as handle:
        np.savez(handle, **classes)
    (directory / "arrays.npz").unlink()
    as_legacy_hierarchy(directory / "hival")
    config = json.loads((directory / "config.json").read_text())
    digest = hashlib.sha256((directory / "weights.pt").read_bytes()).hexdigest()
    del config["checksums"]
    if single_checksum:
        config["weights_sha256"] = digest
    else:
        config["checksums"] = {"weights.pt": digest}
    (directory / "config.json").write_text(json.dumps(config))


@pytest.fixture(scope="module")
def fitted() -> ClassifierModel:
    return ClassifierModel(**SMALL).fit(bimodal(1500, 3), "M_h", "sSFR", progress=False)


@pytest.fixture(scope="module")
def hierarchy() -> Hierarchy:
    rng = np.random.default_rng(5)
    return hival(rng.normal(size=(300, 2)), ("color", "sSFR"), seed=1)


def assert_same_hierarchy(a: Hierarchy, b: Hierarchy) -> None:
    assert a.names == b.names and a.counts == b.counts and a.settings == b.settings
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.oracle_pcc, b.oracle_pcc)
    for name in ("generators", "volumes", "occupancy", "dispersion"):
        for x, y in zip(getattr(a, name), getattr(b, name), strict=True):
            np.testing.assert_array_equal(x, y)


def test_nnclass_directory_checksums_its_classes_and_hierarchy(fitted, tmp_path):
    """Pins the move onto the store: the class Gaussians are arrays of the model and the
    hierarchy's files are checksummed (before, ``classes.npz`` and ``hival/`` were
    written beside the store and a modified hierarchy loaded silently)."""
    directory = fitted.save(tmp_path / "model")
    config = json.loads((directory / "config.json").read_text())
    assert set(config["checksums"]) == {"weights.pt", "arrays.npz", "hival/config.json",
                                        "hival/arrays.npz"}
    assert not (directory / "classes.npz").exists()
    with np.load(directory / "arrays.npz", allow_pickle=False) as data:
        np.testing.assert_array_equal(data["classes.means"], fitted.means)
        np.testing.assert_array_equal(data["classes.covariances"], fitted.covariances)
        assert int(data["classes.level"]) == fitted.level
    assert json.loads((directory / "hival" / "config.json").read_text())["family"] \
        == "hival_hierarchy"
    assert_same_hierarchy(Hierarchy.load(directory / "hival"), fitted.hierarchy)
    (directory / "hival" / "arrays.npz").write_bytes(b"not the hierarchy")
    with pytest.raises(ModelError, match=r"hival/arrays\.npz: checksum differs"):
        load_model(directory)


@pytest.mark.parametrize("single_checksum", [False, True])
def test_nnclass_directory_of_the_old_layout_loads(fitted, tmp_path, single_checksum):
    """Pins the fallback: a directory with ``classes.npz`` and a legacy ``hival/`` (as
    written before the store) gives the same density, samples and hierarchy."""
    test = bimodal(300, 8)
    directory = fitted.save(tmp_path / "model")
    as_legacy_nnclass(directory, single_checksum)
    assert (directory / "hival" / "hival.npz").is_file()
    loaded = load_model(directory)
    assert type(loaded) is ClassifierModel and loaded.level == fitted.level
    np.testing.assert_array_equal(loaded.log_prob(test, test), fitted.log_prob(test, test))
    np.testing.assert_array_equal(loaded.sample(test, 2, seed=1), fitted.sample(test, 2, seed=1))
    assert_same_hierarchy(loaded.hierarchy, fitted.hierarchy)
    (directory / "classes.npz").write_bytes(b"not an npz")
    with pytest.raises(ModelError, match="cannot read the NNclass classes"):
        load_model(directory)
    (directory / "classes.npz").unlink()
    with pytest.raises(ModelError, match=r"cannot read the NNclass classes .*classes\.npz"):
        load_model(directory)


def test_nnclass_classes_that_disagree_with_the_config_are_refused(fitted, tmp_path):
    directory = fitted.save(tmp_path / "model")
    as_legacy_nnclass(directory)
    with np.load(directory / "classes.npz", allow_pickle=False) as data:
        classes = {key: data[key] for key in data.files}
    with open(directory / "classes.npz", "wb") as handle:
        np.savez(handle, **{**classes, "means": classes["means"][:-1]})
    with pytest.raises(ModelError, match=r"saved classes disagree with config\.json"):
        load_model(directory)


def test_hierarchy_directory_is_a_store_directory(hierarchy, tmp_path):
    """Pins ``Hierarchy.save`` on the store: ``config.json`` (family, names, counts,
    settings, checksums) + ``arrays.npz``; a modified file is named."""
    directory = hierarchy.save(tmp_path / "h")
    assert sorted(p.name for p in directory.iterdir()) == ["arrays.npz", "config.json"]
    config = json.loads((directory / "config.json").read_text())
    assert config["family"] == "hival_hierarchy" and config["names"] == ["color", "sSFR"]
    assert config["counts"] == hierarchy.counts and set(config["checksums"]) == {"arrays.npz"}
    assert_same_hierarchy(Hierarchy.load(directory), hierarchy)
    with np.load(directory / "arrays.npz", allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    np.savez(directory / "arrays.npz", **{**arrays, "labels": arrays["labels"][:, ::-1]})
    with pytest.raises(HiValError, match=r"arrays\.npz: checksum differs"):
        Hierarchy.load(directory)


def test_hierarchy_directory_of_the_old_layout_loads(hierarchy, tmp_path):
    directory = hierarchy.save(tmp_path / "h")
    as_legacy_hierarchy(directory)
    assert_same_hierarchy(Hierarchy.load(directory), hierarchy)
    meta = json.loads((directory / "hival.json").read_text())
    meta["counts"] = meta["counts"][:-1]
    (directory / "hival.json").write_text(json.dumps(meta))
    with pytest.raises(HiValError, match=r"disagree with hival\.json"):
        Hierarchy.load(directory)


def test_hierarchy_load_names_what_is_wrong(fitted, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(HiValError, match="no HiVAl hierarchy"):
        Hierarchy.load(tmp_path / "empty")
    with pytest.raises(HiValError, match="not a model directory"):
        Hierarchy.load(tmp_path / "nowhere")
    model = fitted.save(tmp_path / "model")
    with pytest.raises(HiValError, match="holds a 'nnclass' model, not 'hival_hierarchy'"):
        Hierarchy.load(model)
