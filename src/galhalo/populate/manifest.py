"""The manifest of a ``galhalo populate`` output directory: what is finished, and with what.

A populate run writes one Parquet *part* per chunk of the input halos into an output
directory, and keeps ``_manifest.json`` there (the leading ``_`` makes pyarrow and
pandas skip it when the directory is read as one data set). The manifest records

* the model: its directory, family, columns and **hash** (:func:`model_hash`);
* the run settings that change the numbers: seed, samples per halo, kept columns,
  chunk and batch sizes;
* every finished part: its input file and row range, the number of rows written, the
  file size in bytes, its SHA-256 and its seed.

It is rewritten atomically (:func:`galhalo.files.write_json`), so it is always either
the previous or the new version. A re-run trusts a recorded part only if the file is
still there with the recorded size and a readable Parquet footer holding the recorded
number of rows (:func:`verify_part`; ``checksums=True`` also re-hashes the bytes);
anything else is redone. A part whose file is complete but which is missing from the
manifest (the run was killed between the rename and the next manifest write) is
recognised by the run description stored in its own footer (:func:`part_description`)
and adopted instead of being sampled again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__
from ..catalog import PARQUET_KEY
from ..errors import PopulateError
from ..files import write_json

__all__ = [
    "MANIFEST_FILE",
    "Manifest",
    "PartRecord",
    "PopulateError",
    "file_sha256",
    "model_hash",
    "part_description",
    "verify_part",
]

#: File name of the manifest inside an output directory.
MANIFEST_FILE = "_manifest.json"
#: Value of the manifest's ``format`` entry, and its layout version.
MANIFEST_FORMAT = "galhalo-populate-manifest"
MANIFEST_VERSION = 1
_BLOCK = 1 << 22


# --------------------------------------------------------------------------- hashing


def file_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in 4 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def model_hash(directory: str | Path) -> str:
    """The identity of a saved model: SHA-256 over every file of its directory.

    Each regular file contributes its path relative to ``directory`` and the SHA-256
    of its bytes, in sorted order, so the hash is the same for any family and changes
    when any file (config, weights, arrays) changes. Hidden files are ignored.
    """
    root = Path(directory)
    digest = hashlib.sha256()
    files = sorted(path for path in root.rglob("*")
                   if path.is_file() and not any(p.startswith(".")
                                                 for p in path.relative_to(root).parts))
    if not files:
        raise PopulateError(f"{root}: no model files")
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0" + file_sha256(path).encode() + b"\n")
    return digest.hexdigest()


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class PartRecord:
    """One finished output part.

    Attributes:
        source: the input file's name relative to the inputs' common directory.
        start, stop: the input rows [start, stop) it was sampled from (0-based).
        rows: output rows: ``(stop - start) * samples`` for a plain model; for a
            composite, the painted galaxies (centrals and satellites, all realisations).
        bytes: size of the part file.
        sha256: SHA-256 of the part file.
        seed: the part's seed (derived from the run seed and the part's name).
        hosts, centrals, satellites: a composite's input hosts and the central and
            satellite rows it painted (``None`` for a plain model).
    """

    source: str
    start: int
    stop: int
    rows: int
    bytes: int
    sha256: str
    seed: int
    hosts: int | None = None
    centrals: int | None = None
    satellites: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PartRecord:
        counts = {key: int(data[key]) for key in ("hosts", "centrals", "satellites")
                  if data.get(key) is not None}
        return cls(source=str(data["source"]), start=int(data["start"]),
                   stop=int(data["stop"]), rows=int(data["rows"]), bytes=int(data["bytes"]),
                   sha256=str(data["sha256"]), seed=int(data["seed"]), **counts)

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON data (the counts only when known)."""
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass
class Manifest:
    """What an output directory holds: the model, the settings and the finished parts.

    Attributes:
        model: ``directory``, ``family``, ``hash``, ``condition``, ``target``.
        settings: ``seed``, ``samples``, ``keep``, ``chunk_rows``, ``batch_rows``.
        inputs: input file name (relative to the inputs' common directory) -> its rows.
        parts: part file name -> :class:`PartRecord`.
        planned: number of parts of the run that last wrote the manifest.
        complete: every planned part is finished.
    """

    model: dict[str, Any]
    settings: dict[str, Any]
    inputs: dict[str, int] = field(default_factory=dict)
    parts: dict[str, PartRecord] = field(default_factory=dict)
    planned: int = 0
    complete: bool = False

    # -- files
    @staticmethod
    def path_in(out: str | Path) -> Path:
        return Path(out) / MANIFEST_FILE

    @classmethod
    def read(cls, out: str | Path) -> Manifest | None:
        """The manifest of directory ``out``; ``None`` if it has none.

        Raises:
            PopulateError: the manifest exists but is not a readable populate manifest
                (the message says to delete the directory to start over).
        """
        path = cls.path_in(out)
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != MANIFEST_FORMAT:
                raise PopulateError(f"format {data.get('format')!r}, not {MANIFEST_FORMAT!r}")
            if data.get("version") != MANIFEST_VERSION:
                raise PopulateError(f"layout version {data.get('version')!r}, this galhalo "
                                    f"reads {MANIFEST_VERSION}")
            parts = {str(name): PartRecord.from_dict(record)
                     for name, record in data["parts"].items()}
            inputs = {str(name): int(rows) for name, rows in data["inputs"].items()}
            return cls(model=dict(data["model"]), settings=dict(data["settings"]),
                       inputs=inputs, parts=parts, planned=int(data.get("planned", 0)),
                       complete=bool(data.get("complete", False)))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise PopulateError(f"{path}: not a readable populate manifest ({err}); delete "
                                f"{Path(out)} to start over") from None

    def write(self, out: str | Path) -> Path:
        """Write ``_manifest.json`` into ``out`` atomically; returns its path."""
        return write_json(self.path_in(out), {
            "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION,
            "galhalo_version": __version__,
            "model": self.model, "settings": self.settings, "inputs": self.inputs,
            "planned": self.planned, "complete": self.complete,
            "rows": sum(record.rows for record in self.parts.values()),
            "parts": {name: self.parts[name].to_dict() for name in sorted(self.parts)},
        })

    # -- compatibility
    def check_compatible(self, out: str | Path, model: Mapping[str, Any],
                         settings: Mapping[str, Any]) -> None:
        """Refuse to mix outputs: the same model (by hash) and the same settings.

        Raises:
            PopulateError: naming what differs, with the recorded and the new value.
        """
        where = Path(out)
        if self.model.get("hash") != model["hash"]:
            raise PopulateError(
                f"{where} holds parts sampled with another model ({self.model.get('family')} "
                f"model from {self.model.get('directory')}, hash "
                f"{str(self.model.get('hash'))[:12]}); this run uses the {model['family']} "
                f"model from {model['directory']} (hash {model['hash'][:12]}). Outputs of "
                "different models are never mixed: choose another output directory, or "
                "delete this one to start over")
        changed = [f"{key} was {self.settings.get(key)!r}, now {settings[key]!r}"
                   for key in sorted(settings) if self.settings.get(key) != settings[key]]
        if changed:
            raise PopulateError(
                f"{where} was populated with other settings ({'; '.join(changed)}); "
                "choose another output directory, or delete this one to start over")

    def check_inputs(self, out: str | Path, inputs: Mapping[str, int]) -> None:
        """Refuse a run whose inputs lost or changed a file this output was made from.

        ``inputs`` maps the run's input names to their rows; new names are fine (their
        parts are added).

        Raises:
            PopulateError: naming the missing or changed inputs.
        """
        missing = sorted(name for name in self.inputs if name not in inputs)
        changed = [f"{name} has {inputs[name]:,} rows, {self.inputs[name]:,} when {Path(out)} "
                   "was started" for name in sorted(self.inputs)
                   if name in inputs and inputs[name] != self.inputs[name]]
        problems = []
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more"
                                              if len(missing) > 5 else "")
            problems.append(f"this run does not read {len(missing)} input file(s) the output "
                            f"was made from ({shown}); pass the same --halos as before")
        if changed:
            problems.append("inputs changed: " + "; ".join(changed[:5]))
        if problems:
            raise PopulateError(f"{Path(out)}: " + "; ".join(problems) + ". Choose another "
                                "output directory, or delete this one to start over")


# --------------------------------------------------------------------------- parts


def part_description(path: str | Path) -> tuple[int, dict[str, Any]] | None:
    """(rows, run description) from a part file's Parquet footer, or ``None``.

    The description is ``meta.extra["populate"]`` of the galhalo header that every part
    carries (part name, model hash, settings, input range). ``None`` when the footer is
    missing or unreadable (a truncated or foreign file) or holds no description.
    """
    try:
        metadata = pq.read_metadata(path)
        header = json.loads((metadata.metadata or {})[PARQUET_KEY])
        return metadata.num_rows, dict(header["meta"]["extra"]["populate"])
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException):
        return None


def verify_part(path: str | Path, record: PartRecord, checksums: bool = False) -> str | None:
    """Why the part file at ``path`` does not match its record; ``None`` if it does.

    Checks that the file exists, has the recorded size, and that its Parquet footer
    reads and holds the recorded number of rows; with ``checksums=True`` also that its
    SHA-256 is the recorded one (this reads the whole file).
    """
    target = Path(path)
    try:
        size = target.stat().st_size
    except FileNotFoundError:
        return "the file is missing"
    except OSError as err:
        return f"the file cannot be read ({err})"
    if size != record.bytes:
        return f"its size is {size:,} bytes, the manifest recorded {record.bytes:,}"
    try:
        rows = pq.read_metadata(target).num_rows
    except (OSError, ValueError, pa.ArrowException) as err:
        return f"its Parquet footer is unreadable ({err})"
    if rows != record.rows:
        return f"it holds {rows:,} rows, the manifest recorded {record.rows:,}"
    if checksums and file_sha256(target) != record.sha256:
        return "its SHA-256 differs from the manifest's"
    return None
