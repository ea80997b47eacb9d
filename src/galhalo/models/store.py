"""The one model-directory store: how every galhalo model is written to and read from disk.

A model directory holds

* ``config.json``: what the model is (``family``, ``galhalo_version``, columns,
  hyperparameters, scalers, seed, metrics and any family keys) plus ``checksums``, the
  SHA-256 of every other file below (relative path -> hex digest);
* ``weights.pt``: a flat dict of torch tensors (``torch.save``), read back with
  ``torch.load(..., weights_only=True)``: no pickled objects;
* ``arrays.npz``: plain numpy arrays (read with ``allow_pickle=False``);
* ``<key>.txt``: text parts (e.g. LightGBM's model format);
* ``history.json``: the loss curve(s) of the fit (not checksummed: a record, not state);
* anything a family writes itself through ``extra`` (e.g. a HiVAl hierarchy in a
  sub-directory), checksummed like the rest.

Writes are atomic (:func:`galhalo.files.atomic_directory`): a crash leaves the previous
directory, never half of a new one. Reads check the version, the family and every
checksum before any state is rebuilt, and fail with a :class:`ModelError` naming the
file. Directories written before the store existed keep loading: a neural model's
``config.json`` then carries ``weights_sha256`` (the checksum of ``weights.pt``) instead
of ``checksums``.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..errors import ModelError, one_line
from ..files import atomic_directory, check_writable, dumps_json

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.pt"
ARRAYS_FILE = "arrays.npz"
HISTORY_FILE = "history.json"
TEXT_SUFFIX = ".txt"
#: The key of the legacy single checksum (neural models saved before the store).
LEGACY_WEIGHTS_CHECKSUM = "weights_sha256"


@dataclass
class ModelFiles:
    """The state of a model besides ``config.json``, each part under a string key:
    ``tensors`` -> ``weights.pt``, ``arrays`` -> ``arrays.npz``, ``texts`` ->
    ``<key>.txt``. Empty parts write no file."""

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)


@dataclass
class StoredModel:
    """A model directory as read by :func:`read_model_directory`: its path, its
    ``config`` (checked), its ``files`` (checksums verified) and its loss ``history``
    (None when the directory has no ``history.json``)."""

    directory: Path
    config: dict[str, Any]
    files: ModelFiles
    history: Any


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_model_directory(directory: str | Path, config: Mapping[str, Any],
                          files: ModelFiles | None = None, history: Any = None,
                          extra: Callable[[Path], None] | None = None) -> Path:
    """Write a model directory atomically; returns its resolved path.

    Args:
        directory: where the model goes (an existing model directory is replaced).
        config: what ``config.json`` holds (must include ``family``; ``galhalo_version``
            is added when missing, ``checksums`` is always computed here).
        files: tensors, arrays and texts of the fitted state.
        history: JSON-able loss record written to ``history.json`` (None: no file).
        extra: called with the temporary directory to write family-specific files
            (any names other than the store's own); they are checksummed too.

    Raises:
        OutputPathError: ``directory`` cannot be written (checked before writing).
        ModelError: ``config`` has no ``family``.
    """
    if "family" not in config:
        raise ModelError("a model config needs a 'family' to be saved")
    files = files or ModelFiles()
    target = check_writable(directory, directory=True)
    with atomic_directory(target) as tmp:
        if files.tensors:
            torch.save(dict(files.tensors), tmp / WEIGHTS_FILE)
        if files.arrays:
            np.savez_compressed(tmp / ARRAYS_FILE, **files.arrays)
        for key, text in files.texts.items():
            (tmp / f"{key}{TEXT_SUFFIX}").write_text(text)
        if extra is not None:
            extra(tmp)
        checksums = {path.relative_to(tmp).as_posix(): file_sha256(path)
                     for path in sorted(tmp.rglob("*")) if path.is_file()}
        full = {"galhalo_version": __version__, **config, "checksums": checksums}
        full.pop(LEGACY_WEIGHTS_CHECKSUM, None)
        (tmp / CONFIG_FILE).write_text(dumps_json(full))
        if history is not None:
            (tmp / HISTORY_FILE).write_text(dumps_json(history))
    return target


def read_config(directory: str | Path, family: str | None = None) -> dict[str, Any]:
    """``config.json`` of a model directory, checked: it exists and parses, names a
    ``family`` (equal to ``family`` when given) and was saved by this galhalo's
    major.minor version.

    Raises:
        ModelError: naming the directory or the file and what is wrong.
    """
    directory = Path(directory)
    path = directory / CONFIG_FILE
    if not directory.is_dir():
        raise ModelError(f"{directory}: not a model directory")
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelError(f"{directory}: no {CONFIG_FILE}; not a galhalo model") from None
    except (OSError, ValueError) as err:
        raise ModelError(f"{path}: unreadable ({one_line(err)})") from None
    if not isinstance(config, dict) or "family" not in config:
        raise ModelError(f"{path}: not a galhalo model config (no 'family')")
    saved = str(config.get("galhalo_version", "?"))
    if saved.split(".")[:2] != __version__.split(".")[:2]:
        raise ModelError(f"{directory}: saved by galhalo {saved}, this is galhalo "
                         f"{__version__}; retrain the model (formats differ between versions)")
    if family is not None and config["family"] != family:
        raise ModelError(f"{directory} holds a {config['family']!r} model, not {family!r}")
    return config


def recorded_checksums(directory: Path, config: Mapping[str, Any]) -> dict[str, str]:
    """{relative file name: sha256} that ``config`` records (legacy ``weights_sha256``
    included), or a ModelError when it records none."""
    checksums = config.get("checksums")
    if checksums is None and LEGACY_WEIGHTS_CHECKSUM in config:
        checksums = {WEIGHTS_FILE: config[LEGACY_WEIGHTS_CHECKSUM]}
    if not isinstance(checksums, dict):
        raise ModelError(f"{directory / CONFIG_FILE}: no checksums of the model files")
    return checksums


def verified_bytes(directory: Path, name: str, expected: str) -> bytes:
    """The content of ``directory / name`` after checking it against its checksum."""
    path = directory / name
    try:
        content = path.read_bytes()
    except OSError as err:
        raise ModelError(f"{path}: cannot read ({err.strerror or err})") from None
    if hashlib.sha256(content).hexdigest() != expected:
        raise ModelError(f"{path}: checksum differs from {CONFIG_FILE}: the file was "
                         "modified or truncated")
    return content


def read_model_directory(directory: str | Path, family: str | None = None) -> StoredModel:
    """Read a directory written by :func:`write_model_directory` (or a legacy one).

    Every checksummed file is read and verified; ``weights.pt``, ``arrays.npz`` and the
    ``.txt`` parts are loaded into :class:`ModelFiles` (family files written through
    ``extra`` are verified, and the family reads them itself).

    Raises:
        ModelError: a missing, foreign, other-version or other-family directory, or a
            missing, modified or unreadable file (named).
    """
    directory = Path(directory)
    config = read_config(directory, family)
    files = ModelFiles()
    for name, expected in recorded_checksums(directory, config).items():
        content = verified_bytes(directory, name, str(expected))
        path = directory / name
        try:
            if name == WEIGHTS_FILE:
                tensors = torch.load(io.BytesIO(content), weights_only=True, map_location="cpu")
                if not isinstance(tensors, Mapping) or not all(
                        isinstance(value, torch.Tensor) for value in tensors.values()):
                    raise ValueError("not a flat dict of tensors")
                files.tensors = dict(tensors)
            elif name == ARRAYS_FILE:
                with np.load(io.BytesIO(content), allow_pickle=False) as data:
                    files.arrays = {key: data[key] for key in data.files}
            elif name.endswith(TEXT_SUFFIX) and "/" not in name:
                files.texts[name[:-len(TEXT_SUFFIX)]] = content.decode()
        except pickle.UnpicklingError:
            raise ModelError(f"{path}: unreadable (not a weights-only torch file: "
                             "tensors only, no pickled objects)") from None
        except (OSError, ValueError, RuntimeError, EOFError) as err:
            raise ModelError(f"{path}: unreadable ({one_line(err)})") from None
    history_path = directory / HISTORY_FILE
    try:
        history = json.loads(history_path.read_text()) if history_path.exists() else None
    except (OSError, ValueError) as err:
        raise ModelError(f"{history_path}: unreadable ({one_line(err)})") from None
    return StoredModel(directory, config, files, history)


# ----------------------------------------------------------------------------- torch networks
def save_network_directory(directory: str | Path, network: torch.nn.Module, config: dict,
                           history: list) -> Path:
    """A neural model's directory: ``network``'s state dict as ``weights.pt``, ``config``
    and ``history`` (:func:`write_model_directory`); returns its path."""
    return write_model_directory(directory, config, ModelFiles(tensors=network.state_dict()),
                                 history)


def read_network_config(directory: str | Path, family: str) -> dict:
    """``config.json`` of a neural model's directory, after checking the version, the
    family and every file's checksum (:func:`read_model_directory`)."""
    return read_model_directory(directory, family).config


def load_weights(network: torch.nn.Module, directory: str | Path) -> None:
    """Load ``weights.pt`` (tensors only: ``weights_only=True``) into ``network``, strictly."""
    path = Path(directory) / WEIGHTS_FILE
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:
        raise ModelError(f"{path}: unreadable (not a weights-only torch file: tensors "
                         "only, no pickled objects)") from None
    except (OSError, RuntimeError, EOFError) as err:
        raise ModelError(f"{path}: unreadable ({one_line(err)})") from None
    network.load_state_dict(state, strict=True)


def restore_fit_record(model: Any, config: dict, directory: str | Path) -> None:
    """After loading: evaluation mode, and the seed, metrics and loss history saved with
    the model (``history.json``; empty when absent)."""
    model.network.eval()
    model.seed = config.get("seed")
    model.metrics = config.get("metrics", {})
    history = Path(directory) / HISTORY_FILE
    try:
        model.history = json.loads(history.read_text()) if history.exists() else []
    except (OSError, ValueError) as err:
        raise ModelError(f"{history}: unreadable ({one_line(err)})") from None
