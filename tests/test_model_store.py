"""The one model-directory store (models/store.py): round trip, checksums, clear errors
naming the file, atomic replacement, and directories written before the store existed."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict

import numpy as np
import pandas as pd
import pytest
import torch

from galhalo import __version__
from galhalo.models import ModelError, load_model, model_family
from galhalo.models.base import (
    ModelFiles,
    load_weights,
    read_config,
    read_model_directory,
    read_network_config,
    restore_fit_record,
    save_network_directory,
    write_model_directory,
)


def files() -> ModelFiles:
    return ModelFiles(tensors={"layer.weight": torch.arange(6.0).reshape(2, 3)},
                      arrays={"color.knn.x": np.linspace(0, 1, 5)},
                      texts={"color.lightgbm": "tree\nversion=v4\n"})


def test_round_trip_keeps_every_part_and_checksums_every_file(tmp_path):
    def extra(directory):
        (directory / "hival").mkdir()
        (directory / "hival" / "hival.json").write_text("{}")

    directory = write_model_directory(tmp_path / "m", {"family": "knn", "seed": 3}, files(),
                                      history=[{"epoch": 1}], extra=extra)
    stored = read_model_directory(directory, "knn")
    assert stored.config["galhalo_version"] == __version__ and stored.config["seed"] == 3
    assert set(stored.config["checksums"]) == {"weights.pt", "arrays.npz",
                                               "color.lightgbm.txt", "hival/hival.json"}
    torch.testing.assert_close(stored.files.tensors["layer.weight"],
                               files().tensors["layer.weight"])
    np.testing.assert_array_equal(stored.files.arrays["color.knn.x"], np.linspace(0, 1, 5))
    assert stored.files.texts == files().texts
    assert stored.history == [{"epoch": 1}]
    (directory / "hival" / "hival.json").write_text("{ }")
    with pytest.raises(ModelError, match=r"hival/hival\.json: checksum differs"):
        read_model_directory(directory)


def test_bad_directories_fail_naming_the_file(tmp_path):
    with pytest.raises(ModelError, match="not a model directory"):
        read_model_directory(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"no config\.json; not a galhalo model"):
        read_model_directory(tmp_path / "empty")
    directory = write_model_directory(tmp_path / "m", {"family": "knn"}, files())
    with pytest.raises(ModelError, match="holds a 'knn' model, not 'flow'"):
        read_model_directory(directory, "flow")
    (directory / "arrays.npz").unlink()
    with pytest.raises(ModelError, match=r"arrays\.npz: cannot read"):
        read_model_directory(directory)
    (directory / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"config\.json: unreadable"):
        read_config(directory)
    (directory / "config.json").write_text(json.dumps({"seed": 1}))
    with pytest.raises(ModelError, match="no 'family'"):
        read_config(directory)
    (directory / "config.json").write_text(json.dumps(
        {"family": "knn", "galhalo_version": __version__}))
    with pytest.raises(ModelError, match="no checksums of the model files"):
        read_model_directory(directory)
    with pytest.raises(ModelError, match="needs a 'family'"):
        write_model_directory(tmp_path / "n", {"seed": 1})


def test_a_failed_write_leaves_the_previous_directory(tmp_path):
    directory = write_model_directory(tmp_path / "m", {"family": "knn", "seed": 1}, files())

    def failing(_):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_model_directory(directory, {"family": "knn", "seed": 2}, files(), extra=failing)
    assert read_model_directory(directory).config["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_network_wrappers_round_trip(tmp_path):
    network = torch.nn.Linear(3, 2)
    directory = save_network_directory(tmp_path / "net", network, {"family": "cosmo_gnn",
                                                                   "seed": 5}, [{"epoch": 1}])
    config = read_network_config(directory, "cosmo_gnn")
    copy = torch.nn.Linear(3, 2)
    load_weights(copy, directory)
    torch.testing.assert_close(copy.weight, network.weight)

    class Holder:
        network = copy

    holder = Holder()
    restore_fit_record(holder, config, directory)
    assert holder.seed == 5 and holder.history == [{"epoch": 1}] and not copy.training


def table(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    mass = rng.uniform(11, 13, rows)
    return pd.DataFrame({"M_h": mass, "color": 0.3 * mass + rng.normal(0, 0.1, rows)})


def test_a_neural_model_saved_before_the_store_still_loads(tmp_path):
    """The former layout: weights.pt a torch-saved OrderedDict state dict and its sha256
    under ``weights_sha256`` in config.json (no ``checksums``)."""
    model = model_family("gauss")(epochs=2, hidden=(8,)).fit(table(200), "M_h", "color",
                                                             progress=False)
    directory = model.save(tmp_path / "new")
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    torch.save(OrderedDict(model.network.state_dict()), legacy / "weights.pt")
    config = json.loads((directory / "config.json").read_text())
    del config["checksums"]
    config["weights_sha256"] = hashlib.sha256((legacy / "weights.pt").read_bytes()).hexdigest()
    (legacy / "config.json").write_text(json.dumps(config))
    (legacy / "history.json").write_text((directory / "history.json").read_text())
    loaded = load_model(legacy)
    probe = table(50)
    np.testing.assert_array_equal(loaded.log_prob(probe, probe), model.log_prob(probe, probe))
    weights = bytearray((legacy / "weights.pt").read_bytes())
    weights[-10] ^= 0xFF
    (legacy / "weights.pt").write_bytes(bytes(weights))
    with pytest.raises(ModelError, match=r"weights\.pt: checksum differs"):
        load_model(legacy)


def test_a_file_that_is_not_what_its_name_says_fails_on_one_line(tmp_path):
    """Checksum intact but content foreign (not a flat dict of tensors, or not a torch
    file at all): refused, naming the file, on one line."""
    directory = write_model_directory(tmp_path / "m", {"family": "knn"}, files())
    weights = directory / "weights.pt"
    torch.save({"layer.weight": torch.zeros(1), "object": {1, 2}}, weights)
    config = json.loads((directory / "config.json").read_text())
    config["checksums"]["weights.pt"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match=r"weights\.pt: unreadable \(not a flat dict"):
        read_model_directory(directory)
    weights.write_bytes(b"not a torch file at all")
    config["checksums"]["weights.pt"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match=r"weights\.pt: unreadable") as caught:
        read_model_directory(directory)
    assert "\n" not in str(caught.value)


def test_neural_families_add_state_through_the_hooks(tmp_path):
    """saved_files / write_extra / restore_saved: extra arrays and family files are
    written with the model, checksummed, and given back on load."""
    from galhalo.models.gauss import GaussModel

    class GaussWithExtra(GaussModel):
        def saved_files(self):
            files = super().saved_files()
            files.arrays["extra.marks"] = np.arange(4.0)
            return files

        def write_extra(self, directory):
            (directory / "family").mkdir()
            (directory / "family" / "note.json").write_text('{"level": 2}')

        def restore_saved(self, stored):
            self.marks = stored.files.arrays["extra.marks"]
            self.note = json.loads((stored.directory / "family" / "note.json").read_text())

    model = GaussWithExtra(epochs=2, hidden=(8,)).fit(table(200), "M_h", "color",
                                                      progress=False)
    directory = model.save(tmp_path / "m")
    loaded = GaussWithExtra.load(directory)
    np.testing.assert_array_equal(loaded.marks, np.arange(4.0))
    assert loaded.note == {"level": 2}
    (directory / "family" / "note.json").write_text('{"level": 3}')
    with pytest.raises(ModelError, match=r"family/note\.json: checksum differs"):
        GaussWithExtra.load(directory)
