"""Planning a populate run: every check before any work, and the cut into parts.

Each input file is cut into chunks of at most ``chunk_rows`` rows; each chunk is one
task (a plain dict sent to a worker) and one output part
``<input name>-<chunk:05d>.parquet``. With a composite model on an input with
sub-halos, a chunk's boundaries move forward to the next host start
(:func:`.hosts.host_boundaries`), so a host and its satellites are in one part.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..catalog import REALIZATION
from ..catalog.schema import IS_CENTRAL
from ..errors import PopulateError
from ..files import check_writable
from ..models.base import ConditionalModel
from ..models.composite import CompositeModel, load_any
from .hosts import csv_window, host_boundaries
from .inputs import HaloFile, find_inputs, scan_inputs
from .manifest import MANIFEST_FILE, Manifest, model_hash
from .painting import component_families, composite_columns, is_composite, out_columns
from .seeds import batch_seed

__all__ = ["BATCH_ROWS", "COMPOSITE_BATCH_ROWS", "DEFAULT_CHUNK_ROWS", "PopulatePlan",
           "plan_populate",
           "positive_integer"]

#: Input rows per output part (one file per chunk of an input file).
DEFAULT_CHUNK_ROWS = 1_000_000
#: Output rows sampled at once: batches hold ``BATCH_ROWS // samples`` halos. Measured
#: with the benchmark's flow in a Dask worker: peak 665 MiB (400 MiB of it the interpreter
#: with torch, Dask and the model), 715 MiB with 16384, 790 MiB with 32768, at the same
#: CPU time per halo within the noise.
BATCH_ROWS = 8_192
#: Hosts painted at once by a composite model (``// samples``): its four components draw
#: a few thousand satellites per batch, whose fixed cost per call made 8192 hosts 0.75-0.87
#: of the 1e5 hosts per CPU second target; 32768 reach it at ~100 MiB more per worker
#: (benchmarks/populate.py --satellites --batch-rows N; docs/populate.md).
COMPOSITE_BATCH_ROWS = 32_768


@dataclass
class PopulatePlan:
    """Everything a run needs, checked, before anything is written.

    Attributes:
        out: the output directory (resolved).
        model: the loaded model (a ConditionalModel or a composite); ``model_info``: its
            directory, family, hash, columns (and a composite's component families).
        settings: seed, samples, keep, chunk_rows, batch_rows, and for a composite the
            mode ``paint`` (recorded in the manifest).
        files: the scanned inputs; ``tasks``: one dict per part, in name order (with
            ``index``, its position).
        read_columns, out_columns: what a worker reads and writes; ``required``: the
            columns each batch is validated for (a composite's; empty: the condition).
        manifest: the output directory's manifest when it exists (checked compatible).
    """

    out: Path
    model: ConditionalModel | CompositeModel
    model_info: dict[str, Any]
    settings: dict[str, Any]
    files: list[HaloFile]
    tasks: list[dict[str, Any]]
    read_columns: list[str]
    out_columns: list[str]
    manifest: Manifest | None
    required: list[str] = field(default_factory=list)

    @property
    def halos(self) -> int:
        """Input rows over all files."""
        return sum(f.rows for f in self.files)

    @property
    def inputs(self) -> dict[str, int]:
        return {f.name: f.rows for f in self.files}

    def run_spec(self) -> dict[str, Any]:
        """What every task needs besides its part (plain data, sent to the workers)."""
        return {"out": str(self.out), "model": self.model_info, "settings": self.settings,
                "read_columns": self.read_columns, "out_columns": self.out_columns,
                "required": self.required}


def positive_integer(name: str, value: Any) -> int:
    """``value`` as an int; :class:`PopulateError` naming ``name`` unless it is >= 1."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise PopulateError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _keep_list(keep: str | Sequence[str] | None, schema: dict[str, pa.DataType],
               target: tuple[str, ...], where: Path) -> list[str]:
    if keep is None:
        return [name for name in schema if name not in target]
    names = [part.strip() for part in keep.split(",")] if isinstance(keep, str) else list(keep)
    names = [name for name in names if name]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise PopulateError(f"keep names {repeated} more than once")
    sampled = [name for name in names if name in target]
    if sampled:
        raise PopulateError(f"keep names {sampled}, which the model samples (its targets: "
                            f"{', '.join(target)}); leave them out")
    if REALIZATION in names:
        raise PopulateError(f"keep names {REALIZATION!r}, which populate adds itself")
    missing = [name for name in names if name not in schema]
    if missing:
        raise PopulateError(f"keep names columns {missing} that the halo files lack "
                            f"({where} has: {', '.join(schema)})")
    return names


def _bounds(halo_file: HaloFile, settings: dict[str, Any]) -> list[int]:
    """Row boundaries of a file's chunks (moved to host starts for sub-halo input)."""
    chunk_rows = settings["chunk_rows"]
    if settings.get("paint") == "subhalos":
        return host_boundaries(halo_file, chunk_rows)
    chunks = math.ceil(halo_file.rows / chunk_rows)
    return [min(halo_file.rows, index * chunk_rows) for index in range(chunks + 1)]


def _tasks(files: list[HaloFile], settings: dict[str, Any]) -> list[dict[str, Any]]:
    tasks, owners = [], {}
    for halo_file in files:
        stem = halo_file.name.rsplit(".", 1)[0].replace("/", "__")
        if stem in owners:
            raise PopulateError(f"two inputs would write parts of the same name {stem}-*: "
                                f"{owners[stem]} and {halo_file.path}; rename one")
        owners[stem] = halo_file.path
        bounds = _bounds(halo_file, settings)
        for index, (start, stop) in enumerate(pairwise(bounds)):
            if start == stop:  # a host longer than a chunk swallowed this one
                continue
            name = f"{stem}-{index:05d}.parquet"
            task = {"name": name, "path": str(halo_file.path), "format": halo_file.format,
                    "source": halo_file.name, "start": start, "stop": stop,
                    "seed": batch_seed(settings["seed"], name), "meta": halo_file.meta}
            if halo_file.csv is not None:
                task.update(csv_window(halo_file, start, stop, settings["chunk_rows"]))
                if not task["skip"]:
                    del task["skip"]
            tasks.append(task)
    tasks.sort(key=lambda task: task["name"])
    for index, task in enumerate(tasks):
        task["index"] = index
    return tasks


def _check_out(out: Path, files: list[HaloFile]) -> Manifest | None:
    target = check_writable(out, directory=True)
    inside = [f.path for f in files if f.path.is_relative_to(target)]
    if inside:
        raise PopulateError(f"input {inside[0]} lies inside the output directory {target}")
    if not target.exists():
        return None
    manifest = Manifest.read(target)
    if manifest is None:
        visible = sorted(p.name for p in target.iterdir() if not p.name.startswith("."))
        if visible:
            raise PopulateError(f"{target} is not empty ({', '.join(visible[:3])}"
                                f"{', ...' if len(visible) > 3 else ''}) and holds no "
                                f"{MANIFEST_FILE}: not a populate output; choose a new or "
                                "empty directory")
    return manifest


def plan_populate(
    model: str | os.PathLike[str],
    halos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    samples: int = 1,
    keep: str | Sequence[str] | None = None,
    seed: int = 0,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    batch_rows: int | None = None,
    halo_only: bool = False,
) -> PopulatePlan:
    """Check everything and cut the work into parts; writes nothing.

    Args:
        model: a model directory (``galhalo train``), any family, or a composite model
            directory (centrals and satellites, :mod:`galhalo.models.composite`).
        halos: a glob such as ``"halos/*.parquet"``, a file, a directory or a list.
        out: the output directory (new, empty, or a previous run's with the same model
            and settings).
        samples: realisations per halo (K; a ``realization`` column when K > 1).
        keep: input columns to copy into the mock ("M_h,x,y,z" or a list; ``[]`` for
            none); default every input column except the model's targets.
        seed: run seed (>= 0); each batch's seed derives from it and the part's name.
        chunk_rows: input rows per output part (with sub-halos: up to the next host).
        batch_rows: input rows (with a composite model: hosts) sampled at once (memory
            bound); default ``max(1, 8192 // samples)``, with a composite model
            ``max(1, 32768 // samples)``.
        halo_only: composite model on an input with sub-halos: paint on its central
            rows alone, placing satellites with the profile model.

    Raises:
        PopulateError / CatalogError / ModelError (all ``ValueError``): bad arguments, no
        files, unreadable files, columns differing between files, missing condition or
        kept columns, an output directory holding another model's or settings' parts,
        sub-halo input for a plain model, a composite's missing host or sub-halo
        columns, hosts whose rows are not contiguous.
        galhalo.files.OutputPathError: the output directory cannot be written.
    """
    samples = positive_integer("samples", samples)
    chunk_rows = positive_integer("chunk_rows", chunk_rows)
    if batch_rows is not None:
        batch_rows = positive_integer("batch_rows", batch_rows)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise PopulateError(f"seed must be an integer >= 0, got {seed!r}")
    directory = Path(model).resolve()
    fitted = load_any(directory)
    if batch_rows is None:
        batch_rows = max(1, (COMPOSITE_BATCH_ROWS if is_composite(fitted) else BATCH_ROWS)
                         // samples)
    digest = model_hash(directory)
    files = scan_inputs(find_inputs(halos), chunk_rows)
    schema, first = files[0].schema, files[0].path
    if is_composite(fitted):
        mode = ("halos" if IS_CENTRAL.name not in schema
                else "centrals" if halo_only else "subhalos")
        columns = composite_columns(fitted, schema, mode, str(first))
        condition, target, sampled = columns["condition"], columns["target"], columns["painted"]
    else:
        condition, target, sampled, columns = fitted.condition, fitted.target, fitted.target, {}
        _check_plain(fitted, schema, first, halo_only)
    not_numeric = [name for name in condition
                   if not (pa.types.is_integer(schema[name]) or pa.types.is_floating(schema[name]))]
    if not_numeric:
        raise PopulateError(f"condition columns {not_numeric} are not numeric in {first} "
                            f"({', '.join(f'{n}: {schema[n]}' for n in not_numeric)})")
    kept = _keep_list(keep, schema, tuple(sampled), first)
    if not any(f.rows for f in files):
        raise PopulateError(f"the {len(files)} halo file(s) hold no rows")
    settings = {"seed": int(seed), "samples": samples, "keep": kept, "chunk_rows": chunk_rows,
                "batch_rows": batch_rows}
    model_info = {"directory": str(directory), "family": fitted.family, "hash": digest,
                  "condition": list(condition), "target": list(target)}
    required = list(columns.get("required", condition))
    read_columns = kept + [name for name in required if name not in kept]
    if columns:
        settings["paint"] = mode
        model_info["components"] = component_families(fitted)
        if mode == "centrals":
            read_columns += [IS_CENTRAL.name] if IS_CENTRAL.name not in read_columns else []
        written = out_columns(kept, list(target))
    else:
        written = kept + list(target)
    out_path = Path(out).resolve()
    manifest = _check_out(out_path, files)
    if manifest is not None:
        manifest.check_compatible(out_path, model_info, settings)
        manifest.check_inputs(out_path, {f.name: f.rows for f in files})
    written += [REALIZATION] if samples > 1 else []
    return PopulatePlan(out_path, fitted, model_info, settings, files,
                        _tasks(files, settings), read_columns, written, manifest,
                        required if columns else [])


def _check_plain(fitted: ConditionalModel, schema: dict[str, pa.DataType], first: Path,
                 halo_only: bool) -> None:
    """A plain model: its condition columns are there; it paints one galaxy per input
    row (no sub-halo input, no halo_only)."""
    family = fitted.family
    missing = [name for name in fitted.condition if name not in schema]
    if missing:
        raise PopulateError(f"the model's condition columns {missing} are missing from the "
                            f"halo files ({first} has: {', '.join(schema)})")
    if halo_only:
        raise PopulateError(f"--halo-only places satellites with a composite model; the "
                            f"{family} model paints one galaxy per input row")
    if IS_CENTRAL.name in schema:
        raise PopulateError(
            f"{first} holds sub-halos (an {IS_CENTRAL.name!r} column), but the {family} "
            "model paints one galaxy per input row: populate it with a composite model "
            "(centrals and satellites), or write the host halos alone (e.g. ingest "
            "without --satellites) and populate those")
